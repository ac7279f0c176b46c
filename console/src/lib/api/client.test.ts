// @vitest-environment node
// The typed clients against a real HTTP server on loopback that answers
// like aionOS (headers checked, errors in aionOS's shape).
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiError, ControlClient, GatewayClient } from "./client";

let server: http.Server;
let base = "";
const seen: { method?: string; url?: string; headers: http.IncomingHttpHeaders; body: string }[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      const json = (status: number, v: unknown) => {
        res.writeHead(status, { "Content-Type": "application/json" });
        res.end(JSON.stringify(v));
      };
      if (req.headers["x-api-key"] !== "k") return json(401, { error: { code: "unauthenticated", message: "missing or unknown API key" } });
      if (req.url === "/v1/tasks" && req.method === "POST") return json(202, { taskId: "tsk_1", status: "routed", links: {} });
      if (req.url?.startsWith("/v1/tasks?")) return json(200, { items: [], nextCursor: null });
      if (req.url === "/v1/stream/tsk_1") {
        res.writeHead(200, { "Content-Type": "text/event-stream" });
        return res.end(`id: ${Number(req.headers["last-event-id"] ?? 0) + 1}\nevent: done\ndata: {}\n\n`);
      }
      if (req.url === "/v1/policy/files/intents.yml?dryRun=true" && req.method === "PUT")
        return json(422, { error: { code: "invalid_policy", message: "refused", details: { locations: [{ file: "intents.yml", line: 3, message: "x" }] } } });
      if (req.url === "/v1/tasks/feed") {
        res.writeHead(200, { "Content-Type": "text/event-stream" });
        return res.end('event: created\ndata: {"taskId":"tsk_9"}\n\n');
      }
      if (req.url === "/v1/whoami") return json(200, { keyId: "abc", tenant: "default", roles: ["viewer"] });
      if (req.url?.startsWith("/v1/usage?")) return json(200, { groupBy: [], groups: [], total: {} });
      return json(404, { error: { code: "not_found", message: "no such thing" } });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("GatewayClient", () => {
  it("submits with the key, JSON and an idempotency key", async () => {
    const gw = new GatewayClient({ url: base, apiKey: "k", tenant: "acme" });
    expect(await gw.submit({ intent: "summarize", params: { text: "x" } }, "idem-1")).toMatchObject({ taskId: "tsk_1" });
    const r = seen.at(-1)!;
    expect(r.headers["content-type"]).toBe("application/json");
    expect(r.headers["idempotency-key"]).toBe("idem-1");
    expect(r.headers["x-tenant-id"]).toBe("acme");
    expect(JSON.parse(r.body)).toEqual({ intent: "summarize", params: { text: "x" } });
  });
  it("builds list queries and leaves out what is unset", async () => {
    await new GatewayClient({ url: base, apiKey: "k" }).list({ limit: 5, status: "" });
    expect(seen.at(-1)!.url).toBe("/v1/tasks?limit=5");
  });
  it("resumes streams with Last-Event-ID", async () => {
    const res = await new GatewayClient({ url: base, apiKey: "k" }).stream("tsk_1", 4);
    expect(await res.text()).toMatch(/^id: 5\n/);
  });
  it("turns aionOS errors into ApiError with status and code", async () => {
    const e = await new GatewayClient({ url: base, apiKey: "bad" }).get("tsk_1").catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect(e).toMatchObject({ status: 401, code: "unauthenticated" });
    const down = await new GatewayClient({ url: "http://127.0.0.1:1", apiKey: "k" }).get("x").catch((x: unknown) => x);
    expect(down).toMatchObject({ status: 503, code: "unavailable" });
  });
});

describe("ControlClient", () => {
  it("keeps the located policy errors", async () => {
    const e = (await new ControlClient({ url: base, apiKey: "k" }).putPolicyFile("intents.yml", "x", { dryRun: true }).catch((x: unknown) => x)) as ApiError;
    expect(e.status).toBe(422);
    expect(e.details.locations).toEqual([{ file: "intents.yml", line: 3, message: "x" }]);
  });
  it("opens the tenant's task feed, and refuses a bad key like any call", async () => {
    const res = await new ControlClient({ url: base, apiKey: "k" }).feed();
    expect(seen.at(-1)!.headers.accept).toBe("text/event-stream");
    expect(await res.text()).toContain('"taskId":"tsk_9"');
    const e = await new ControlClient({ url: base, apiKey: "bad" }).feed().catch((x: unknown) => x);
    expect(e).toMatchObject({ status: 401, code: "unauthenticated" });
    const s = await new GatewayClient({ url: base, apiKey: "bad" }).stream("tsk_1", 0).catch((x: unknown) => x);
    expect(s).toMatchObject({ status: 401 });
  });
  it("escapes path parts and passes usage queries", async () => {
    const c = new ControlClient({ url: base, apiKey: "k" });
    await c.setModuleEnabled("../x", false).catch(() => undefined);
    expect(seen.at(-1)!.url).toBe("/v1/modules/..%2Fx/disable");
    await c.usage({ groupBy: "day", from: "2026-11-01" });
    expect(seen.at(-1)!.url).toBe("/v1/usage?groupBy=day&from=2026-11-01");
    expect(await c.whoami()).toEqual({ keyId: "abc", tenant: "default", roles: ["viewer"] });
  });
});
