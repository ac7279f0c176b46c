import { Callout } from "@radix-ui/themes";
import { UsageCharts } from "@/components/usage-charts";
import { parse } from "yaml";
import type { Task, Usage } from "@/lib/api/types";
import type { BudgetCaps } from "@/lib/usage";
import { requireUser } from "@/lib/page";
import { can } from "@/lib/roles";

export const dynamic = "force-dynamic";

export default async function UsagePage() {
  const me = await requireUser();
  if (!can(me.roles, "viewUsage")) return <Callout.Root color="amber" role="alert"><Callout.Text>Not allowed for your role.</Callout.Text></Callout.Root>;
  const today = new Date().toISOString().slice(0, 10);
  const monthStart = today.slice(0, 8) + "01";
  const back29 = new Date(Date.now() - 29 * 86400e3).toISOString().slice(0, 10);
  const from = monthStart < back29 ? monthStart : back29;
  let usage: Usage | null = null;
  let tasks: Task[] = [];
  let problem = "";
  try {
    [usage, tasks] = await Promise.all([
      me.control.usage({ groupBy: "tenant,provider,model,day", from }),
      me.gateway.list({ limit: 100 }).then((p) => p.items),
    ]);
  } catch (e) {
    problem = (e as Error).message;
  }
  let budget = 0.02;
  let tenantBudgets: Record<string, BudgetCaps> | undefined;
  try {
    const files = await me.control.policyFiles();
    const doc = parse(files.files.find((f) => f.name === "policies.yml")?.text ?? "") as
      | { budget?: { default_usd?: number }; budgets?: { tenants?: Record<string, BudgetCaps> } }
      | null;
    if (typeof doc?.budget?.default_usd === "number") budget = doc.budget.default_usd;
    tenantBudgets = doc?.budgets?.tenants;
  } catch {
    /* the file cannot be read or parsed: the seed's default, no period budgets */
  }
  return <UsageCharts usage={usage} tasks={tasks} from={from} today={today} budgetPerTask={budget} tenantBudgets={tenantBudgets} problem={problem} />;
}
