import { handle } from "@/lib/route";

export const dynamic = "force-dynamic";
export async function GET() {
  return handle("viewPolicies", (me) => me.control.policyFiles());
}
