import { describe, expect, it } from "vitest";
import { can } from "./roles";
import { budgetRows, latencySummary, percentile, sumBy } from "./usage";
import { yamlProblems } from "./yaml-check";

describe("roles", () => {
  it("lets viewers look but not change", () => {
    expect(can(["viewer"], "submit")).toBe(false);
    expect(can(["viewer"], "cancel")).toBe(false);
    expect(can(["viewer"], "editPolicies")).toBe(false);
    expect(can(["manager"], "viewPolicies")).toBe(true);
    expect(can(["manager"], "editPolicies")).toBe(false);
    expect(can(["admin"], "editPolicies")).toBe(true);
    expect(can(undefined, "submit")).toBe(false);
  });
});

describe("usage summaries", () => {
  const g = (provider: string, day: string, nano: number) => ({ provider, day, calls: 1, promptTokens: 1, completionTokens: 1, totalTokens: 2, costUsd: nano / 1e9, costNanoUsd: nano, estimatedCalls: 0 });
  it("sums exactly from nano-USD, days in order, others by spend", () => {
    const groups = [g("openai", "2026-11-02", 300), g("vllm", "2026-11-01", 100), g("openai", "2026-11-01", 200)];
    expect(sumBy(groups, "day").map((x) => x.name)).toEqual(["2026-11-01", "2026-11-02"]);
    expect(sumBy(groups, "provider")).toEqual([
      { name: "openai", costUsd: 5e-7, calls: 2, tokens: 4 },
      { name: "vllm", costUsd: 1e-7, calls: 1, tokens: 2 },
    ]);
  });
  it("sets today's and this month's spend against the tenant budgets", () => {
    const t = (tenant: string, day: string, nano: number) => ({ ...g("openai", day, nano), tenant });
    const groups = [t("acme", "2026-11-25", 2e9), t("acme", "2026-11-03", 1e9), t("acme", "2026-10-31", 5e9), t("zeta", "2026-11-25", 1e8)];
    expect(budgetRows(groups, { "*": { day_usd: 20 }, acme: { day_usd: 1, month_usd: 10 } }, "2026-11-25")).toEqual([
      { scope: "acme", dayCap: 1, daySpent: 2, monthCap: 10, monthSpent: 3 },
      { scope: "zeta (*)", dayCap: 20, daySpent: 0.1, monthCap: undefined, monthSpent: 0.1 },
    ]);
    expect(budgetRows(groups, undefined, "2026-11-25")).toEqual([]);
  });
  it("takes percentiles of latency and overhead", () => {
    expect(percentile([5, 1, 3, 2, 4], 50)).toBe(3);
    expect(percentile([], 95)).toBeUndefined();
    expect(latencySummary([{ taskId: "a", status: "succeeded", intent: "x", tenant: "t", timings: { totalMs: 10, overheadMs: 1 } }])).toMatchObject({ p50: 10, overheadP95: 1, n: 1 });
  });
});

describe("yaml check", () => {
  it("locates a syntax error at its line", () => {
    const p = yamlProblems("intents.yml", "version: 1\nintents:\n  a: [1, 2\n");
    expect(p.length).toBeGreaterThan(0);
    expect(p[0]).toMatchObject({ file: "intents.yml" });
    expect(p[0]!.line).toBeGreaterThanOrEqual(3);
    expect(yamlProblems("x.yml", "a: 1\n")).toEqual([]);
  });
});
