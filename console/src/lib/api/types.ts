// Wire shapes of the aionOS gateway and control plane (docs/api.md).

export type Role = "admin" | "manager" | "user" | "viewer";
export type TaskStatus = "queued" | "routed" | "running" | "succeeded" | "failed" | "canceled" | "expired";
export const TERMINAL: ReadonlySet<string> = new Set(["succeeded", "failed", "canceled", "expired"]);

export interface ApiErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
  requestId?: string;
}

export interface Whoami { keyId: string; tenant: string; roles: Role[] }

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  items?: JsonSchema;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  additionalProperties?: boolean | JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  description?: string;
}

export interface Intent {
  name: string;
  description: string;
  privacy: string;
  roles: string;
  canSubmit: boolean;
  timeoutMs: number;
  paramsSchema: JsonSchema | null;
  candidates: { kind: string; target: string; explicit: boolean }[];
}

export interface SubmitBody {
  schemaVersion?: "1.0";
  intent: string;
  params: Record<string, unknown>;
  privacy?: string;
  budgetUsd?: number;
  timeoutMs?: number;
}

export interface Submitted { taskId: string; status: string; links: Record<string, string> }

export interface Task {
  taskId: string;
  status: TaskStatus;
  intent: string;
  tenant: string;
  route?: unknown;
  result?: unknown;
  error?: { code: string; message: string } | null;
  cost?: { usd: number; estimated: boolean };
  attempts?: number;
  cancelRequested?: boolean;
  timings?: { createdAt?: string; startedAt?: string; finishedAt?: string; totalMs?: number; overheadMs?: number; upstreamMs?: number };
}

export interface TaskPage { items: Task[]; nextCursor: string | null }

export interface TaskEvent {
  taskId: string;
  seq: number;
  type: string;
  ts: string;
  data: Record<string, unknown>;
}

export interface Candidate {
  route?: string;
  kind?: string;
  target?: string;
  kept: boolean;
  reason?: string;
  [k: string]: unknown;
}

export interface Decision {
  plan?: unknown;
  candidates?: Candidate[];
  [k: string]: unknown;
}

export interface PolicyFile { name: string; text: string; bytes: number; sha256: string }
export interface PolicyFiles { files: PolicyFile[]; digest: string; maxBytes: number }
export interface PolicyLocation { file: string | null; line: number; message: string }
export interface PolicySaved { status: string; digest: string; previousDigest?: string; file?: string; sha256?: string }

export interface ModuleInfo {
  name: string;
  version?: string;
  kind?: string;
  source?: string;
  enabled?: boolean;
  sha256?: string;
  verification?: { status: string; reason?: string; signer?: string };
  sbom?: unknown;
  limits?: Record<string, unknown>;
  resources?: { gpu?: unknown };
  intents?: string[];
  [k: string]: unknown;
}

export interface UsageGroup {
  tenant?: string; key?: string; intent?: string; provider?: string; model?: string; day?: string;
  calls: number; promptTokens: number; completionTokens: number; totalTokens: number;
  costUsd: number; costNanoUsd: number; estimatedCalls: number;
}
export interface Usage { groupBy: string[]; groups: UsageGroup[]; total: Omit<UsageGroup, "tenant" | "key" | "intent" | "provider" | "model" | "day"> }
