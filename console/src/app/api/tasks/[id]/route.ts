import { handle } from "@/lib/route";

export const dynamic = "force-dynamic";
export async function GET(_req: Request, ctx: { params: Promise<{ id: string }> }) {
  const { id } = await ctx.params;
  return handle(undefined, (me) => me.gateway.get(id));
}
