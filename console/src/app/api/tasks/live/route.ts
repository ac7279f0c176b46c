// A live list of the tenant's tasks as SSE, without polling: a snapshot of
// the newest tasks, then every new task (the control plane's tenant feed,
// whatever surface it came from) and every change of an active one (each
// followed on the gateway's task stream).
import { TERMINAL, type TaskEvent } from "@/lib/api/types";
import { guard } from "@/lib/route";
import { readSse, sseFrame } from "@/lib/sse";
import { NextResponse } from "next/server";

export const dynamic = "force-dynamic";
const CHANGES = new Set(["status", "route", "result", "error", "done"]);

export async function GET(req: Request) {
  const me = await guard();
  if (me instanceof NextResponse) return me;
  const enc = new TextEncoder();
  const followed = new Map<string, AbortController>();
  let closed = false;
  let cleanup = () => {};
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      const write = (text: string) => {
        if (closed) return;
        try {
          controller.enqueue(enc.encode(text));
        } catch {
          closed = true;
        }
      };
      const sendTask = (id: string) =>
        me.gateway.get(id).then((t) => write(sseFrame("task", t)), () => undefined);
      const follow = async (id: string) => {
        if (followed.has(id) || closed || followed.size >= 50) return;
        const ac = new AbortController();
        followed.set(id, ac);
        try {
          const res = await me.gateway.stream(id, undefined, ac.signal);
          await readSse(res, async (m) => {
            if (!CHANGES.has(m.event)) return;
            const ev = JSON.parse(m.data) as TaskEvent;
            write(sseFrame("change", { taskId: id, type: ev.type, data: ev.data }));
            if (m.event === "done" || m.event === "status" || m.event === "route") await sendTask(id);
          });
        } catch {
          /* aborted or the stream ended */
        } finally {
          followed.delete(id);
        }
      };
      // The feed first, then the snapshot: a task accepted in between is in one or both.
      const feedAbort = new AbortController();
      const readFeed = async (res: Response) => {
        try {
          await readSse(res, (m) => {
            if (m.event !== "created") return;
            const { taskId } = JSON.parse(m.data) as { taskId: string };
            void sendTask(taskId).then(() => follow(taskId));
          });
        } catch {
          /* aborted */
        }
        // the feed ended (aiond restarted?): end this stream too; the browser reconnects and starts over
        if (!closed) cleanup();
      };
      const unlisten = () => feedAbort.abort();
      const beat = setInterval(() => write(": keep-alive\n\n"), 15000);
      cleanup = () => {
        closed = true;
        clearInterval(beat);
        unlisten();
        for (const ac of followed.values()) ac.abort();
        try {
          controller.close();
        } catch {
          /* already closed */
        }
      };
      req.signal.addEventListener("abort", cleanup);
      try {
        const feed = await me.control.feed(feedAbort.signal);
        void readFeed(feed);
        const page = await me.gateway.list({ limit: 25 });
        write(sseFrame("snapshot", page.items));
        for (const t of page.items) if (!TERMINAL.has(t.status)) void follow(t.taskId);
      } catch (e) {
        write(sseFrame("failure", { message: (e as Error).message }));
      }
    },
    cancel() {
      cleanup();
    },
  });
  return new Response(stream, {
    headers: { "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no" },
  });
}
