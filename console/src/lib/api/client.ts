// Typed clients for the aionOS gateway (tasks, streams) and control plane
// (routing, policies, modules, usage). Used on the console's server only:
// the API key never reaches the browser.
import type {
  ApiErrorBody, Decision, Intent, ModuleInfo, PolicyFiles, PolicySaved, SubmitBody, Submitted,
  Task, TaskPage, Usage, Whoami,
} from "./types";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }
  toBody(): ApiErrorBody {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

export type Fetch = typeof fetch;

interface Base { url: string; apiKey: string; tenant?: string; fetch?: Fetch }

abstract class Client {
  protected readonly url: string;
  protected readonly fetchImpl: Fetch;
  constructor(protected readonly base: Base) {
    this.url = base.url.replace(/\/+$/, "");
    this.fetchImpl = base.fetch ?? fetch;
  }
  protected headers(extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = { "X-API-Key": this.base.apiKey, ...extra };
    if (this.base.tenant) h["X-Tenant-Id"] = this.base.tenant;
    return h;
  }
  /** A Server-Sent Events response, or ApiError with aionOS's error. */
  protected async openStream(path: string, extra: Record<string, string>, signal?: AbortSignal): Promise<Response> {
    let res: Response;
    try {
      res = await this.fetchImpl(this.url + path, { headers: this.headers({ Accept: "text/event-stream", ...extra }), signal, cache: "no-store" });
    } catch (e) {
      if (signal?.aborted) throw e;
      throw new ApiError(503, "unavailable", `cannot reach ${this.url}: ${(e as Error).message}`);
    }
    if (!res.ok) {
      const body = (await res.json().catch(() => undefined)) as ApiErrorBody | undefined;
      throw new ApiError(res.status, body?.error.code ?? "http_" + res.status, body?.error.message ?? res.statusText);
    }
    return res;
  }
  protected async call<T>(method: string, path: string, body?: unknown, init: RequestInit = {}): Promise<T> {
    let res: Response;
    try {
      res = await this.fetchImpl(this.url + path, {
        method,
        headers: this.headers(body === undefined ? {} : { "Content-Type": "application/json" }),
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        ...init,
      });
    } catch (e) {
      throw new ApiError(503, "unavailable", `cannot reach ${this.url}: ${(e as Error).message}`);
    }
    const text = await res.text();
    let json: unknown = undefined;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON */
    }
    if (!res.ok) {
      const err = (json as ApiErrorBody | undefined)?.error;
      throw new ApiError(res.status, err?.code ?? "http_" + res.status, err?.message ?? (text.slice(0, 200) || res.statusText), err?.details ?? {});
    }
    return json as T;
  }
}

export class GatewayClient extends Client {
  submit(body: SubmitBody, idempotencyKey?: string): Promise<Submitted> {
    return this.call("POST", "/v1/tasks", body, idempotencyKey ? { headers: this.headers({ "Content-Type": "application/json", "Idempotency-Key": idempotencyKey }) } : {});
  }
  list(q: { limit?: number; cursor?: string; status?: string; intent?: string } = {}): Promise<TaskPage> {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== "") p.set(k, String(v));
    const qs = p.toString();
    return this.call("GET", "/v1/tasks" + (qs ? "?" + qs : ""));
  }
  get(id: string): Promise<Task> {
    return this.call("GET", "/v1/tasks/" + encodeURIComponent(id));
  }
  cancel(id: string): Promise<Task> {
    return this.call("POST", "/v1/tasks/" + encodeURIComponent(id) + "/cancel", {});
  }
  /** Opens the task's SSE stream (after `lastEventId`, if given); the caller owns the body. */
  stream(id: string, lastEventId: number | undefined, signal?: AbortSignal): Promise<Response> {
    const extra: Record<string, string> = {};
    if (lastEventId !== undefined && lastEventId > 0) extra["Last-Event-ID"] = String(lastEventId);
    return this.openStream("/v1/stream/" + encodeURIComponent(id), extra, signal);
  }
}

export class ControlClient extends Client {
  whoami(): Promise<Whoami> {
    return this.call("GET", "/v1/whoami");
  }
  intents(): Promise<{ items: Intent[] }> {
    return this.call("GET", "/v1/intents");
  }
  decide(body: { intent: string; params: Record<string, unknown>; privacy?: string; budgetUsd?: number }): Promise<Decision> {
    return this.call("POST", "/v1/router/decide", body);
  }
  policyFiles(): Promise<PolicyFiles> {
    return this.call("GET", "/v1/policy/files");
  }
  putPolicyFile(name: string, text: string, opts: { expectedSha256?: string; dryRun?: boolean } = {}): Promise<PolicySaved> {
    const body: Record<string, string> = { text };
    if (opts.expectedSha256) body.expectedSha256 = opts.expectedSha256;
    return this.call("PUT", "/v1/policy/files/" + encodeURIComponent(name) + (opts.dryRun ? "?dryRun=true" : ""), body);
  }
  reload(): Promise<PolicySaved> {
    return this.call("POST", "/v1/router/policy/reload", {});
  }
  modules(): Promise<{ items: ModuleInfo[] }> {
    return this.call("GET", "/v1/modules");
  }
  setModuleEnabled(name: string, enabled: boolean): Promise<ModuleInfo> {
    return this.call("POST", "/v1/modules/" + encodeURIComponent(name) + (enabled ? "/enable" : "/disable"), {});
  }
  /** GET /v1/tasks/feed: SSE of the tenant's tasks as they are accepted; the caller owns the body. */
  feed(signal?: AbortSignal): Promise<Response> {
    return this.openStream("/v1/tasks/feed", {}, signal);
  }
  usage(q: Record<string, string> = {}): Promise<Usage> {
    const qs = new URLSearchParams(q).toString();
    return this.call("GET", "/v1/usage" + (qs ? "?" + qs : ""));
  }
}
