// The task's SSE stream, proxied from the gateway with the session's key.
// The browser's EventSource sends Last-Event-ID when it reconnects; after a
// page reload the page passes ?lastEventId=n itself.
import { errorJson, guard } from "@/lib/route";
import { NextResponse } from "next/server";

export const dynamic = "force-dynamic";

export async function GET(req: Request, ctx: { params: Promise<{ id: string }> }) {
  const me = await guard();
  if (me instanceof NextResponse) return me;
  const { id } = await ctx.params;
  const fromHeader = req.headers.get("last-event-id");
  const fromQuery = new URL(req.url).searchParams.get("lastEventId");
  const last = Number(fromHeader ?? fromQuery ?? 0);
  try {
    const upstream = await me.gateway.stream(id, Number.isFinite(last) && last > 0 ? Math.floor(last) : undefined, req.signal);
    return new Response(upstream.body, {
      headers: {
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache, no-transform",
        "X-Accel-Buffering": "no",
        Connection: "keep-alive",
      },
    });
  } catch (e) {
    return errorJson(e);
  }
}
