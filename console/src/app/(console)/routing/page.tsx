import { Callout } from "@radix-ui/themes";
import { DecideForm } from "@/components/decide-form";
import type { Intent } from "@/lib/api/types";
import { requireUser } from "@/lib/page";
import { can } from "@/lib/roles";

export const dynamic = "force-dynamic";

export default async function RoutingPage() {
  const me = await requireUser();
  if (!can(me.roles, "decide")) return <Callout.Root color="amber" role="alert"><Callout.Text>Not allowed for your role.</Callout.Text></Callout.Root>;
  let intents: Intent[] = [];
  try {
    intents = (await me.control.intents()).items;
  } catch {
    /* the form shows an empty picker */
  }
  return <DecideForm intents={intents} />;
}
