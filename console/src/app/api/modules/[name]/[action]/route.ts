import { ApiError } from "@/lib/api/client";
import { handle } from "@/lib/route";

export const dynamic = "force-dynamic";
export async function POST(_req: Request, ctx: { params: Promise<{ name: string; action: string }> }) {
  const { name, action } = await ctx.params;
  return handle("toggleModules", async (me) => {
    if (action !== "enable" && action !== "disable") throw new ApiError(404, "not_found", "use enable or disable");
    return me.control.setModuleEnabled(name, action === "enable");
  });
}
