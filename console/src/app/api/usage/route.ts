import { handle } from "@/lib/route";

export const dynamic = "force-dynamic";
const ALLOWED = new Set(["from", "to", "groupBy", "tenant", "provider", "model", "intent"]);
export async function GET(req: Request) {
  const q: Record<string, string> = {};
  for (const [k, v] of new URL(req.url).searchParams) if (ALLOWED.has(k)) q[k] = v;
  return handle("viewUsage", (me) => me.control.usage(q));
}
