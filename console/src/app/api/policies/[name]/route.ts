import { ApiError } from "@/lib/api/client";
import { handle, readJson } from "@/lib/route";

export const dynamic = "force-dynamic";
export async function PUT(req: Request, ctx: { params: Promise<{ name: string }> }) {
  const { name } = await ctx.params;
  const dryRun = new URL(req.url).searchParams.get("dryRun") === "true";
  return handle("editPolicies", async (me) => {
    const b = await readJson(req, 4 << 20);
    if (typeof b.text !== "string") throw new ApiError(400, "invalid_request", "text is required");
    return me.control.putPolicyFile(name, b.text, {
      expectedSha256: typeof b.expectedSha256 === "string" ? b.expectedSha256 : undefined,
      dryRun,
    });
  });
}
