import { Callout } from "@radix-ui/themes";
import { ModulesTable } from "@/components/modules-table";
import type { ModuleInfo } from "@/lib/api/types";
import { requireUser } from "@/lib/page";
import { can } from "@/lib/roles";

export const dynamic = "force-dynamic";

export default async function ModulesPage() {
  const me = await requireUser();
  if (!can(me.roles, "viewModules")) return <Callout.Root color="amber" role="alert"><Callout.Text>Not allowed for your role.</Callout.Text></Callout.Root>;
  let items: ModuleInfo[] = [];
  let problem = "";
  try {
    items = (await me.control.modules()).items;
  } catch (e) {
    problem = (e as Error).message;
  }
  return <ModulesTable initial={items} canToggle={can(me.roles, "toggleModules")} problem={problem} />;
}
