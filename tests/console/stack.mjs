// Starts the real parts for the console's browser tests: aiond (from the
// build folder) on free loopback ports with a temp policy set, and the
// console's production server (next start) pointed at it.
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const BUILD = process.env.AION_BUILD_DIR || path.join(REPO, "build");
export const KEYS = "demo-key:admin|manager,user-key:user,viewer-key:viewer";

/** `n` distinct free loopback ports (held open together while picked, so no two are the same). */
export async function freePorts(n) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      await new Promise((resolve, reject) => {
        s.once("error", reject);
        s.listen(0, "127.0.0.1", resolve);
      });
      servers.push(s);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

export async function freePort() {
  return (await freePorts(1))[0];
}

/** Resolves when `proc`'s output has a line matching `re`; on exit or timeout it kills the
 * process (nothing is left running) and rejects. */
async function waitForLine(proc, re, what, ms, logFile) {
  try {
    await waitForLineOnly(proc, re, what, ms, logFile);
  } catch (e) {
    if (proc.exitCode === null) proc.kill("SIGKILL");
    throw e;
  }
}

function waitForLineOnly(proc, re, what, ms, logFile) {
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => done(new Error(`${what} did not start in ${ms} ms; see ${logFile}`)), ms);
    const onData = (d) => {
      buf += d.toString();
      if (re.test(buf)) done();
    };
    const onExit = (code) => done(new Error(`${what} exited (${code}) before it was ready; see ${logFile}`));
    function done(err) {
      clearTimeout(timer);
      proc.stdout.off("data", onData);
      proc.off("exit", onExit);
      err ? reject(err) : resolve();
    }
    proc.stdout.on("data", onData);
    proc.on("exit", onExit);
  });
}

const SPIN_MODULE = (wasm) => `
  spin:
    version: 0.1.0
    kind: wasm
    artifact: ${wasm}
    intents: [spin]
    latency_ms: 50
    limits: {memory_mb: 32, timeout_ms: 60000, output_bytes: 4096}
`;
const SPIN_INTENT = `
  spin:
    description: burns CPU for params.ms (a long task to cancel)
    privacy: local-only
    timeout_ms: 60000
    params_schema: {type: object, required: [ms], properties: {ms: {type: integer, minimum: 0, maximum: 60000}}}
    candidates:
      - module: spin
`;

/** The project's loopback stand-in for model providers (tests/e2e/fake_provider), so chat
 * tasks stream real provider tokens (one word per chunk, `tokenDelay` seconds apart) and bill. */
export async function startFakeProvider(tmp, tokenDelay = 0.05) {
  const code = [
    "import sys, signal",
    `sys.path.insert(0, ${JSON.stringify(path.join(REPO, "tests", "e2e"))})`,
    "from fake_provider import FakeProvider",
    "f = FakeProvider()",
    `f.token_delay = ${Number(tokenDelay)}`,
    "f.start()",
    "sys.stdout.write(f'fake {f.url} {f.api_key}\\n'); sys.stdout.flush()",
    "signal.signal(signal.SIGTERM, lambda *a: (f.stop(), sys.exit(0)))",
    "signal.pause()",
  ].join("\n");
  const log = path.join(tmp, "fake-provider.log");
  const proc = spawn("python3", ["-c", code], { stdio: ["ignore", "pipe", fs.openSync(log, "a")] });
  let out = "";
  proc.stdout.on("data", (d) => (out += d.toString()));
  // Wait for the whole line: a pipe may hand it over in pieces.
  const line = /^fake (\S+) (\S+)\n/m;
  await waitForLine(proc, line, "the fake provider", 20000, log);
  const [, url, apiKey] = line.exec(out);
  return { proc, url, apiKey };
}

export async function startAiond(tmp, extraEnv = {}) {
  const aiond = path.join(BUILD, "aiond");
  if (!fs.existsSync(aiond)) throw new Error(`no ${aiond}: build first (scripts/build.sh)`);
  const policyDir = path.join(tmp, "policies");
  fs.cpSync(path.join(REPO, "policies"), policyDir, { recursive: true });
  const spin = path.join(BUILD, "test-modules", "spin.wasm");
  if (fs.existsSync(spin)) {
    fs.appendFileSync(path.join(policyDir, "modules.yml"), SPIN_MODULE(spin));
    fs.appendFileSync(path.join(policyDir, "intents.yml"), SPIN_INTENT);
  }
  const [gw, ctl, grpc, internal] = await freePorts(4);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(AION_|OPENAI_|AZURE_OPENAI_|HF_|VLLM_|OLLAMA_|OTEL_)/.test(k)));
  Object.assign(env, {
    AION_GATEWAY_PORT: String(gw), AION_CONTROL_PORT: String(ctl), AION_GATEWAY_GRPC_PORT: String(grpc),
    AION_CONTROL_GRPC_PORT: String(internal), AION_MODHOST_GRPC_PORT: String(internal), AION_BIND_ADDRESS: "127.0.0.1",
    AION_GATEWAY_API_KEYS: KEYS, AION_POLICY_DIR: policyDir, AION_DATA_DIR: path.join(tmp, "data"),
    AION_MODULE_DIR: path.join(BUILD, "modules"), AION_MODULES_ALLOW_UNSIGNED: "true", AION_LOG_LEVEL: "info",
    ...extraEnv,
  });
  const log = path.join(tmp, "aiond.log");
  const proc = spawn(aiond, [], { env, stdio: ["ignore", "pipe", fs.openSync(log, "a")] });
  await waitForLine(proc, /^\s*control\s/m, "aiond", 30000, log);
  return { proc, policyDir, gateway: `http://127.0.0.1:${gw}`, control: `http://127.0.0.1:${ctl}`, log, hasSpin: fs.existsSync(spin) };
}

export async function startConsole(tmp, aion, extraEnv = {}) {
  const port = await freePort();
  const consoleDir = path.join(REPO, "console");
  const url = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    NODE_ENV: "production",
    NEXT_TELEMETRY_DISABLED: "1",
    PORT: String(port),
    NEXTAUTH_URL: url,
    NEXTAUTH_SECRET: "console-test-" + Math.random().toString(36).slice(2),
    NEXT_PUBLIC_GATEWAY_URL: aion.gateway,
    NEXT_PUBLIC_CONTROL_URL: aion.control,
    GOOGLE_CLIENT_ID: "test-client-id.apps.googleusercontent.com",
    GOOGLE_CLIENT_SECRET: "test-client-secret",
    ...extraEnv,
  };
  const log = path.join(tmp, "console.log");
  const next = path.join(consoleDir, "node_modules", "next", "dist", "bin", "next");
  const proc = spawn(process.execPath, [next, "start", "-p", String(port), "-H", "127.0.0.1"], { cwd: consoleDir, env, stdio: ["ignore", "pipe", fs.openSync(log, "a")] });
  proc.stdout.on("data", (d) => fs.appendFileSync(log, d));
  await waitForLine(proc, /Ready in|started server|Local:/, "console", 60000, log);
  return { proc, url, log };
}

export function stop(proc) {
  return new Promise((resolve) => {
    if (!proc || proc.exitCode !== null) return resolve();
    const t = setTimeout(() => proc.kill("SIGKILL"), 10000);
    proc.once("exit", () => {
      clearTimeout(t);
      resolve();
    });
    proc.kill("SIGTERM");
  });
}

export function tempDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), "aion-console-e2e-"));
}
