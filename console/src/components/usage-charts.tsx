"use client";
import { Bar, BarChart, CartesianGrid, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { Callout, Card, Flex, Heading, Text } from "@radix-ui/themes";
import type { Task, Usage } from "@/lib/api/types";
import { formatMs, formatNumber, formatUsd } from "@/lib/i18n";
import { type BudgetCaps, budgetRows, latencySummary, sumBy } from "@/lib/usage";
import { usePrefs, useT } from "./prefs";

function Chart({ title, data, lang, budget }: { title: string; data: { name: string; costUsd: number }[]; lang: "en" | "ar" | "he"; budget?: number }) {
  return (
    <Card className="glass panel" asChild>
      <figure style={{ margin: 0 }} aria-label={title}>
        <Heading as="h2" size="3" mb="2">{title}</Heading>
        <div className="chart">
          <ResponsiveContainer width="100%" height="100%">
            <BarChart data={data} margin={{ top: 8, right: 8, bottom: 8, left: 8 }}>
              <CartesianGrid strokeDasharray="3 3" opacity={0.3} />
              <XAxis dataKey="name" tick={{ fontSize: 11 }} />
              <YAxis tickFormatter={(v: number) => formatUsd(lang, v)} width={80} tick={{ fontSize: 11 }} />
              <Tooltip formatter={(v) => formatUsd(lang, Number(v))} />
              {budget !== undefined && <ReferenceLine y={budget} stroke="#d9480f" strokeDasharray="4 4" label={{ value: "budget", fontSize: 11 }} />}
              <Bar dataKey="costUsd" fill="#5b5bd6" radius={[4, 4, 0, 0]} isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </div>
        <figcaption className="sr-only">
          {data.map((d) => `${d.name}: ${formatUsd(lang, d.costUsd)}`).join("; ")}
        </figcaption>
      </figure>
    </Card>
  );
}

function Meter({ spent, cap, lang, label }: { spent: number; cap?: number; lang: "en" | "ar" | "he"; label: string }) {
  if (cap === undefined) return <>{formatUsd(lang, spent)}</>;
  return (
    <span className="field-inline">
      <meter min={0} max={cap} high={cap * 0.8} value={Math.min(spent, cap)} aria-label={label} />
      <span className={spent > cap * 0.8 ? "bad" : undefined}>{formatUsd(lang, spent)} / {formatUsd(lang, cap)}</span>
    </span>
  );
}

export function UsageCharts({ usage, tasks, from, today, budgetPerTask, tenantBudgets, problem }: {
  usage: Usage | null; tasks: Task[]; from: string; today: string; budgetPerTask: number; tenantBudgets?: Record<string, BudgetCaps>; problem?: string;
}) {
  const t = useT();
  const { lang } = usePrefs();
  const groups = usage?.groups ?? [];
  const lat = latencySummary(tasks);
  const budgets = budgetRows(groups, tenantBudgets, today);
  return (
    <div className="content">
      <Card className="glass panel">
        <Heading as="h1" size="5" mb="2">{t("usage")}</Heading>
        {problem && <Callout.Root color="red" role="alert"><Callout.Text>{problem}</Callout.Text></Callout.Root>}
        <Flex gap="6" wrap="wrap" data-testid="usage-totals">
          <Text>{t("totalSpend")}: <strong>{formatUsd(lang, (usage?.total.costNanoUsd ?? 0) / 1e9)}</strong></Text>
          <Text>{t("calls")}: <strong>{formatNumber(lang, usage?.total.calls ?? 0)}</strong></Text>
          <Text>{t("tokens")}: <strong>{formatNumber(lang, usage?.total.totalTokens ?? 0)}</strong></Text>
          <Text>{t("budgetLine")}: <strong>{formatUsd(lang, budgetPerTask)}</strong></Text>
          <Text className="muted">≥ {from}</Text>
        </Flex>
        <Flex gap="6" wrap="wrap" mt="2" data-testid="latency">
          <Text>{t("latency")} p50/p95: <strong>{lat.p50 !== undefined ? formatMs(lang, lat.p50) : "—"}</strong> / <strong>{lat.p95 !== undefined ? formatMs(lang, lat.p95) : "—"}</strong></Text>
          <Text>{t("overhead")} p50/p95: <strong>{lat.overheadP50 !== undefined ? formatMs(lang, lat.overheadP50) : "—"}</strong> / <strong>{lat.overheadP95 !== undefined ? formatMs(lang, lat.overheadP95) : "—"}</strong></Text>
          <Text className="muted">n = {formatNumber(lang, lat.n)}</Text>
        </Flex>
        {groups.length === 0 && <Text as="p" mt="2" color="gray">{t("noUsage")}</Text>}
      </Card>
      {budgets.length > 0 && (
        <Card className="glass panel" asChild>
          <section aria-labelledby="budgets-h">
            <Heading as="h2" size="3" id="budgets-h" mb="2">{t("budgets")}</Heading>
            <table className="data" data-testid="budgets">
              <thead><tr><th scope="col">{t("tenant")}</th><th scope="col">{t("today")}</th><th scope="col">{t("thisMonth")}</th></tr></thead>
              <tbody>
                {budgets.map((b) => (
                  <tr key={b.scope}>
                    <td>{b.scope}</td>
                    <td><Meter spent={b.daySpent} cap={b.dayCap} lang={lang} label={`${b.scope} ${t("today")}`} /></td>
                    <td><Meter spent={b.monthSpent} cap={b.monthCap} lang={lang} label={`${b.scope} ${t("thisMonth")}`} /></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        </Card>
      )}
      <div className="grid2">
        <Chart title={t("spendByDay")} data={sumBy(groups, "day")} lang={lang} />
        <Chart title={t("spendByProvider")} data={sumBy(groups, "provider")} lang={lang} />
        <Chart title={t("spendByModel")} data={sumBy(groups, "model")} lang={lang} />
        <Chart title={t("spendByTenant")} data={sumBy(groups, "tenant")} lang={lang} budget={undefined} />
      </div>
    </div>
  );
}
