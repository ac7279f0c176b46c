import { handle } from "@/lib/route";

export const dynamic = "force-dynamic";
export async function POST(_req: Request, ctx: { params: Promise<{ id: string }> }) {
  const { id } = await ctx.params;
  return handle("cancel", (me) => me.gateway.cancel(id));
}
