// An incremental Server-Sent Events parser (the WHATWG event-stream format):
// feed it text chunks as they arrive, it returns the complete events.

export interface SseMessage { id?: string; event: string; data: string }

export class SseParser {
  private buf = "";
  private data: string[] = [];
  private event = "";
  private id: string | undefined;

  push(chunk: string): SseMessage[] {
    this.buf += chunk;
    const out: SseMessage[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) break;
      // a lone trailing "\r" may be the first half of "\r\n": wait for more
      if (m[0] === "\r" && m.index === this.buf.length - 1) break;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      if (line === "") {
        if (this.data.length > 0) out.push({ id: this.id, event: this.event || "message", data: this.data.join("\n") });
        this.data = [];
        this.event = "";
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") this.data.push(value);
      else if (field === "event") this.event = value;
      else if (field === "id" && !value.includes("\0")) this.id = value;
    }
    return out;
  }
}

/** One SSE frame as the console's own streams send it. */
export function sseFrame(event: string, data: unknown, id?: string | number): string {
  const lines = JSON.stringify(data).split("\n").map((l) => "data: " + l).join("\n");
  return (id !== undefined ? `id: ${id}\n` : "") + `event: ${event}\n${lines}\n\n`;
}

/** Reads an SSE response body to its end (or until aborted), calling `onMessage` per event. */
export async function readSse(res: Response, onMessage: (m: SseMessage) => void | Promise<void>): Promise<void> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      for (const m of parser.push(value)) await onMessage(m);
    }
  } finally {
    reader.releaseLock();
  }
}
