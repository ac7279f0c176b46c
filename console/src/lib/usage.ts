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

export interface BudgetCaps { day_usd?: number; month_usd?: number }
export interface BudgetRow { scope: string; dayCap?: number; daySpent: number; monthCap?: number; monthSpent: number }

/** policies.yml's `budgets.tenants` against the spend of today and this month (UTC). "*" applies to
 * every tenant without its own entry that has spent something. */
export function budgetRows(groups: UsageGroup[], tenants: Record<string, BudgetCaps> | undefined, today: string): BudgetRow[] {
  if (!tenants) return [];
  const month = today.slice(0, 7);
  const spent = new Map<string, { day: number; month: number }>();
  for (const g of groups) {
    const t = g.tenant ?? "default";
    const e = spent.get(t) ?? { day: 0, month: 0 };
    if (g.day === today) e.day += g.costNanoUsd / 1e9;
    if (g.day?.startsWith(month)) e.month += g.costNanoUsd / 1e9;
    spent.set(t, e);
  }
  const rows: BudgetRow[] = [];
  const named = Object.keys(tenants).filter((k) => k !== "*");
  for (const name of named) {
    const s = spent.get(name) ?? { day: 0, month: 0 };
    rows.push({ scope: name, dayCap: tenants[name]?.day_usd, daySpent: s.day, monthCap: tenants[name]?.month_usd, monthSpent: s.month });
  }
  const star = tenants["*"];
  if (star)
    for (const [name, s] of spent)
      if (!named.includes(name)) rows.push({ scope: name + " (*)", dayCap: star.day_usd, daySpent: s.day, monthCap: star.month_usd, monthSpent: s.month });
  return rows;
}
