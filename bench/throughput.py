#!/usr/bin/env python3
"""Task throughput through a real aiond: submit N summarize tasks from C
keep-alive connections, wait until all are done, report rates, latencies and
RSS. Baseline in the same run and on the same connections: GET /healthz (pure
HTTP + client overhead), so figures read as ratios. Not a test: asserts nothing.

usage: bench/throughput.py [--aiond build/aiond] [--tasks 2000] [--conns 8] [--workers N]
"""
import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEXT = ("Routing decides where each task runs. The policy weighs privacy, latency and cost. "
        "Local modules run in a WebAssembly sandbox. Every state change is stored before the answer. "
        "Clients follow progress as server-sent events. ") * 3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))]


def run_phase(port, conns, total, make_request):
    """Runs `total` requests spread over `conns` threads; returns (latencies_ms, results, seconds)."""
    lat, results, lock = [], [], threading.Lock()

    def worker(n):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine, out = [], []
        for _ in range(n):
            method, path, body, headers = make_request()
            t = time.perf_counter()
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            data = r.read()
            mine.append((time.perf_counter() - t) * 1000)
            out.append((r.status, data))
        c.close()
        with lock:
            lat.extend(mine)
            results.extend(out)

    threads = [threading.Thread(target=worker, args=(total // conns,)) for _ in range(conns)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat, results, time.perf_counter() - start


def rss_kb(pid):
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            out[k] = int(v.split()[0])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--aiond", default=str(REPO / "build" / "aiond"))
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="aion-bench-"))
    gw, ctl = free_port(), free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AION_")},
           "AION_GATEWAY_PORT": str(gw), "AION_CONTROL_PORT": str(ctl), "AION_BIND_ADDRESS": "127.0.0.1",
           "AION_GATEWAY_API_KEYS": "bench-key:admin|manager", "AION_POLICY_DIR": str(REPO / "policies"),
           "AION_DATA_DIR": str(tmp / "data"), "AION_WORKERS": str(args.workers),
           "AION_QUEUE_MAX": str(args.tasks + 100), "AION_LOG_LEVEL": "warn",
           "AION_MODULE_DIR": str(Path(args.aiond).parent / "modules")}
    proc = subprocess.Popen([args.aiond], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        while not proc.stdout.readline().decode().strip().startswith("control"):
            if proc.poll() is not None:
                raise SystemExit("aiond did not start")
        base_rss = rss_kb(proc.pid)

        health = lambda: ("GET", "/healthz", None, {})
        run_phase(gw, args.conns, 400, health)  # warm-up
        h_lat, _, h_secs = run_phase(gw, args.conns, args.tasks, health)

        body = json.dumps({"schemaVersion": "1.0", "intent": "summarize", "params": {"text": TEXT}})
        headers = {"X-API-Key": "bench-key", "Content-Type": "application/json"}
        submit = lambda: ("POST", "/v1/tasks", body, headers)
        start = time.perf_counter()
        s_lat, results, s_secs = run_phase(gw, args.conns, args.tasks, submit)
        accepted = [json.loads(d)["taskId"] for st, d in results if st == 202]
        c = http.client.HTTPConnection("127.0.0.1", gw, timeout=60)

        def active():
            n = 0
            for st in ("routed", "queued", "running"):
                c.request("GET", f"/v1/tasks?status={st}&limit=1", headers=headers)
                n += len(json.loads(c.getresponse().read())["items"])
            return n

        while active():
            time.sleep(0.01)
        e2e_secs = time.perf_counter() - start
        c.request("GET", "/v1/tasks?status=succeeded&limit=1", headers=headers)
        ok_sample = json.loads(c.getresponse().read())["items"]
        rss = rss_kb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)

    n = len(accepted)
    print(f"aiond: {args.workers} workers, {args.conns} client connections, {args.tasks} requests per phase\n")
    print(f"{'phase':34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'p50 / healthz':>14}")
    hp50 = pct(h_lat, 0.5)
    print(f"{'GET /healthz (baseline)':34} {args.tasks / h_secs:9.0f} {hp50:8.2f} {pct(h_lat, .99):8.2f} {1.0:13.1f}x")
    sp50 = pct(s_lat, 0.5)
    print(f"{'POST /v1/tasks (202, stored)':34} {args.tasks / s_secs:9.0f} {sp50:8.2f} {pct(s_lat, .99):8.2f} "
          f"{sp50 / hp50:13.1f}x")
    print(f"\naccepted {n}/{args.tasks}; submit -> all done: {n / e2e_secs:.0f} tasks/s end to end "
          f"({e2e_secs:.2f} s); sample status: {ok_sample[0]['status'] if ok_sample else 'none'}")
    print(f"aiond RSS: {base_rss['VmRSS'] / 1024:.1f} MiB idle -> {rss['VmRSS'] / 1024:.1f} MiB after, "
          f"peak {rss['VmHWM'] / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
