// Pure summaries behind the usage page's charts.
import type { Task, UsageGroup } from "./api/types";

export function sumBy(groups: UsageGroup[], dim: "tenant" | "provider" | "model" | "day"): { name: string; costUsd: number; calls: number; tokens: number }[] {
  const m = new Map<string, { name: string; costUsd: number; calls: number; tokens: number }>();
  for (const g of groups) {
    const k = g[dim] ?? "—";
    const e = m.get(k) ?? { name: k, costUsd: 0, calls: 0, tokens: 0 };
    e.costUsd += g.costNanoUsd / 1e9;
    e.calls += g.calls;
    e.tokens += g.totalTokens;
    m.set(k, e);
  }
  const out = [...m.values()];
  return dim === "day" ? out.sort((a, b) => a.name.localeCompare(b.name)) : out.sort((a, b) => b.costUsd - a.costUsd);
}

export function percentile(values: number[], p: number): number | undefined {
  if (!values.length) return undefined;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export function latencySummary(tasks: Task[]): { p50?: number; p95?: number; overheadP50?: number; overheadP95?: number; n: number } {
  const done = tasks.filter((t) => t.timings?.totalMs !== undefined);
  const total = done.map((t) => t.timings!.totalMs!);
  const over = done.map((t) => t.timings!.overheadMs).filter((x): x is number => typeof x === "number");
  return { p50: percentile(total, 50), p95: percentile(total, 95), overheadP50: percentile(over, 50), overheadP95: percentile(over, 95), n: done.length };
}
