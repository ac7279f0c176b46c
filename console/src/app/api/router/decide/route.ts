import { ApiError } from "@/lib/api/client";
import { errorJson, guard, readJson } from "@/lib/route";
import { NextResponse } from "next/server";

export const dynamic = "force-dynamic";
export async function POST(req: Request) {
  const me = await guard("decide");
  if (me instanceof NextResponse) return me;
  try {
    const b = await readJson(req);
    if (typeof b.intent !== "string") throw new ApiError(400, "invalid_request", "intent is required");
    const body: { intent: string; params: Record<string, unknown>; privacy?: string; budgetUsd?: number } = {
      intent: b.intent,
      params: (b.params && typeof b.params === "object" ? b.params : {}) as Record<string, unknown>,
    };
    if (typeof b.privacy === "string" && b.privacy) body.privacy = b.privacy;
    if (typeof b.budgetUsd === "number") body.budgetUsd = b.budgetUsd;
    return NextResponse.json(await me.control.decide(body));
  } catch (e) {
    // no_route still explains every candidate: pass it on as is
    return errorJson(e);
  }
}
