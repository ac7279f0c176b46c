// Browser e2e of the console: playwright-core driving Debian's chromium
// (headless) against a real aiond and the console's production server, both
// started here. Screenshots (light, dark, RTL) go to the artifacts folder.
// Ends with "N passed, N failed".
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { BUILD, REPO, startAiond, startConsole, startFakeProvider, stop, tempDir } from "./stack.mjs";

const require = createRequire(path.join(REPO, "console", "package.json"));
const { chromium } = require("playwright-core");
const { default: AxeBuilder } = require("@axe-core/playwright");

const ARTIFACTS = process.env.CONSOLE_ARTIFACTS || path.join(BUILD, "console-artifacts");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const only = process.argv[2] ? new RegExp(process.argv[2]) : null;

const results = [];
const pageErrors = [];
const metrics = {};
const tests = [];
const test = (name, fn) => tests.push({ name, fn });

function assert(cond, msg) {
  if (!cond) throw new Error("assertion failed: " + msg);
}

async function api(base, method, p, key, body) {
  const res = await fetch(base + p, {
    method,
    headers: { "X-API-Key": key, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

async function signIn(ctx, url, key) {
  const page = await ctx.newPage();
  await page.goto(url + "/signin");
  await page.fill("#apiKey", key);
  await page.click("[data-testid=signin-key]");
  await page.waitForURL(/\/tasks$/, { timeout: 20000 });
  return page;
}

async function axe(page, label) {
  const r = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  const bad = r.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  metrics.axe ??= {};
  metrics.axe[label] = { serious: bad.length, all: r.violations.length };
  assert(bad.length === 0, `axe on ${label}: ${bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`).join("; ")}`);
}

/** Latencies (ms, gateway ts → on screen) of the page's events of `types` emitted after its
 * stream opened: live ones, not replayed history. */
async function liveLatencies(page, types) {
  return page.evaluate((ts) => {
    const opened = window.__aionStreamOpenedAt ?? Infinity;
    return (window.__aionLatencies ?? []).filter((l) => ts.includes(l.type) && l.emitted >= opened).map((l) => l.ms);
  }, types);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(ARTIFACTS, name + ".png"), fullPage: true });
}

async function setPrefs(page, prefs) {
  await page.evaluate(async (p) => {
    await fetch("/api/prefs", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(p) });
  }, prefs);
}

const PAGES = ["/tasks", "/routing", "/policies", "/modules", "/usage"];

async function main() {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const tmp = tempDir();
  let aion, con, browser, fake;
  try {
    fake = await startFakeProvider(tmp);
    aion = await startAiond(tmp, { OPENAI_BASE_URL: fake.url + "/v1", OPENAI_API_KEY: fake.apiKey });
    con = await startConsole(tmp, aion);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    // what the pages themselves get wrong: uncaught exceptions and blocked resources (CSP)
    const watchPage = (p) => {
      p.on("pageerror", (e) => pageErrors.push(`${p.url()}: ${e.message}`));
      p.on("console", (m) => {
        if (m.type() === "error" && /Content.Security.Policy|Refused to/i.test(m.text())) pageErrors.push(`${p.url()}: ${m.text()}`);
      });
    };
    ctx.on("page", watchPage);
    const env = { aion, con, ctx, browser, url: con.url, watchPage };
    for (const t of tests) {
      // a filtered run still signs in first: the other tests use that session
      if (only && !only.test(t.name) && !t.name.startsWith("admin signs in")) continue;
      const started = Date.now();
      try {
        await t.fn(env);
        results.push({ name: t.name, ok: true, ms: Date.now() - started });
        console.log(`PASS ${t.name} (${Date.now() - started} ms)`);
      } catch (e) {
        results.push({ name: t.name, ok: false, error: e });
        console.log(`FAIL ${t.name}: ${e.stack || e}`);
        for (const p of ctx.pages()) await p.screenshot({ path: path.join(ARTIFACTS, `failure-${t.name.replace(/\W+/g, "-")}.png`) }).catch(() => {});
      }
    }
  } finally {
    await browser?.close().catch(() => {});
    await stop(con?.proc);
    await stop(aion?.proc);
    await stop(fake?.proc);
    if (results.some((r) => !r.ok)) {
      for (const f of ["aiond.log", "console.log", "fake-provider.log"]) {
        const p = path.join(tmp, f);
        if (fs.existsSync(p)) fs.copyFileSync(p, path.join(ARTIFACTS, f));
      }
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  fs.writeFileSync(path.join(ARTIFACTS, "metrics.json"), JSON.stringify(metrics, null, 2));
  console.log("metrics: " + JSON.stringify({ ...metrics, axe: undefined }));
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed || results.length === 0 ? 1 : 0);
}

// ---------------------------------------------------------------- the tests

test("a wrong key is refused at sign-in and pages need a session", async ({ ctx, url }) => {
  const page = await ctx.newPage();
  await page.goto(url + "/tasks");
  await page.waitForURL(/\/signin/);
  await axe(page, "signin");
  await shot(page, "signin-light");
  await page.fill("#apiKey", "not-a-key");
  await page.click("[data-testid=signin-key]");
  await page.waitForSelector("[data-testid=signin-error]");
  const r = await page.request.get(url + "/api/tasks");
  assert(r.status() === 401, "API without a session: " + r.status());
  await page.close();
});

test("Google sign-in is offered and its callback is wired", async ({ ctx, url }) => {
  const page = await ctx.newPage();
  await page.goto(url + "/signin");
  assert(await page.isVisible("[data-testid=signin-google]"), "Google button shown");
  const providers = await (await page.request.get(url + "/api/auth/providers")).json();
  assert(providers.google?.callbackUrl === url + "/api/auth/callback/google", JSON.stringify(providers));
  const { csrfToken } = await (await page.request.get(url + "/api/auth/csrf")).json();
  const r = await page.request.post(url + "/api/auth/signin/google", { form: { csrfToken, callbackUrl: url + "/tasks" }, maxRedirects: 0 });
  const loc = r.headers()["location"] ?? "";
  assert(r.status() === 302 && loc.startsWith("https://accounts.google.com/o/oauth2/v2/auth?"), `${r.status()} ${loc}`);
  const q = new URL(loc).searchParams;
  assert(q.get("client_id") === "test-client-id.apps.googleusercontent.com", "client id");
  assert(q.get("redirect_uri") === url + "/api/auth/callback/google", "redirect_uri " + q.get("redirect_uri"));
  // the callback answers (no state: refused back to the sign-in page), it is not a 404
  const cb = await page.request.get(url + "/api/auth/callback/google?code=x&state=y", { maxRedirects: 0 });
  assert(cb.status() === 302 && /(\/signin|\/api\/auth\/error)\?error=OAuthCallback/.test(cb.headers()["location"] ?? ""), `callback ${cb.status()} ${cb.headers()["location"]}`);
  await page.close();
});

test("admin signs in with a key; the key never reaches the browser", async ({ ctx, url }) => {
  const page = await signIn(ctx, url, "demo-key");
  const who = await page.textContent("[data-testid=whoami]");
  assert(/admin/.test(who) && /default/.test(who), "roles and tenant shown: " + who);
  const session = await (await page.request.get(url + "/api/auth/session")).text();
  assert(!session.includes("demo-key") && session.includes("admin"), "session JSON: " + session);
  const cookies = JSON.stringify(await ctx.cookies());
  assert(!cookies.includes("demo-key"), "cookies carry the key");
  const html = await page.content();
  assert(!html.includes("demo-key"), "page carries the key");
  const head = await page.request.get(url + "/tasks");
  const csp = head.headers()["content-security-policy"] ?? "";
  assert(/connect-src 'self'/.test(csp) && /frame-ancestors 'none'/.test(csp), "CSP: " + csp);
  await page.close();
});

test("tasks: submit a summarize task and watch its events arrive live", async ({ ctx, url, aion }) => {
  const list = await ctx.newPage();
  await list.goto(url + "/tasks");
  await list.waitForSelector("[data-testid=live-state]:has-text('live')");
  await axe(list, "tasks");
  await shot(list, "tasks-light");
  const page = await ctx.newPage();
  await page.goto(url + "/tasks");
  await page.selectOption("[data-testid=intent]", "summarize");
  // the params are checked against the intent's schema before sending
  await page.fill("[data-testid=params]", '{"wrong": 1}');
  await page.waitForSelector("[data-testid=params-errors] li:has-text('params.text: is required')");
  assert(await page.isDisabled("[data-testid=submit]"), "submit disabled while params are invalid");
  await page.fill("[data-testid=params]", JSON.stringify({ text: "The console shows events as they come. It resumes after a reload. Operators like it." }));
  await page.click("[data-testid=submit]");
  await page.waitForURL(/\/tasks\/tsk_/);
  const id = page.url().split("/").pop();
  await page.waitForSelector("[data-testid=events] li[data-type=done]", { timeout: 20000 });
  const types = await page.$$eval("[data-testid=events] li", (els) => els.map((e) => e.dataset.type));
  assert(types[0] === "status" && types.includes("route") && types.includes("result") && types.at(-1) === "done", types.join(","));
  const seqs = await page.$$eval("[data-testid=events] li", (els) => els.map((e) => Number(e.dataset.seq)));
  assert(seqs.every((s, i) => s === i + 1), "gap-free seq: " + seqs);
  await page.waitForSelector("[data-testid=result]");
  await page.waitForSelector("[data-testid=candidates] tr[data-kept=true]");
  await page.waitForSelector("[data-testid=task-status]:has-text('succeeded')");
  // the live list (opened before) got the task without a reload
  await list.waitForSelector(`tr[data-task="${id}"] [data-testid=task-status]:has-text('succeeded')`, { timeout: 10000 });
  // and so a task submitted elsewhere (straight to the gateway, like curl), no polling involved
  const polls = [];
  list.on("request", (r) => {
    if (r.url().includes("/api/")) polls.push(r.url()); // (link prefetches of new rows are not polls)
  });
  const other = await api(aion.gateway, "POST", "/v1/tasks", "user-key", { intent: "summarize", params: { text: "From curl. Not the console." } });
  assert(other.status === 202, JSON.stringify(other.json));
  await list.waitForSelector(`tr[data-task="${other.json.taskId}"] [data-testid=task-status]:has-text('succeeded')`, { timeout: 10000 });
  assert(polls.length === 0, "the list made requests: " + polls.join(", "));
  await axe(page, "task");
  await shot(page, "task-light");
  await list.close();
  await page.close();
});

test("tasks: cancel a long task; the page resumes after a reload without repeats", async ({ ctx, url, aion }) => {
  assert(aion.hasSpin, "the spin test module is built (build/test-modules/spin.wasm)");
  const page = await ctx.newPage();
  const streams = [];
  page.on("request", (r) => {
    if (r.url().includes("/events")) streams.push(r.url());
  });
  await page.goto(url + "/tasks");
  await page.selectOption("[data-testid=intent]", "spin");
  await page.fill("[data-testid=params]", '{"ms": 30000}');
  await page.click("[data-testid=submit]");
  await page.waitForURL(/\/tasks\/tsk_/);
  await page.waitForSelector("[data-testid=events] li[data-type=status] >> text=running", { timeout: 20000 });
  const before = await page.$$eval("[data-testid=events] li", (els) => els.length);
  await page.reload();
  // shown at once from the session's copy, and the stream resumes after the last one
  await page.waitForSelector("[data-testid=events] li >> text=running");
  const last = streams.at(-1) ?? "";
  assert(/lastEventId=[1-9]/.test(last), "resumed with lastEventId: " + last);
  await page.waitForSelector("[data-testid=stream-state]:has-text('live')");
  const t0 = Date.now();
  await page.click("[data-testid=cancel]");
  await page.waitForSelector("[data-testid=events] li[data-type=done]", { timeout: 10000 });
  metrics.cancelToDoneShownMs = Date.now() - t0;
  await page.waitForSelector("[data-testid=task-status]:has-text('canceled')");
  const seqs = await page.$$eval("[data-testid=events] li", (els) => els.map((e) => Number(e.dataset.seq)));
  assert(new Set(seqs).size === seqs.length && seqs.length > before, "no repeats after resume: " + seqs);
  const live = await liveLatencies(page, ["done", "error"]);
  assert(live.length > 0, "live events measured");
  metrics.cancelEventLatencyMs = live.map((l) => Math.round(l * 10) / 10);
  assert(await page.$("[data-testid=cancel]") === null, "no cancel button on a finished task");
  await page.close();
});

test("event latency: gateway timestamp to the page, for live events", async ({ ctx, url, aion }) => {
  // Several short spin tasks: the page connects while each runs, so its
  // terminal events are live. ts is stamped by aiond when it emits.
  const page = await ctx.newPage();
  const samples = [];
  for (let i = 0; i < 5; i++) {
    const r = await api(aion.gateway, "POST", "/v1/tasks", "demo-key", { intent: "spin", params: { ms: 1500 } });
    assert(r.status === 202, JSON.stringify(r.json));
    await page.goto(`${url}/tasks/${r.json.taskId}`);
    await page.waitForSelector("[data-testid=events] li[data-type=done]", { timeout: 15000 });
    await page.waitForFunction(() => (window.__aionLatencies ?? []).some((l) => l.type === "done"));
    samples.push(...(await liveLatencies(page, ["result", "done"])));
  }
  samples.sort((a, b) => a - b);
  const round = (x) => Math.round(x * 10) / 10;
  metrics.liveEventLatency = { n: samples.length, p50Ms: round(samples[Math.floor(samples.length / 2)]), maxMs: round(samples.at(-1)) };
  assert(samples.length >= 5, "samples: " + samples.length);
  // The figure (target 100 ms) is reported with the run's metrics, not asserted: timings on
  // this shared 2-core machine are noise. That the events arrived live is asserted above.
  await page.close();
});

test("tasks: a chat task's tokens stream onto the page as the provider sends them", async ({ ctx, url, aion }) => {
  const words = Array.from({ length: 40 }, (_, i) => `word${i}`).join(" ");
  const r = await api(aion.gateway, "POST", "/v1/tasks", "demo-key", { intent: "chat", params: { messages: [{ role: "user", content: words }], stream: true } });
  assert(r.status === 202, JSON.stringify(r.json));
  const page = await ctx.newPage();
  await page.goto(`${url}/tasks/${r.json.taskId}`);
  // some tokens are on the page while others are still coming (0.05 s apart)
  await page.waitForSelector("[data-testid=delta-text]", { timeout: 15000 });
  const partial = await page.textContent("[data-testid=delta-text]");
  await page.waitForSelector("[data-testid=events] li[data-type=done]", { timeout: 20000 });
  const full = await page.textContent("[data-testid=delta-text]");
  assert(full.includes("echo: word0") && full.includes("word39"), "the whole answer: " + full);
  assert(partial.length < full.length, `tokens arrived one by one (${partial.length} then ${full.length} chars)`);
  const deltas = await page.$$eval("[data-testid=events] li[data-type=delta]", (els) => els.length);
  assert(deltas >= 20, "delta events: " + deltas);
  await page.waitForSelector("[data-testid=task-summary]:has-text('$')");
  const live = (await liveLatencies(page, ["delta"])).sort((a, b) => a - b);
  assert(live.length >= 10, "live deltas: " + live.length);
  metrics.deltaLatency = { n: live.length, p50Ms: Math.round(live[Math.floor(live.length / 2)] * 10) / 10, maxMs: Math.round(live.at(-1) * 10) / 10 };
  await page.close();
});

test("routing: dry run shows every candidate kept or dropped with its reason", async ({ ctx, url, aion }) => {
  const page = await ctx.newPage();
  await page.goto(url + "/routing");
  await page.selectOption("[data-testid=intent]", "chat");
  const chat = { messages: [{ role: "user", content: "hello" }] };
  await page.fill("[data-testid=params]", JSON.stringify(chat));
  await page.click("[data-testid=decide]");
  await page.waitForSelector("[data-testid=candidates] tbody tr");
  const rows = await page.$$eval("[data-testid=candidates] tbody tr", (els) => els.map((e) => ({ kept: e.dataset.kept, text: e.textContent })));
  const direct = await api(aion.control, "POST", "/v1/router/decide", "demo-key", { intent: "chat", params: chat });
  const cands = direct.json?.candidates ?? direct.json?.error?.details?.candidates ?? [];
  assert(rows.length === cands.length && rows.length > 1, `rows ${rows.length} vs candidates ${cands.length}`);
  assert(rows.some((r) => r.kept === "false"), "a dropped candidate is shown");
  for (const c of cands.filter((c) => !c.kept)) assert(rows.some((r) => r.text.includes(c.reason)), "reason shown: " + c.reason);
  await page.selectOption("[data-testid=intent]", "summarize");
  await page.fill("[data-testid=params]", '{"text": "x"}');
  await page.click("[data-testid=decide]");
  await page.waitForSelector("[data-testid=primary]");
  await axe(page, "routing");
  await shot(page, "routing-light");
  await page.close();
});

async function editorText(page, text) {
  await page.click(".cm-content");
  await page.keyboard.press("Control+A");
  await page.keyboard.press("Delete");
  await page.keyboard.insertText(text);
}

test("policies: a broken file is refused at its line and the policy in force stays; fixed, it reloads", async ({ ctx, url, aion }) => {
  const file = path.join(aion.policyDir, "policies.yml");
  const good = fs.readFileSync(file, "utf8");
  const digest0 = (await api(aion.control, "GET", "/v1/policy/files", "demo-key")).json.digest;
  const page = await ctx.newPage();
  await page.goto(url + "/policies");
  // the file tabs work from the keyboard: arrows move between them
  await page.focus("[data-testid='tab-intents.yml']");
  await page.keyboard.press("ArrowRight");
  await page.waitForSelector("[data-testid='tab-policies.yml'][aria-selected=true]");
  assert(await page.evaluate(() => document.activeElement?.getAttribute("data-testid")) === "tab-policies.yml", "focus follows");
  await page.waitForSelector(".cm-content");
  await axe(page, "policies");
  await shot(page, "policies-light");
  const broken = "version: 1\nbudget:\n  default_usd: 5.0\n  hard_cap_usd: 0.2\n";
  await editorText(page, broken);
  await page.click("[data-testid=save]");
  await page.waitForSelector("[data-testid=policy-message]");
  const msg = await page.textContent("[data-testid=policy-message]");
  assert(/unchanged/.test(msg), "refused message: " + msg);
  const errs = await page.textContent("[data-testid=policy-errors]");
  assert(/policies\.yml:3: budget\.default_usd/.test(errs), "error at the line: " + errs);
  await page.waitForSelector(".cm-lint-marker-error, .cm-lintRange-error");
  assert(fs.readFileSync(file, "utf8") === good, "file on disk unchanged");
  assert((await api(aion.control, "GET", "/v1/policy/files", "demo-key")).json.digest === digest0, "digest unchanged");
  await shot(page, "policies-error-light");
  // fixed, with period budgets the usage page shows against spend
  const fixed = good + "\n# saved from the console e2e\nbudgets:\n  tenants:\n    default: {day_usd: 1, month_usd: 10}\n";
  await editorText(page, fixed);
  await page.click("[data-testid=save]");
  await page.waitForSelector("[data-testid=policy-message]:has-text('reloaded')");
  assert(fs.readFileSync(file, "utf8") === fixed, "file written");
  const digest1 = (await api(aion.control, "GET", "/v1/policy/files", "demo-key")).json.digest;
  assert(digest1 !== digest0 && (await page.textContent("[data-testid=digest]")) === digest1, "new digest in force and shown");
  await page.close();
});

test("modules: signature and SBOM status, limits; disable and enable", async ({ ctx, url }) => {
  const page = await ctx.newPage();
  await page.goto(url + "/modules");
  await page.waitForSelector("[data-testid=modules] tr[data-module=summarize]");
  const row = await page.textContent("tr[data-module=summarize]");
  assert(/verified/.test(row) && /CycloneDX/.test(row) && /mem/.test(row), row);
  await axe(page, "modules");
  await shot(page, "modules-light");
  await page.click("[data-testid=toggle-classify]");
  await page.waitForSelector("tr[data-module=classify] [data-testid=toggle-classify]:has-text('Enable')");
  await page.click("[data-testid=toggle-classify]");
  await page.waitForSelector("tr[data-module=classify] [data-testid=toggle-classify]:has-text('Disable')");
  await page.close();
});

test("usage: charts of spend with latency and overhead", async ({ ctx, url }) => {
  const page = await ctx.newPage();
  await page.goto(url + "/usage");
  await page.waitForSelector("[data-testid=usage-totals]");
  await page.waitForSelector(".recharts-wrapper");
  // the chat task on the fake provider was billed: it is in the totals and the charts
  const totals = await page.textContent("[data-testid=usage-totals]");
  assert(/Calls: [1-9]/.test(totals) && !/Total spend: \$0\.00(?!\d)/.test(totals), "spend recorded: " + totals);
  const captions = await page.$$eval("figcaption", (els) => els.map((e) => e.textContent).join(" | "));
  assert(/openai: \$0\.0000\d/.test(captions) && /gpt-4o-mini/.test(captions), "charts: " + captions);
  const budgets = await page.textContent("[data-testid=budgets]");
  assert(/default/.test(budgets) && /\$1\.00/.test(budgets) && /\$10\.00/.test(budgets), "budgets from policies.yml: " + budgets);
  assert((await page.$$("[data-testid=budgets] meter")).length === 2, "a meter per budget");
  const lat = await page.textContent("[data-testid=latency]");
  assert(/p50/.test(lat) && !/n = 0/.test(lat), lat);
  await axe(page, "usage");
  await shot(page, "usage-light");
  await page.close();
});

test("dark theme on every page", async ({ ctx, url }) => {
  const page = await ctx.newPage();
  await page.goto(url + "/tasks");
  await page.click("[data-testid=theme]");
  await page.waitForSelector("html.dark");
  for (const p of PAGES) {
    await page.goto(url + p);
    await page.waitForLoadState("networkidle").catch(() => {});
    assert(await page.$("html.dark"), "dark on " + p);
    await axe(page, "dark " + p);
    await shot(page, `${p.slice(1)}-dark`);
  }
  await page.click("[data-testid=theme]");
  await page.waitForSelector("html.light");
  await page.close();
});

test("Arabic and Hebrew: dir=rtl, mirrored layout, Intl formatting", async ({ ctx, url }) => {
  const page = await ctx.newPage();
  await page.goto(url + "/tasks");
  const ltrBrand = await page.locator("[data-testid=brand]").boundingBox();
  await page.selectOption("[data-testid=lang]", "ar");
  await page.waitForSelector("html[dir=rtl][lang=ar]");
  await page.waitForSelector("text=المهام");
  const brand = await page.locator("[data-testid=brand]").boundingBox();
  const vw = page.viewportSize().width;
  assert(ltrBrand.x < vw / 2 && brand.x + brand.width > vw / 2, `brand mirrored: ltr x=${ltrBrand.x}, rtl x=${brand.x}`);
  const td = await page.$eval("table.data td", (e) => getComputedStyle(e).textAlign).catch(() => "start");
  assert(td === "start" || td === "right", "table cells align to the start: " + td);
  for (const p of PAGES) {
    await page.goto(url + p);
    await page.waitForLoadState("networkidle").catch(() => {});
    assert(await page.$("html[dir=rtl]"), "rtl on " + p);
    await axe(page, "rtl " + p);
    await shot(page, `${p.slice(1)}-rtl-ar`);
  }
  // numbers and money per locale (Arabic-Indic digits in ar-EG)
  await page.goto(url + "/usage");
  const totals = await page.textContent("[data-testid=usage-totals]");
  assert(/[٠-٩]/.test(totals), "Arabic digits: " + totals);
  await page.selectOption("[data-testid=lang]", "he");
  await page.waitForSelector("html[dir=rtl][lang=he]");
  await page.waitForSelector("text=משימות");
  await shot(page, "usage-rtl-he");
  await page.selectOption("[data-testid=lang]", "en");
  await page.waitForSelector("html[dir=ltr][lang=en]");
  await page.close();
});

test("viewer: can look, cannot submit, cancel or edit policies", async ({ browser, url, aion, watchPage }) => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  ctx.on("page", watchPage);
  const page = await signIn(ctx, url, "viewer-key");
  assert(await page.isDisabled("[data-testid=submit]"), "submit disabled");
  const nav = await page.textContent("nav");
  assert(!/Policies/.test(nav), "no policies link: " + nav);
  await page.goto(url + "/policies");
  await page.waitForSelector("[data-testid=forbidden]");
  assert(!(await page.$(".cm-content")), "no editor");
  const put = await page.request.put(url + "/api/policies/policies.yml", { data: { text: "version: 1\n" } });
  assert(put.status() === 403, "PUT as viewer: " + put.status());
  const r = await api(aion.gateway, "POST", "/v1/tasks", "demo-key", aion.hasSpin ? { intent: "spin", params: { ms: 3000 } } : { intent: "summarize", params: { text: "x" } });
  await page.goto(`${url}/tasks/${r.json.taskId}`);
  await page.waitForSelector("[data-testid=events] li");
  assert(!(await page.$("[data-testid=cancel]")), "no cancel button for a viewer");
  const cancel = await page.request.post(`${url}/api/tasks/${r.json.taskId}/cancel`);
  assert(cancel.status() === 403, "cancel as viewer: " + cancel.status());
  await axe(page, "task (viewer)");
  await ctx.close();
});

test("the task page's first-load JavaScript", async ({ ctx, url }) => {
  const page = await ctx.newPage();
  const scripts = new Map();
  page.on("response", async (r) => {
    if (r.request().resourceType() === "script") scripts.set(r.url(), r.url());
  });
  const r = await api(url.replace(/\/$/, ""), "GET", "/tasks", "", undefined).catch(() => null);
  void r;
  await page.goto(url + "/tasks");
  const first = await api(url, "GET", "/api/tasks?limit=1", "", undefined);
  void first;
  const listed = await page.evaluate(async () => (await (await fetch("/api/tasks?limit=1")).json()).items?.[0]?.taskId);
  scripts.clear();
  await page.goto(`${url}/tasks/${listed}`, { waitUntil: "networkidle" });
  const zlib = await import("node:zlib");
  let gz = 0;
  for (const s of scripts.keys()) {
    const body = Buffer.from(await (await fetch(s)).arrayBuffer());
    gz += zlib.gzipSync(body, { level: 9 }).length;
  }
  metrics.taskPageJsGzipKB = Math.round(gz / 102.4) / 10;
  metrics.taskPageScripts = scripts.size;
  assert(gz <= 200 * 1024, `task page JS ${metrics.taskPageJsGzipKB} KB gzip > 200 KB`);
  await page.close();
});

test("no page threw or had anything blocked by its Content-Security-Policy", async () => {
  assert(pageErrors.length === 0, pageErrors.slice(0, 5).join("\n"));
});

main().catch((e) => {
  console.error(e);
  console.log(`0 passed, 1 failed`);
  process.exit(1);
});
