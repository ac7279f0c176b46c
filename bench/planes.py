#!/usr/bin/env python3
"""Task throughput on PostgreSQL with 1 and with 2 control planes on the same
database (docs/architecture.md, "Several control planes"): starts a throwaway
PostgreSQL (tests/e2e/postgres_server.py), then for each count N starts N
embedded aiond on one fresh database (each its own plane, gateway and
workers), submits the same number of summarize tasks spread evenly over them
from C keep-alive connections, and waits until none is active (the store's
view, the same through any plane). Prints submits/s and submit -> all done
tasks/s per N. Not a test: asserts nothing.

usage: bench/planes.py [--aiond build/aiond] [--tasks 2000] [--conns 8] [--workers 2] [--planes 1,2]
"""
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(REPO / "bench"))

from postgres_server import PostgresServer  # noqa: E402
from throughput import TEXT, common_args, free_port, start, wait_idle  # noqa: E402


def create_db(pg, name):
    subprocess.run([str(pg.bin / "psql"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres",
                    "-d", "postgres", "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    return f"host=127.0.0.1 port={pg.port} user=postgres dbname={name}"


def run(args, pg, planes):
    dsn = create_db(pg, f"bench_{planes}_{int(time.time())}")
    tmp = Path(tempfile.mkdtemp(prefix="aion-planes-"))
    procs, ports = [], []
    try:
        for i in range(planes):
            gw, ctl = free_port(), free_port()
            env = {**{k: v for k, v in os.environ.items() if not k.startswith("AION_")},
                   "AION_GATEWAY_PORT": str(gw), "AION_CONTROL_PORT": str(ctl),
                   "AION_BIND_ADDRESS": "127.0.0.1", "AION_GATEWAY_GRPC_PORT": "0",
                   "AION_CONTROL_GRPC_PORT": str(free_port()),
                   "AION_GATEWAY_API_KEYS": "bench-key:admin|manager",
                   "AION_POLICY_DIR": str(REPO / "policies"), "AION_DATA_DIR": str(tmp / f"d{i}"),
                   "AION_WORKERS": str(args.workers), "AION_QUEUE_MAX": str(args.tasks + 100),
                   "AION_LOG_LEVEL": "warn", "AION_CONTROL_POSTGRES_DSN": dsn,
                   "AION_MODULE_DIR": str(Path(args.aiond).parent / "modules")}
            procs.append(start(args.aiond, None, env))
            ports.append(gw)
        body = json.dumps({"schemaVersion": "1.0", "intent": "summarize", "params": {"text": TEXT}})
        headers = {"X-API-Key": "bench-key", "Content-Type": "application/json"}
        accepted, lock = [0], threading.Lock()

        def worker(port, n):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            ok = 0
            for _ in range(n):
                c.request("POST", "/v1/tasks", body=body, headers=headers)
                r = c.getresponse()
                r.read()
                ok += r.status == 202
            c.close()
            with lock:
                accepted[0] += ok

        per = args.tasks // args.conns
        threads = [threading.Thread(target=worker, args=(ports[i % planes], per)) for i in range(args.conns)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        submit_secs = time.perf_counter() - t0
        wait_idle(http.client.HTTPConnection("127.0.0.1", ports[0], timeout=60), headers)
        done_secs = time.perf_counter() - t0
        return accepted[0], submit_secs, done_secs
    finally:
        for p in procs:
            p.terminate()
            p.wait(30)


def main():
    ap = common_args()
    ap.add_argument("--planes", default="1,2")
    args = ap.parse_args()
    pg = PostgresServer(Path(tempfile.mkdtemp(prefix="aion-planes-pg-"))).start()
    rows = []
    try:
        for n in [int(x) for x in args.planes.split(",")]:
            rows.append((n, *run(args, pg, n)))
    finally:
        pg.stop()
    print(f"PostgreSQL 15 on loopback; each plane: embedded aiond, {args.workers} workers; "
          f"{args.conns} client connections spread over the planes; {args.tasks} summarize tasks; "
          f"{os.cpu_count()} CPUs\n")
    print(f"{'control planes':16} {'accepted':>9} {'submits/s':>10} {'submit -> all done, tasks/s':>28}")
    for n, acc, s, d in rows:
        print(f"{n:<16} {acc:>9} {acc / s:>10.0f} {acc / d:>28.0f}")


if __name__ == "__main__":
    main()
