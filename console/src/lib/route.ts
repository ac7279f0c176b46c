// Shared pieces of the console's own API routes (src/app/api/**).
import { NextResponse } from "next/server";
import { ApiError } from "./api/client";
import { can, type Action } from "./roles";
import { current, type Current } from "./server";

export function errorJson(e: unknown): NextResponse {
  if (e instanceof ApiError) return NextResponse.json(e.toBody(), { status: e.status });
  return NextResponse.json({ error: { code: "internal", message: (e as Error)?.message ?? "internal error" } }, { status: 500 });
}

/** The signed-in user allowed to do `action`, or the response that refuses. */
export async function guard(action?: Action): Promise<Current | NextResponse> {
  const me = await current();
  if (!me) return NextResponse.json({ error: { code: "unauthenticated", message: "sign in first" } }, { status: 401 });
  if (action && !can(me.roles, action))
    return NextResponse.json({ error: { code: "forbidden", message: `your roles (${me.roles.join(", ")}) do not allow ${action}` } }, { status: 403 });
  return me;
}

export async function handle<T>(action: Action | undefined, fn: (me: Current) => Promise<T>, status = 200): Promise<NextResponse> {
  const me = await guard(action);
  if (me instanceof NextResponse) return me;
  try {
    return NextResponse.json(await fn(me), { status });
  } catch (e) {
    return errorJson(e);
  }
}

export async function readJson(req: Request, maxBytes = 2 << 20): Promise<Record<string, unknown>> {
  const text = await req.text();
  if (text.length > maxBytes) throw new ApiError(413, "payload_too_large", "request body too large");
  try {
    const v: unknown = JSON.parse(text || "{}");
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error("not an object");
    return v as Record<string, unknown>;
  } catch {
    throw new ApiError(400, "invalid_request", "body must be a JSON object");
  }
}
