// Folding a task's events into what the task page shows.
import type { TaskEvent } from "./api/types";

export const EVENT_TYPES = ["status", "route", "redacted", "retry", "delta", "attempt", "result", "error", "done"] as const;

export interface TaskState {
  status: string;
  text: string;
  result: unknown;
  error: unknown;
  plan: Record<string, unknown> | null;
  done: boolean;
  lastSeq: number;
}

export const INITIAL: TaskState = { status: "", text: "", result: undefined, error: undefined, plan: null, done: false, lastSeq: 0 };

/** Applies events in seq order; an event already seen (seq ≤ lastSeq) is ignored. */
export function fold(s: TaskState, e: TaskEvent): TaskState {
  if (e.seq <= s.lastSeq) return s;
  const n: TaskState = { ...s, lastSeq: e.seq };
  const d = e.data ?? {};
  switch (e.type) {
    case "status":
      if (typeof d.status === "string") n.status = d.status;
      break;
    case "route":
      n.status = typeof d.status === "string" ? d.status : "routed";
      n.plan = (d.plan as Record<string, unknown>) ?? null;
      break;
    case "delta":
      if (typeof d.text === "string") n.text += d.text;
      break;
    case "result":
      n.result = d.result;
      break;
    case "error":
      n.error = d.error ?? d;
      break;
    case "done":
      n.done = true;
      if (typeof d.status === "string") n.status = d.status;
      break;
  }
  return n;
}
