#!/usr/bin/env python3
"""`GET /v1/tasks?status=…` on a tenant with many finished tasks, for one or more aiond builds.

Each build gets the same SQLite database: one task submitted through aiond (so the schema and the
tenant are aiond's own), then --tasks finished tasks written straight into `tasks` (params and
route about 1 KB each, like real ones). Then, at one connection: the newest page with no filter,
a status no task has (`running`: the worst case, nothing to find), and the status of every task
(`succeeded`). A build that adds an index builds it at its start, before the runs.

  bench/list_filter.py --build /tmp/before/build --build build --tasks 200000
"""
import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gateway as g  # noqa: E402

QUERIES = [("no filter", "/v1/tasks?limit=20"),
           ("status=running (none)", "/v1/tasks?status=running&limit=20"),
           ("status=failed (none)", "/v1/tasks?status=failed&limit=20"),
           ("status=succeeded (all)", "/v1/tasks?status=succeeded&limit=20")]


def populate(db_file, n):
    db = sqlite3.connect(db_file)
    tenant, key, ts = db.execute("SELECT tenant, key_id, created_ms FROM tasks LIMIT 1").fetchone()
    params = '{"text":"' + "x" * 1000 + '"}'
    route = '{"primary":{"kind":"module","target":"summarize"},"why":"' + "y" * 1000 + '"}'
    rows = ((f"tsk_{ts:013d}_{i:08d}", tenant, key, "summarize", params, "succeeded", route,
             '{"summary":"s"}', ts - n + i) for i in range(n))
    db.executemany("INSERT INTO tasks(id,tenant,key_id,intent,params,status,route,result,created_ms) "
                   "VALUES(?,?,?,?,?,?,?,?,?)", rows)
    db.commit()
    db.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", action="append", help="an aiond build directory (repeatable)")
    ap.add_argument("--tasks", type=int, default=200000)
    ap.add_argument("--duration", type=int, default=3)
    args = ap.parse_args()
    builds = args.build or ["build"]
    tmp = Path(tempfile.mkdtemp(prefix="aion-listbench-"))
    seed = None
    results = {}
    try:
        for build in builds:
            ns = types.SimpleNamespace(build=build, conns=1, duration=args.duration, warmup=1, data_parent=None,
                                       policy_dir=str(Path(__file__).resolve().parents[1] / "policies"),
                                       workers=None, store_sync=None)
            work = tmp / f"{len(results)}-{Path(build).name}"
            work.mkdir()
            b = g.Bench(ns, work)
            if seed is None:  # the database every build starts from
                b.start_upstream()
                b.start_aiond()
                st, _ = g.request(b.gw, "POST", "/v1/tasks", {"intent": "summarize", "params": {"text": g.TEXT}},
                                  {"X-API-Key": g.KEY, "Content-Type": "application/json"})
                assert st == 202, st
                b.drain(60)
                b.stop_all()
                seed = tmp / "seed.db"
                with sqlite3.connect(b.data_dir / "aion.db") as src, sqlite3.connect(seed) as dst:
                    src.backup(dst)  # with what its WAL still holds
                populate(seed, args.tasks)
                b.procs.clear()
                shutil.rmtree(b.data_dir)
            b.data_dir.mkdir(parents=True)
            shutil.copy(seed, b.data_dir / "aion.db")
            b.start_upstream()
            started = time.time()
            b.start_aiond()
            startup = time.time() - started
            print(f"{build}: started in {startup:.1f} s on {args.tasks} tasks", flush=True)
            for label, path in QUERIES:
                argv = b.http_args(b.gw, path, "GET", None, (f"X-API-Key: {g.KEY}",))
                rep = b.load(argv, 0)
                results[(build, label)] = rep
                print(f"  {label:28} {rep['rps']:>7} req/s, p50 {rep['latency_us']['p50']:>8} us", flush=True)
            b.stop_all()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n| query (1 conn, {args.tasks} tasks) | " + " | ".join(f"{b} p50 µs" for b in builds) + " |")
    print("|---|" + "---:|" * len(builds))
    for label, _ in QUERIES:
        print(f"| {label} | " + " | ".join(str(results[(b, label)]['latency_us']['p50']) for b in builds) + " |")


if __name__ == "__main__":
    main()
