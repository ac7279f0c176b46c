#!/usr/bin/env python3
"""The hot-path figures of issue 11 for one or more aiond builds, in one run (bench/README.md).

Per variant (a build, a label and environment variables), on a fresh aiond (temp data dir,
the policies of the build's own source tree unless --policy-dir, modules from <build>/modules)
and a fresh `aion_loadgen upstream` (an instant OpenAI-compatible server):

  chat     POST /v1/chat/completions (model gpt-4o-mini, non-streaming), straight to the
           upstream (baseline), through `aion_loadgen proxy` (a bare C++ pass-through: the floor
           any C++ gateway pays here) and through aiond's openai provider, each at saturation
           (closed loop, --conns connections) and at 1 connection (closed loop): req/s and
           their ratios; added latency = p50/p99 through a proxy minus direct, measured back to back;
           aiond's CPU per call through it (every aiond process, from /proc, warm-up included),
           which the machine's noise moves less than rates
  submit   POST /v1/tasks (summarize, ~1 KB) at saturation: 202s per second
  done     --tasks submissions as fast as they go (an open-loop schedule 1.25x faster than
           the submit rate, so every connection sends back to back), then wait until none is
           routed, queued or running: tasks accepted / elapsed
  wasm     the rows of <build>/bench/bench_modules whose name says "empty": p50 per call

Variants run one after another, each with its own direct baseline, so noise hits both sides
of every ratio. One aion_loadgen binary drives them all: this tree's build's, else the first
variant build's that has the bare proxy.
Measures, never asserts. A variant that fails (not built, aiond exits, the check fails) is reported
as such and the others are still measured; the exit status is then 1.

  bench/hotpath.py --build /work/base/build --build build --label before --label after
  bench/hotpath.py --variant sync:build:AION_DURABILITY=sync --variant async:build:AION_DURABILITY=async
  bench/hotpath.py --variant off:build:AION_DURABILITY=async \
      --variant traced:build:AION_DURABILITY=async,OTEL_EXPORTER_OTLP_ENDPOINT={upstream}
  bench/hotpath.py --variant embedded:build:AION_DURABILITY=async \
      --variant split:build:AION_DURABILITY=async,BENCH_ROLES=split

BENCH_ROLES (read here, not passed to aiond): all (default) runs one aiond; split runs a control
role and a gateway role in front of it over gRPC; split3 adds a module host role.
"""
import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from gateway import ANSWER, CHAT, KEY, REPO, TEXT, Bench, chat_content, has_bare_proxy, proc_stats, request  # beside this file

JSON_TYPE = "Content-Type: application/json"
DRAIN_TIMEOUT_S = 600  # a build whose tasks never finish fails instead of hanging the run
ROWS = [  # key, metric, format
    ("chat_direct_rps", "chat req/s, upstream direct ({c} conns)", "{:.0f}"),
    ("chat_proxied_rps", "chat req/s, through aiond ({c} conns)", "{:.0f}"),
    ("chat_ratio", "chat req/s, through aiond / direct", "{:.4f}"),
    ("bare_rps", "chat req/s, bare C++ proxy ({c} conns)", "{:.0f}"),
    ("bare_ratio", "chat req/s, bare C++ proxy / direct", "{:.4f}"),
    ("chat_vs_bare", "chat req/s, through aiond / bare C++ proxy", "{:.4f}"),
    ("added_p50_us", "chat added latency p50, 1 conn (us)", "{:.0f}"),
    ("added_p99_us", "chat added latency p99, 1 conn (us)", "{:.0f}"),
    ("bare_added_p50_us", "bare C++ proxy added latency p50, 1 conn (us)", "{:.0f}"),
    ("bare_added_p99_us", "bare C++ proxy added latency p99, 1 conn (us)", "{:.0f}"),
    ("cpu_us_per_call", "aiond CPU per chat call, {c} conns (us)", "{:.0f}"),
    ("cpu_us_per_call_1", "aiond CPU per chat call, 1 conn (us)", "{:.0f}"),
    ("bare_cpu_us_per_call", "bare C++ proxy CPU per chat call, {c} conns (us)", "{:.0f}"),
    ("bare_cpu_us_per_call_1", "bare C++ proxy CPU per chat call, 1 conn (us)", "{:.0f}"),
    ("submit_rps", "POST /v1/tasks 202/s ({c} conns)", "{:.0f}"),
    ("done_rps", "submit -> done tasks/s ({n} tasks)", "{:.0f}"),
]


@dataclass
class Variant:
    label: str
    build: Path
    env: dict = field(default_factory=dict)
    res: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    error: str = None


def env_pairs(text):
    """'K=V,K2=V2' (a comma starts a new pair only before NAME=) -> dict."""
    pairs = [p for p in re.split(r",(?=[A-Za-z_][A-Za-z0-9_]*=)", text) if p]
    if not all("=" in p for p in pairs):
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE[,KEY=VALUE]: {text!r}")
    return dict(p.split("=", 1) for p in pairs)


def variant_arg(text):
    parts = text.split(":", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise argparse.ArgumentTypeError(f"expected LABEL:BUILD[:K=V[,K=V]]: {text!r}")
    return Variant(parts[0], Path(parts[1]), env_pairs(parts[2]) if len(parts) > 2 else {})


def source_dir(build):
    """The source tree a CMake build directory was configured from, if it says."""
    cache = build / "CMakeCache.txt"
    if cache.exists():
        m = re.search(r"^CMAKE_HOME_DIRECTORY:INTERNAL=(.*)$", cache.read_text(errors="replace"), re.M)
        if m:
            return Path(m.group(1))
    return None


def describe(build):
    src = source_dir(build)
    if not src:
        return "source unknown"
    git = subprocess.run(["git", "-C", str(src), "describe", "--always", "--dirty"],
                         capture_output=True, text=True)
    return f"{src} @ {git.stdout.strip() or '?'}"


def policy_dir(args, build):
    if args.policy_dir:
        return args.policy_dir
    src = source_dir(build)
    # Each build with the policies it shipped with: a newer policy file may not load in an older build.
    return str(src / "policies") if src and (src / "policies").is_dir() else str(REPO / "policies")


# -- one variant ----------------------------------------------------------------------
def start_aiond(b, v):
    """aiond with the variant's variables ({upstream} in a value: the instant upstream's URL, which is
    also an OTLP/HTTP sink); AION_MODULES_ALLOW_UNSIGNED only if modules were refused."""
    v.env = {k: val.replace("{upstream}", f"http://127.0.0.1:{b.up_port}") for k, val in v.env.items()}
    roles = v.env.pop("BENCH_ROLES", "all")
    if roles not in ("all", "split", "split3"):
        raise SystemExit(f"BENCH_ROLES must be all, split or split3, not {roles!r}")
    b.start_aiond(v.env, roles)
    _, data = request(b.gw, "GET", "/readyz")
    try:
        refused = json.loads(data).get("checks", {}).get("refusedModules") or []
    except ValueError:
        refused = []
    if refused and "AION_MODULES_ALLOW_UNSIGNED" not in v.env:
        v.notes.append(f"modules refused {refused}: restarted with AION_MODULES_ALLOW_UNSIGNED=true")
        for proc in b.aionds:
            proc.terminate()
            proc.wait(30)
            b.procs.remove(proc)
        b.aionds = []
        b.start_aiond({**v.env, "AION_MODULES_ALLOW_UNSIGNED": "true"}, roles)


def check_chat_path(b):
    """One chat completion through aiond must come back with the upstream's answer, after one upstream call."""
    before = b.upstream_chats()
    st, data = request(b.gw, "POST", "/v1/chat/completions", CHAT,
                       {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    content = chat_content(data)
    calls = b.upstream_chats() - before
    if st != 200 or content != ANSWER or calls != 1:
        raise SystemExit(f"aiond does not reach the upstream: {st} {data[:500]!r}, upstream calls {calls} "
                         f"(is the openai provider routed for model {CHAT['model']}?)")


def run(b, label, argv, conns, duration, warmup):
    rep = b.load(argv, 0, conns, duration, warmup)
    bad = {k: n for k, n in rep["statuses"].items() if not k.startswith("2")}
    print(f"  {label:40} {rep['rps']:>7} ok/s, p50 {rep['latency_us']['p50']:>6} us, "
          f"p99 {rep['latency_us']['p99']:>7} us" + (f", NOT 2xx {bad}" if bad else ""), flush=True)
    return rep


def aiond_cpu_s(b):
    """CPU time (user+system) of every aiond process so far: one, or each role of a split."""
    return sum(proc_stats(p.pid)["cpu"] for p in b.aionds)


def chat_figures(b, v, args):
    direct = b.http_args(b.up_port, "/v1/chat/completions", "POST", CHAT, (JSON_TYPE,))
    bare = b.http_args(b.bare_port, "/v1/chat/completions", "POST", CHAT, (JSON_TYPE,))
    proxied = b.http_args(b.gw, "/v1/chat/completions", "POST", CHAT, (f"Authorization: Bearer {KEY}", JSON_TYPE))
    cpu_now = {"proxied": lambda: aiond_cpu_s(b), "bare": lambda: proc_stats(b.bare.pid)["cpu"]}
    r = {}
    for conns in (args.conns, 1):  # back to back: the same noise for each
        for side, argv in (("direct", direct), ("bare", bare), ("proxied", proxied)):
            cpu_of = cpu_now.get(side)
            before, cpu = b.upstream_chats(), cpu_of() if cpu_of else 0
            rep = r[f"{side}@{conns}"] = run(b, f"chat {side}, {conns} conn(s)", argv, conns,
                                             args.duration, args.warmup)
            rep["upstream_calls"] = b.upstream_chats() - before
            if cpu_of:  # CPU moves less with the machine's noise than rates do
                sent = rep["requests"] + rep["warmup_requests"]
                rep["cpu_us_per_call"] = (cpu_of() - cpu) * 1e6 / sent if sent else None
    d, p, n = r[f"direct@{args.conns}"], r[f"proxied@{args.conns}"], r[f"bare@{args.conns}"]
    d1, p1, n1 = r["direct@1"]["latency_us"], r["proxied@1"]["latency_us"], r["bare@1"]["latency_us"]
    v.res.update(chat_direct_rps=d["rps"], chat_proxied_rps=p["rps"],
                 chat_ratio=p["rps"] / d["rps"] if d["rps"] else None,
                 bare_rps=n["rps"], bare_ratio=n["rps"] / d["rps"] if d["rps"] else None,
                 chat_vs_bare=p["rps"] / n["rps"] if n["rps"] else None,
                 added_p50_us=p1["p50"] - d1["p50"], added_p99_us=p1["p99"] - d1["p99"],
                 bare_added_p50_us=n1["p50"] - d1["p50"], bare_added_p99_us=n1["p99"] - d1["p99"],
                 cpu_us_per_call=p.get("cpu_us_per_call"),
                 cpu_us_per_call_1=r["proxied@1"].get("cpu_us_per_call"),
                 bare_cpu_us_per_call=n.get("cpu_us_per_call"),
                 bare_cpu_us_per_call_1=r["bare@1"].get("cpu_us_per_call"), chat_runs=r)
    through = [r[k] for k in r if k.startswith("proxied")]
    v.notes.append(f"chat at 1 conn: direct p50/p99 {d1['p50']}/{d1['p99']} us, bare C++ proxy "
                   f"{n1['p50']}/{n1['p99']} us, through aiond "
                   f"{p1['p50']}/{p1['p99']} us; upstream calls in the runs through aiond: "
                   f"{sum(x['upstream_calls'] for x in through)} for "
                   f"{sum(x['requests'] + x['warmup_requests'] for x in through)} requests sent")


def finished_by_status(b):
    """aion_tasks_finished_total by status from the control port's /metrics ({} if it has none)."""
    st, data = request(b.ctl, "GET", "/metrics")
    text = data.decode(errors="replace") if st == 200 else ""
    out = {}
    for labels, value in re.findall(r"^aion_tasks_finished_total\{([^}]*)\}\s+(\S+)$", text, re.M):
        status = re.search(r'status="([^"]*)"', labels)
        key = status.group(1) if status else "?"
        out[key] = out.get(key, 0) + float(value)
    return out


def task_figures(b, v, args):
    body = {"schemaVersion": "1.0", "intent": "summarize", "params": {"text": TEXT}}
    argv = b.http_args(b.gw, "/v1/tasks", "POST", body, (f"X-API-Key: {KEY}", JSON_TYPE))
    sat = run(b, f"POST /v1/tasks, {args.conns} conns", argv, args.conns, args.duration, args.warmup)
    sat["drain_s"] = b.drain(DRAIN_TIMEOUT_S)
    v.res["submit_rps"] = sat["statuses"].get("202", 0) / args.duration
    # Exactly N submissions as fast as they go: an open-loop schedule of N sends 1.25x faster than the
    # saturation just measured keeps every connection behind, so each sends back to back. aion_loadgen
    # gives up on sends still due at end + max(2 s, schedule), counted as not sent: enough unless the
    # rate drops below ~0.6x. The schedule ends half a slot after the N-th send (exactly N slots).
    rate = min(1.25 * max(v.res["submit_rps"], 100), (args.tasks - 0.5) / 0.1)  # a run lasts >= 0.1 s
    before, t0 = finished_by_status(b), time.monotonic()
    burst = b.load(argv, rate, args.conns, (args.tasks - 0.5) / rate, 0)
    submitted_s = time.monotonic() - t0
    b.drain(DRAIN_TIMEOUT_S)
    elapsed = time.monotonic() - t0
    n = burst["statuses"].get("202", 0)
    print(f"  {'POST /v1/tasks x ' + str(args.tasks) + ', then wait':40} {n / elapsed:>7.0f} done/s "
          f"({n} accepted in {submitted_s:.2f} s, all done after {elapsed:.2f} s)", flush=True)
    v.res.update(done_rps=n / elapsed, done_tasks=n, submit_runs={"sat": sat, "burst": burst})
    done = {k: round(x - before.get(k, 0)) for k, x in finished_by_status(b).items() if x > before.get(k, 0)}
    v.notes.append(f"submit -> done: {n} accepted (statuses {burst['statuses']}, {burst['unsent']} not sent) "
                   f"in {submitted_s:.2f} s, all done after {elapsed:.2f} s "
                   f"(from launching the client); finished {done or 'n/a (no aion_tasks_finished_total)'}; "
                   f"backlog after the saturation run drained in {sat['drain_s']:.1f} s")


def token_ending_at(line, end):
    """The token of a right-aligned column whose header ends at `end`."""
    best = min(re.finditer(r"\S+", line), key=lambda m: abs(m.end() - end), default=None)
    return best.group() if best and abs(best.end() - end) <= 2 else None


def wasm_figures(v):
    exe = v.build / "bench" / "bench_modules"
    if not exe.exists():
        v.notes.append(f"wasm: {exe} not built")
        return
    print(f"  {exe.name} {v.build}", flush=True)
    out = subprocess.run([str(exe), str(v.build)], capture_output=True, text=True, timeout=900,
                         env={**os.environ, **v.env})
    lines = out.stdout.splitlines()
    head = next((i for i, line in enumerate(lines) if "p50 us" in line and "threads" in line), None)
    if out.returncode or head is None:
        v.notes.append(f"wasm: bench_modules exited {out.returncode} without its table: "
                       f"{(out.stderr or out.stdout).strip()[-300:]}")
        return
    p50_end = lines[head].index("p50 us") + len("p50 us")
    threads_end = lines[head].index("threads") + len("threads")
    for line in lines[head + 1:]:
        if not line.strip():
            break
        name = re.split(r"\s{2,}", line.strip())[0]
        p50 = token_ending_at(line, p50_end)
        if "empty" in name.lower() and p50:
            v.res[f"wasm:{name}, {token_ending_at(line, threads_end)} thread(s)"] = float(p50)


def measure(v, args, loadgen):
    ns = argparse.Namespace(build=str(v.build), policy_dir=policy_dir(args, v.build), data_parent=args.data_parent,
                            workers=0, store_sync=None, conns=args.conns, duration=args.duration,
                            warmup=args.warmup)  # what gateway.Bench reads
    v.notes.insert(0, f"policies {ns.policy_dir}")
    print(f"\n{v.label}: {v.build} ({describe(v.build)}), policies {ns.policy_dir}, env {v.env or '-'}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="aion-hotpath-"))
    b = Bench(ns, tmp)
    b.loadgen = loadgen  # one client and upstream binary for every variant
    stage = "start"
    try:
        b.start_upstream()
        b.start_bare_proxy()
        start_aiond(b, v)
        stage = "check"
        check_chat_path(b)
        print("  check: one chat completion through aiond reached the upstream once and returned its answer")
        stage = "chat"
        chat_figures(b, v, args)
        stage = "tasks"
        task_figures(b, v, args)
    except (SystemExit, Exception) as e:  # a failing build: say why, measure the others
        msg = f"{stage}: " + (str(e) if isinstance(e, SystemExit) else f"{type(e).__name__}: {e}")
        if getattr(b, "aiond", None):
            try:
                msg += f" (aiond exited with {b.aiond.wait(1)})"
            except subprocess.TimeoutExpired:
                pass
        log = tmp / "aiond.log"
        tail = log.read_text(errors="replace")[-600:].strip() if log.exists() else ""
        if tail and tail not in msg:
            msg += "\naiond log tail:\n" + tail
        v.error = msg.strip().replace("\n", "\n    ")
        print(f"  FAILED: {v.error}", flush=True)
    finally:
        b.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(b.data_dir, ignore_errors=True)
    wasm_figures(v)


# -- report ---------------------------------------------------------------------------
def ratio(x, base):
    if x is None or not base or (base < 0) != (x < 0):
        return "-"
    return f"{x / base:.2f}x"


def print_table(variants, args):
    wasm = list(dict.fromkeys(k for v in variants for k in v.res if k.startswith("wasm:")))
    rows = [(k, m.format(c=args.conns, n=args.tasks), f) for k, m, f in ROWS]
    rows += [(k, f"WASM empty call p50 (us): {k[5:]}", "{:.1f}") for k in wasm]
    base = variants[0]
    head = ["metric"] + [v.label for v in variants] + [f"{v.label} / {base.label}" for v in variants[1:]]
    print("\n| " + " | ".join(head) + " |")
    print("|---" + "|---:" * (len(head) - 1) + "|")
    for key, metric, f in rows:
        cells = ["-" if v.res.get(key) is None else f.format(v.res[key]) for v in variants]
        cells += [ratio(v.res.get(key), base.res.get(key)) for v in variants[1:]]
        print(f"| {metric} | " + " | ".join(cells) + " |")
    print("\nagainst issue 11's aims (benchmarks, not tests), beside what the bare C++ proxy reaches here:")
    for v in variants:
        r = v.res
        if r.get("chat_ratio") is None:
            continue
        print(f"  {v.label}: through aiond / direct {r['chat_ratio']:.3f} (aim >= 0.40; bare proxy "
              f"{r['bare_ratio']:.3f}); added p50 {r['added_p50_us']:.0f} us (aim <= 100; bare proxy "
              f"{r['bare_added_p50_us']:.0f}), p99 {r['added_p99_us']:.0f} us (aim <= 500; bare proxy "
              f"{r['bare_added_p99_us']:.0f})")
    print(f"\nchat: closed loop, {args.warmup:g} s warm-up + {args.duration:g} s per run; added latency = "
          "p50/p99 through aiond (or the bare C++ proxy) minus the direct run's at 1 connection, "
          "measured back to back.")
    for v in variants:
        print(f"{v.label}: {v.build} ({describe(v.build)}); env {v.env or '-'}")
        for note in v.notes:
            print(f"  {note}")
        if v.error:
            print(f"  FAILED: {v.error}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", dest="variants", action="append", type=lambda d: Variant(None, Path(d)), metavar="DIR",
                    help="an aiond build directory (repeatable; default: build/)")
    ap.add_argument("--variant", dest="variants", action="append", type=variant_arg,
                    metavar="LABEL:BUILD[:K=V[,K=V]]", help="a build with its own label and variables")
    ap.add_argument("--label", action="append", default=[], help="labels of the --build variants, in order")
    ap.add_argument("--env", action="append", default=[], type=env_pairs, metavar="K=V",
                    help="variables for every variant's aiond (a variant's own win)")
    ap.add_argument("--duration", type=float, default=5, help="seconds recorded per load run")
    ap.add_argument("--warmup", type=float, default=1, help="seconds run before recording")
    ap.add_argument("--conns", type=int, default=32, help="connections at saturation")
    ap.add_argument("--tasks", type=int, default=3000, help="submissions in the submit -> done run")
    ap.add_argument("--policy-dir", help="policies for every variant (default: the build's source tree's)")
    ap.add_argument("--data-parent", metavar="DIR", help="put aiond's data dir under DIR (e.g. /dev/shm)")
    ap.add_argument("--json", metavar="FILE", help="also write every figure here")
    args = ap.parse_args()
    if args.tasks < 1 or args.conns < 1 or args.duration < 0.1:
        ap.error("--tasks and --conns must be >= 1, --duration >= 0.1")
    print("$ python3 " + shlex.join([os.path.relpath(sys.argv[0], REPO) if sys.argv[0].startswith(str(REPO))
                                     else sys.argv[0], *sys.argv[1:]]))
    print(f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {os.cpu_count()} CPUs shared by client, aiond and upstream; "
          f"load average {os.getloadavg()[0]:.1f} at start")

    variants = args.variants or [Variant(None, REPO / "build")]
    labels, seen = iter(args.label), set()
    for i, v in enumerate(variants):
        v.build = v.build.resolve()
        v.label = v.label or next(labels, None) or (source_dir(v.build) or v.build).name or f"build{i + 1}"
        v.label = v.label if v.label not in seen else f"{v.label}#{i + 1}"
        seen.add(v.label)
        v.env = {k: x for e in args.env for k, x in e.items()} | v.env
    # This tree's build first: an older build's aion_loadgen may not have the bare proxy.
    builds = dict.fromkeys([REPO / "build", *(v.build for v in variants)])
    loadgen = next((b / "bench" / "aion_loadgen" for b in builds if has_bare_proxy(b / "bench" / "aion_loadgen")),
                   None)
    if not loadgen:
        raise SystemExit("no build has a bench/aion_loadgen with the bare proxy: run ./scripts/build.sh aion_loadgen")
    print(f"client, upstream and bare proxy: {loadgen}")

    for v in variants:
        if not (v.build / "aiond").exists():
            v.error = f"{v.build / 'aiond'} not built (run ./scripts/build.sh there)"
            print(f"\n{v.label}: {v.error}")
            wasm_figures(v)
            continue
        measure(v, args, str(loadgen))
    print_table(variants, args)
    if args.json:
        Path(args.json).write_text(json.dumps({"command": sys.argv, "variants": [
            {"label": v.label, "build": str(v.build), "env": v.env, "figures": v.res, "notes": v.notes,
             "error": v.error} for v in variants]}, indent=1, default=str))
    sys.exit(1 if any(v.error for v in variants) else 0)


if __name__ == "__main__":
    main()
