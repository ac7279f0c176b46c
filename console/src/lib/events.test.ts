import { describe, expect, it } from "vitest";
import type { TaskEvent } from "./api/types";
import { INITIAL, fold } from "./events";

const ev = (seq: number, type: string, data: Record<string, unknown>): TaskEvent => ({ taskId: "t", seq, type, ts: "2026-01-01T00:00:00Z", data });

describe("fold", () => {
  it("follows the lifecycle and joins deltas", () => {
    const s = [ev(1, "status", { status: "queued" }), ev(2, "route", { status: "routed", plan: { routes: [] } }), ev(3, "delta", { text: "Hel" }), ev(4, "delta", { text: "lo" }), ev(5, "done", { status: "succeeded" })].reduce(fold, INITIAL);
    expect(s).toMatchObject({ status: "succeeded", text: "Hello", done: true, lastSeq: 5, plan: { routes: [] } });
  });
  it("ignores an event already seen (a resumed stream never repeats)", () => {
    const a = fold(fold(INITIAL, ev(1, "delta", { text: "a" })), ev(2, "delta", { text: "b" }));
    expect(fold(a, ev(2, "delta", { text: "b" }))).toBe(a);
    expect(fold(a, ev(1, "delta", { text: "a" })).text).toBe("ab");
  });
});
