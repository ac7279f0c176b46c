import { ApiError } from "@/lib/api/client";
import type { SubmitBody } from "@/lib/api/types";
import { handle, readJson } from "@/lib/route";

export const dynamic = "force-dynamic";

export async function GET(req: Request) {
  const q = new URL(req.url).searchParams;
  return handle(undefined, (me) => me.gateway.list({ limit: Number(q.get("limit") ?? 20), cursor: q.get("cursor") ?? undefined }));
}

export async function POST(req: Request) {
  return handle("submit", async (me) => {
    const b = await readJson(req);
    if (typeof b.intent !== "string" || !b.params || typeof b.params !== "object")
      throw new ApiError(400, "invalid_request", "intent and params are required");
    const body: SubmitBody = { schemaVersion: "1.0", intent: b.intent, params: b.params as Record<string, unknown> };
    if (typeof b.privacy === "string" && b.privacy) body.privacy = b.privacy;
    if (typeof b.budgetUsd === "number") body.budgetUsd = b.budgetUsd;
    return me.gateway.submit(body, typeof b.idempotencyKey === "string" ? b.idempotencyKey : undefined);
  }, 202);
}
