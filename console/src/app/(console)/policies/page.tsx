import { Callout } from "@radix-ui/themes";
import { PolicyEditor } from "@/components/policy-editor";
import type { PolicyFiles } from "@/lib/api/types";
import { requireUser } from "@/lib/page";
import { can } from "@/lib/roles";

export const dynamic = "force-dynamic";

export default async function PoliciesPage() {
  const me = await requireUser();
  if (!can(me.roles, "viewPolicies"))
    return <Callout.Root color="amber" role="alert" data-testid="forbidden"><Callout.Text>Not allowed for your role.</Callout.Text></Callout.Root>;
  let files: PolicyFiles | null = null;
  let problem = "";
  try {
    files = await me.control.policyFiles();
  } catch (e) {
    problem = (e as Error).message;
  }
  if (!files) return <Callout.Root color="red" role="alert"><Callout.Text>{problem}</Callout.Text></Callout.Root>;
  return <PolicyEditor initial={files} canEdit={can(me.roles, "editPolicies")} />;
}
