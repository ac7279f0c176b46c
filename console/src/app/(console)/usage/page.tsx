import { Callout } from "@radix-ui/themes";
import { UsageCharts } from "@/components/usage-charts";
import type { Task, Usage } from "@/lib/api/types";
import { requireUser } from "@/lib/page";
import { can } from "@/lib/roles";

export const dynamic = "force-dynamic";

export default async function UsagePage() {
  const me = await requireUser();
  if (!can(me.roles, "viewUsage")) return <Callout.Root color="amber" role="alert"><Callout.Text>Not allowed for your role.</Callout.Text></Callout.Root>;
  const from = new Date(Date.now() - 29 * 86400e3).toISOString().slice(0, 10);
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
  try {
    const files = await me.control.policyFiles();
    const m = /default_usd:\s*([0-9.]+)/.exec(files.files.find((f) => f.name === "policies.yml")?.text ?? "");
    if (m?.[1]) budget = Number(m[1]);
  } catch {
    /* managers without the policy files: the seed's default */
  }
  return <UsageCharts usage={usage} tasks={tasks} from={from} budgetPerTask={budget} problem={problem} />;
}
