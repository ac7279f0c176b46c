#!/usr/bin/env python3
"""Soak: a bounded-rate mix against one real aiond for a long time, sampled
every window, to see whether memory, descriptors, threads or latency drift
(the seed's "Load" step; bench/README.md). Measures, never asserts.

The mix, open loop (latency counts from the scheduled send time):
  REST   POST /v1/tasks (summarize, a module)          aion_loadgen, 40% of --rate
  chat   POST /v1/chat/completions                     aion_loadgen, 40%
  stream POST /v1/chat/completions, "stream": true     aion_loadgen, 10%
  SSE    POST /v1/tasks then GET /v1/stream/{id} to    this script, 10%; latency is
         its `done` event                              submit -> done
Chat goes to the openai provider pointed at the fake provider
(tests/e2e/fake_provider, Python, in its own process).

Every window (--window, 10 s) it samples aiond: RSS, open descriptors
(/proc/PID/fd), threads, CPU share, the data directory's size, and per
leg the answered rate, p50 and p99. It prints a row per window, then the table
in Markdown and a drift summary (first window against the last, and the RSS
slope over the second half).

usage: bench/soak.py [--minutes 60] [--rate 200] [--window 10] [--build DIR]
                     [--env NAME=VALUE]... [--json out.json]
"""
import argparse
import http.client
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from gateway import Bench, free_port, proc_stats, wait_listening  # beside this file

REPO = Path(__file__).resolve().parents[1]
KEY = "soak-key"
TEXT = ("Routing decides where each task runs. The policy weighs privacy, latency and cost. "
        "Local modules run in a WebAssembly sandbox. Every state change is stored before the answer. ") * 3
TASK = {"schemaVersion": "1.0", "intent": "summarize", "params": {"text": TEXT}}
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say something short about soak tests."}]}
MIX = {"rest": 0.4, "chat": 0.4, "stream": 0.1, "sse": 0.1}

FAKE = """
import sys, time
sys.path.insert(0, {path!r})
from fake_provider import FakeProvider
f = FakeProvider().start()
print(f.url, f.api_key, flush=True)
while True:
    time.sleep(3600)
"""


def pct(v, p):
    if not v:
        return None
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))]


def proc_sample(pid, data_dir):
    st = proc_stats(pid)
    threads = next(int(ln.split()[1]) for ln in Path(f"/proc/{pid}/status").read_text().splitlines()
                   if ln.startswith("Threads:"))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    db = sum(p.stat().st_size for p in Path(data_dir).rglob("*") if p.is_file())
    return {"rss_mib": st["VmRSS"] / 1024, "hwm_mib": st["VmHWM"] / 1024, "cpu_s": st["cpu"], "fds": fds,
            "threads": threads, "data_mib": db / 2**20}


class SseLeg:
    """Submits a task and follows its SSE stream to `done`, on a fixed
    schedule from a few threads; latency per completion window."""

    def __init__(self, port, rate, t0, window, end, threads=8):
        self.port, self.rate, self.t0, self.window, self.end = port, rate, t0, window, end
        self.due = queue.Queue()
        self.lock = threading.Lock()
        self.windows = {}  # k -> {"lat": [], "errors": n}
        self.threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(threads)]
        self.scheduler = threading.Thread(target=self.schedule, daemon=True)

    def start(self):
        for t in self.threads:
            t.start()
        self.scheduler.start()

    def schedule(self):
        if self.rate <= 0:
            return
        i = 0
        while True:
            due = self.t0 + i / self.rate
            if due >= self.end:
                break
            time.sleep(max(0, due - time.monotonic()))
            self.due.put(due)
            i += 1
        for _ in self.threads:
            self.due.put(None)

    def record(self, ok, latency):
        k = int((time.monotonic() - self.t0) // self.window) + 1
        with self.lock:
            w = self.windows.setdefault(k, {"lat": [], "errors": 0})
            if ok:
                w["lat"].append(latency)
            else:
                w["errors"] += 1

    def worker(self):
        headers = {"X-API-Key": KEY, "Content-Type": "application/json"}
        body = json.dumps(TASK)
        while (due := self.due.get()) is not None:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                c.request("POST", "/v1/tasks", body=body, headers=headers)
                r = c.getresponse()
                data = r.read()
                if r.status != 202:
                    raise RuntimeError(r.status)
                c.request("GET", f"/v1/stream/{json.loads(data)['taskId']}", headers={"X-API-Key": KEY})
                r = c.getresponse()
                done = False
                while line := r.fp.readline():
                    if line.startswith(b"event: done"):
                        done = True
                r.close()
                c.close()
                self.record(done and r.status == 200, time.monotonic() - due)
            except Exception:  # noqa: BLE001 - any failure is an error of this leg
                self.record(False, 0)

    def take(self, k):
        with self.lock:
            return self.windows.pop(k, {"lat": [], "errors": 0})


class Soak(Bench):  # spawn() and stop_all() from bench/gateway.py
    def __init__(self, args, tmp):
        args.data_parent = None  # Bench's: the data dir under tmp
        super().__init__(args, tmp)
        self.build = Path(args.build)

    def start(self):
        fake = self.spawn([sys.executable, "-c", FAKE.format(path=str(REPO / "tests" / "e2e"))],
                          stdout=subprocess.PIPE, stderr=open(self.tmp / "fake.log", "wb"))
        url, api_key = fake.stdout.readline().decode().split()
        self.gw, self.ctl = free_port(), free_port()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AION_", "OPENAI_", "AZURE_OPENAI_", "HF_", "VLLM_", "OLLAMA_", "OTEL_"))}
        env.update({"AION_GATEWAY_PORT": str(self.gw), "AION_CONTROL_PORT": str(self.ctl),
                    "AION_GATEWAY_GRPC_PORT": "0", "AION_CONTROL_GRPC_PORT": "0", "AION_BIND_ADDRESS": "127.0.0.1",
                    "AION_GATEWAY_API_KEYS": f"{KEY}:admin|user", "AION_POLICY_DIR": str(REPO / "policies"),
                    "AION_DATA_DIR": str(self.data_dir), "AION_MODULE_DIR": str(self.build / "modules"),
                    "AION_LOG_LEVEL": "warn", "OPENAI_BASE_URL": url + "/v1", "OPENAI_API_KEY": api_key})
        for kv in self.args.env:
            k, _, v = kv.partition("=")
            env[k] = v
        self.aiond = self.spawn([str(self.build / "aiond")], env=env, stdout=subprocess.PIPE,
                                stderr=open(self.tmp / "aiond.log", "wb"))
        while not self.aiond.stdout.readline().decode().strip().startswith("control"):
            if self.aiond.poll() is not None:
                raise SystemExit("aiond did not start:\n" + (self.tmp / "aiond.log").read_text())
        wait_listening(self.gw, self.aiond, "aiond")
        # One of each, so a broken route fails now rather than as a soak of errors.
        for path, body in (("/v1/tasks", TASK), ("/v1/chat/completions", CHAT)):
            c = http.client.HTTPConnection("127.0.0.1", self.gw, timeout=30)
            c.request("POST", path, body=json.dumps(body), headers={"X-API-Key": KEY,
                                                                    "Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            if r.status not in (200, 202):
                raise SystemExit(f"POST {path} -> {r.status} {data[:300]!r}")

    def loadgen_leg(self, name, path, body, rate, seconds):
        f = self.tmp / f"{name}.json"
        f.write_text(json.dumps(body))
        conns = max(2, min(64, int(rate // 10) + 2))
        cmd = [self.loadgen, "http", "--url", f"http://127.0.0.1:{self.gw}{path}", "--method", "POST",
               "--body-file", str(f), "--header", f"X-API-Key: {KEY}", "--header", "Content-Type: application/json",
               "--conns", str(conns), "--duration", str(seconds), "--warmup", "0", "--rate", str(rate),
               "--report-every", str(self.args.window)]
        p = self.spawn(cmd, stdout=subprocess.PIPE, text=True)
        windows = {}

        def read():
            for line in p.stdout:
                rep = json.loads(line)
                if "window" in rep:
                    windows[rep["window"]] = rep
                else:
                    windows["total"] = rep

        threading.Thread(target=read, daemon=True).start()
        return windows

    def run(self):
        a = self.args
        seconds = a.minutes * 60
        n = int(seconds // a.window)
        t0 = time.monotonic() + 0.02  # aion_loadgen starts recording 20 ms after it is ready
        legs = {
            "rest": self.loadgen_leg("rest", "/v1/tasks", TASK, a.rate * MIX["rest"], seconds),
            "chat": self.loadgen_leg("chat", "/v1/chat/completions", CHAT, a.rate * MIX["chat"], seconds),
            "stream": self.loadgen_leg("stream", "/v1/chat/completions", {**CHAT, "stream": True},
                                       a.rate * MIX["stream"], seconds),
        }
        sse = SseLeg(self.gw, a.rate * MIX["sse"], t0, a.window, t0 + seconds)
        sse.start()
        pid = self.aiond.pid
        rows, prev_cpu = [], proc_sample(pid, self.data_dir)["cpu_s"]
        print(header(), flush=True)
        try:
            for k in range(1, n + 1):
                time.sleep(max(0, t0 + k * a.window - time.monotonic()))
                s = proc_sample(pid, self.data_dir)
                s["cpu_pct"] = 100 * (s["cpu_s"] - prev_cpu) / a.window
                prev_cpu = s["cpu_s"]
                time.sleep(1.5)  # the window's last answers and the loadgens' lines
                row = {"t_s": k * a.window, **s}
                for name, w in legs.items():
                    rep = w.get(k)
                    row[name] = None if rep is None else {
                        "rps": rep["ok"] / a.window, "p50_ms": rep["latency_us"]["p50"] / 1000,
                        "p99_ms": rep["latency_us"]["p99"] / 1000, "errors": rep["requests"] - rep["ok"]}
                sw = sse.take(k)
                row["sse"] = {"rps": len(sw["lat"]) / a.window, "p50_ms": (pct(sw["lat"], .5) or 0) * 1000,
                              "p99_ms": (pct(sw["lat"], .99) or 0) * 1000, "errors": sw["errors"]}
                rows.append(row)
                print(fmt(row), flush=True)
        except KeyboardInterrupt:
            print("interrupted: the summary covers the windows so far", flush=True)
        return rows


LEGS = ("rest", "chat", "stream", "sse")


def header():
    cols = ["t (s)", "RSS MiB", "fds", "threads", "CPU %", "data MiB"]
    cols += [f"{leg} ok/s p50/p99 ms" for leg in LEGS] + ["errors"]
    return "| " + " | ".join(cols) + " |\n|" + "---:|" * len(cols)


def fmt(r):
    cells = [f"{r['t_s']:g}", f"{r['rss_mib']:.1f}", f"{r['fds']}", f"{r['threads']}", f"{r['cpu_pct']:.0f}",
             f"{r['data_mib']:.0f}"]
    errors = 0
    for leg in LEGS:
        x = r[leg]
        if x is None:
            cells.append("-")
            continue
        cells.append(f"{x['rps']:.0f} {x['p50_ms']:.1f}/{x['p99_ms']:.1f}")
        errors += x["errors"]
    cells.append(str(errors))
    return "| " + " | ".join(cells) + " |"


def slope_per_min(rows, key):
    """Least-squares slope of `key` over the second half of the run, per minute."""
    half = rows[len(rows) // 2:]
    if len(half) < 2:
        return 0.0
    xs = [r["t_s"] / 60 for r in half]
    ys = [r[key] for r in half]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


def summary(rows):
    if len(rows) < 2:
        return "too few windows for a drift summary"
    first, last = rows[0], rows[-1]
    lines = [f"drift, first window (t={first['t_s']:g} s) -> last (t={last['t_s']:g} s):"]
    for key, unit in (("rss_mib", "MiB"), ("fds", ""), ("threads", ""), ("data_mib", "MiB")):
        lines.append(f"  {key:9} {first[key]:9.1f} -> {last[key]:9.1f} {unit:3} ({last[key] - first[key]:+.1f})")
    lines.append(f"  RSS slope over the second half: {slope_per_min(rows, 'rss_mib'):+.2f} MiB/min; "
                 f"peak RSS (VmHWM) {last['hwm_mib']:.1f} MiB")
    for leg in LEGS:
        a, b = first[leg], last[leg]
        if a and b:
            lines.append(f"  {leg:6} p50 {a['p50_ms']:7.1f} -> {b['p50_ms']:7.1f} ms, "
                         f"p99 {a['p99_ms']:7.1f} -> {b['p99_ms']:7.1f} ms")
    errors = sum(r[leg]["errors"] for r in rows for leg in LEGS if r[leg])
    lines.append(f"  errors over the run: {errors}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--rate", type=float, default=200, help="requests/s over the whole mix")
    ap.add_argument("--window", type=float, default=10, help="seconds per sample")
    ap.add_argument("--build", default=os.environ.get("AION_BUILD_DIR", str(REPO / "build")))
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra aiond variable")
    ap.add_argument("--json", help="write every window here")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (aiond.log, data)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="aion-soak-"))
    soak = Soak(args, tmp)
    try:
        soak.start()
        print(f"soak: {args.minutes:g} min at {args.rate:g} req/s "
              f"({', '.join(f'{k} {v:.0%}' for k, v in MIX.items())}), a row every {args.window:g} s; "
              f"aiond pid {soak.aiond.pid}, {tmp}", flush=True)
        rows = soak.run()
    finally:
        soak.stop_all()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(summary(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
