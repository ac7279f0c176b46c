#!/usr/bin/env python3
"""Task throughput through a real aiond: submit N summarize tasks from C
keep-alive connections, wait until all are done, report rates, latencies and
RSS. Baseline in the same run and on the same connections: GET /healthz (pure
HTTP + client overhead), so figures read as ratios. Not a test: asserts nothing.

With --split the same phases run three times in one invocation: against the
embedded profile, a gateway role in front of a control role, and those two
with a module host (aiond --role gateway|control|modhost over gRPC). The p50
difference of a GET /v1/tasks/{id} phase is the cost of one gateway ->
control hop pair; that of the module call time the control plane records per
task, the cost of one control -> module host hop pair.

usage: bench/throughput.py [--aiond build/aiond] [--tasks 2000] [--conns 8] [--workers N] [--split]
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


def wait_idle(c, headers):
    """Returns once no task is routed, queued or running (asked on connection `c`)."""
    def active():
        n = 0
        for st in ("routed", "queued", "running"):
            c.request("GET", f"/v1/tasks?status={st}&limit=1", headers=headers)
            n += len(json.loads(c.getresponse().read())["items"])
        return n

    while active():
        time.sleep(0.01)


def rss_kb(pid):
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            out[k] = int(v.split()[0])
    return out


def cpu_secs(pid):
    """User + system CPU seconds the process has used so far."""
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def start(aiond, role, env, ready="control"):
    argv = [aiond] + (["--role", role] if role else [])
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    while not proc.stdout.readline().decode().strip().startswith(ready):
        if proc.poll() is not None:
            raise SystemExit(f"aiond {role or ''} did not start")
    return proc


def run_topology(args, split, modhost=False):
    """One aiond (or control + gateway roles, and a module host): the phases; returns a report."""
    tmp = Path(tempfile.mkdtemp(prefix="aion-bench-"))
    gw, ctl, internal, mh, mh_http = free_port(), free_port(), free_port(), free_port(), free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AION_")},
           "AION_GATEWAY_PORT": str(gw), "AION_CONTROL_PORT": str(ctl), "AION_BIND_ADDRESS": "127.0.0.1",
           "AION_GATEWAY_GRPC_PORT": "0", "AION_CONTROL_GRPC_PORT": str(internal),
           "AION_GATEWAY_API_KEYS": "bench-key:admin|manager", "AION_POLICY_DIR": str(REPO / "policies"),
           "AION_DATA_DIR": str(tmp / "data"), "AION_WORKERS": str(args.workers),
           "AION_QUEUE_MAX": str(args.tasks + 100), "AION_LOG_LEVEL": "warn",
           "AION_MODULE_DIR": str(Path(args.aiond).parent / "modules")}
    procs = []
    try:
        if modhost:
            procs.append(start(args.aiond, "modhost", {**env, "AION_MODHOST_GRPC_PORT": str(mh),
                                                       "AION_MODHOST_PORT": str(mh_http),
                                                       "AION_DATA_DIR": str(tmp / "modhost")},
                               ready="health"))
        if split:
            extra = {"AION_MODHOST_GRPC": f"127.0.0.1:{mh}"} if modhost else {}
            procs.append(start(args.aiond, "control", {**env, "AION_GATEWAY_PORT": "0", **extra}))
            procs.append(start(args.aiond, "gateway", {**env, "AION_CONTROL_PORT": "0",
                                                      "AION_CONTROL_GRPC": f"127.0.0.1:{internal}"}))
            time.sleep(0.5)  # the gateway's Watch stream connects
        else:
            procs.append(start(args.aiond, None, env))
        base_rss = [rss_kb(p.pid) for p in procs]

        health = lambda: ("GET", "/healthz", None, {})
        run_phase(gw, args.conns, 400, health)  # warm-up
        h_lat, _, h_secs = run_phase(gw, args.conns, args.tasks, health)

        body = json.dumps({"schemaVersion": "1.0", "intent": "summarize", "params": {"text": TEXT}})
        headers = {"X-API-Key": "bench-key", "Content-Type": "application/json"}
        submit = lambda: ("POST", "/v1/tasks", body, headers)
        start_t, cpu0 = time.perf_counter(), [cpu_secs(p.pid) for p in procs]
        s_lat, results, s_secs = run_phase(gw, args.conns, args.tasks, submit)
        accepted = [json.loads(d)["taskId"] for st, d in results if st == 202]
        c = http.client.HTTPConnection("127.0.0.1", gw, timeout=60)
        wait_idle(c, headers)
        e2e_secs = time.perf_counter() - start_t
        cpu = [cpu_secs(p.pid) - c0 for p, c0 in zip(procs, cpu0)]  # the submits and their runs
        one = accepted[0]
        get = lambda: ("GET", f"/v1/tasks/{one}", None, headers)
        g_lat, _, g_secs = run_phase(gw, 1, min(args.tasks, 2000), get)  # one connection: latency
        upstream = []  # per task: time in the module call as the control plane saw it
        cursor = ""
        for _ in range(5):
            c.request("GET", f"/v1/tasks?limit=100{'&cursor=' + cursor if cursor else ''}", headers=headers)
            page = json.loads(c.getresponse().read())
            upstream += [t["timings"]["upstreamMs"] for t in page["items"] if t["status"] == "succeeded"]
            cursor = page.get("nextCursor", "")
            if not cursor:
                break
        rss = [rss_kb(p.pid) for p in procs]
    finally:
        for p in procs[::-1]:
            p.terminate()
            p.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)
    return {"h_lat": h_lat, "h_secs": h_secs, "s_lat": s_lat, "s_secs": s_secs, "accepted": len(accepted),
            "e2e_secs": e2e_secs, "g_lat": g_lat, "g_secs": g_secs, "base_rss": base_rss, "rss": rss,
            "upstream": upstream,
            "cpu": cpu, "roles": [r for r, on in (("modhost", modhost), ("control", split), ("gateway", split),
                                                  ("all", not split)) if on]}


def common_args():
    """The options every throughput bench takes."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--aiond", default=str(REPO / "build" / "aiond"))
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    return ap


def main():
    ap = common_args()
    ap.add_argument("--split", action="store_true",
                    help="also run gateway + control roles over gRPC and compare")
    args = ap.parse_args()

    reports = [("embedded", run_topology(args, False))]
    if args.split:
        reports.append(("split", run_topology(args, True)))
        reports.append(("split3", run_topology(args, True, modhost=True)))
    print(f"aiond: {args.workers} workers, {args.conns} client connections, {args.tasks} requests per phase\n")
    print(f"{'topology / phase':44} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for name, r in reports:
        n = r["accepted"]
        print(f"{name + ': GET /healthz (baseline)':44} {args.tasks / r['h_secs']:9.0f} "
              f"{pct(r['h_lat'], .5):8.2f} {pct(r['h_lat'], .99):8.2f}")
        print(f"{name + ': POST /v1/tasks (202, stored)':44} {args.tasks / r['s_secs']:9.0f} "
              f"{pct(r['s_lat'], .5):8.2f} {pct(r['s_lat'], .99):8.2f}")
        print(f"{name + ': GET /v1/tasks/{id} (1 conn)':44} {len(r['g_lat']) / r['g_secs']:9.0f} "
              f"{pct(r['g_lat'], .5):8.3f} {pct(r['g_lat'], .99):8.3f}")
        print(f"{name + ': submit -> all done, tasks/s':44} {n / r['e2e_secs']:9.0f}   "
              f"(accepted {n}/{args.tasks})")
        if r["upstream"]:
            print(f"{name + ': module call as control sees it':44} {'':9} "
                  f"{pct(r['upstream'], .5):8.3f} {pct(r['upstream'], .99):8.3f}")
        for i, (b, a) in enumerate(zip(r["base_rss"], r["rss"])):
            print(f"{'':6}{r['roles'][i]:8} CPU {r['cpu'][i] * 1e6 / max(n, 1):6.0f} us per task (submit -> done), RSS {b['VmRSS'] / 1024:.1f} MiB idle -> {a['VmRSS'] / 1024:.1f} MiB, "
                  f"peak {a['VmHWM'] / 1024:.1f} MiB")
    if args.split:
        e, s, s3 = reports[0][1], reports[1][1], reports[2][1]
        hop = (pct(s["g_lat"], .5) - pct(e["g_lat"], .5)) * 1000
        mhop = (pct(s3["upstream"], .5) - pct(e["upstream"], .5)) * 1000
        rate = lambda r: r["accepted"] / r["e2e_secs"]
        print(f"\nsplit / embedded: submits {(e['s_secs'] / s['s_secs']):.2f}x, "
              f"submit -> done {rate(s) / rate(e):.2f}x; "
              f"one gateway -> control hop pair adds {hop:.0f} us at p50 (GET /v1/tasks/{{id}})")
        print(f"split3 / embedded: submits {(e['s_secs'] / s3['s_secs']):.2f}x, "
              f"submit -> done {rate(s3) / rate(e):.2f}x; "
              f"one control -> module host hop pair adds {mhop:.0f} us at p50 (module call)")


if __name__ == "__main__":
    main()
