import { describe, expect, it } from "vitest";
import { SseParser, readSse, sseFrame } from "./sse";

describe("SseParser", () => {
  it("parses events split across chunks, with ids, names and comments", () => {
    const p = new SseParser();
    expect(p.push(": keep-alive\n\nid: 1\nevent: sta")).toEqual([]);
    expect(p.push('tus\ndata: {"a":1}\n\nid: 2\r\nevent: done\r\ndata: x\r\ndata: y\r\n\r\n')).toEqual([
      { id: "1", event: "status", data: '{"a":1}' },
      { id: "2", event: "done", data: "x\ny" },
    ]);
  });
  it("waits when a chunk ends between \\r and \\n", () => {
    const p = new SseParser();
    expect(p.push("data: a\r")).toEqual([]);
    expect(p.push("\n\r\n")).toEqual([{ id: undefined, event: "message", data: "a" }]);
  });
  it("round-trips its own frames", () => {
    const p = new SseParser();
    expect(p.push(sseFrame("task", { x: "a\nb" }, 7))).toEqual([{ id: "7", event: "task", data: '{"x":"a\\nb"}' }]);
  });
  it("reads a whole response body, event by event", async () => {
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        const enc = new TextEncoder();
        c.enqueue(enc.encode("event: created\ndata: 1\n\nevent: cre"));
        c.enqueue(enc.encode("ated\ndata: 2\n\n"));
        c.close();
      },
    });
    const seen: string[] = [];
    await readSse(new Response(body), (m) => {
      seen.push(`${m.event}:${m.data}`);
    });
    expect(seen).toEqual(["created:1", "created:2"]);
  });
});
