#!/usr/bin/env python3
"""What a retention pass (AION_TASK_RETENTION_DAYS) costs the SQLite writer on a large database.

aiond creates the database (its schema and indexes); then --tasks finished tasks with five events
each are written straight into it, the oldest --old of them from 20 days ago, the rest from the last
10 days. Measured with the statements the store runs (SqliteTaskStore::kPurgeSql):
- the hourly look when nothing is old enough (a 30-day cutoff), against the same search without
  the id range (a scan of every task);
- one batch of 256 old tasks deleted with their events (a 15-day cutoff), one transaction.

  bench/retention.py --build build --tasks 200000
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

DAY = 86400000
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PURGE = ("SELECT id FROM tasks WHERE id<? AND status NOT IN ('queued','routed','running') AND "
         "finished_ms<? ORDER BY id LIMIT ?")
SCAN = ("SELECT id FROM tasks WHERE status NOT IN ('queued','routed','running') AND finished_ms<? "
        "ORDER BY id LIMIT ?")


def time_part(ms):
    out = ""
    for _ in range(10):
        out = CROCKFORD[ms & 31] + out
        ms >>= 5
    return "tsk_" + out


def populate(db, n, old, now):
    tasks, events = [], []
    for i in range(n):
        created = now - 20 * DAY + i if i < old else now - 10 * DAY + (i - old) * (9 * DAY // n)
        tid = time_part(created) + f"{i:016d}"
        tasks.append((tid, "default", "k", "chat", '{"text":"' + "x" * 100 + '"}', "succeeded",
                      '{"why":"' + "y" * 2600 + '"}', '{"s":1}', created, created + 5))
        events += [(tid, s, "status", created, '{"pad":"' + "z" * 150 + '"}') for s in range(1, 6)]
    db.executemany("INSERT INTO tasks(id,tenant,key_id,intent,params,status,route,result,created_ms,"
                   "finished_ms) VALUES(?,?,?,?,?,?,?,?,?,?)", tasks)
    db.executemany("INSERT INTO events(task_id,seq,type,ts_ms,data) VALUES(?,?,?,?,?)", events)
    db.commit()


def best_us(db, sql, args, runs=5):
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        db.execute(sql, args).fetchall()
        out.append((time.perf_counter() - t) * 1e6)
    return min(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--tasks", type=int, default=200000)
    ap.add_argument("--old", type=int, default=1000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="aion-retention-"))
    try:
        ns = types.SimpleNamespace(build=args.build, conns=1, duration=1, warmup=0, data_parent=None,
                                   policy_dir=str(Path(__file__).resolve().parents[1] / "policies"),
                                   workers=None, store_sync=None)
        b = g.Bench(ns, tmp)
        b.start_upstream()
        b.start_aiond()  # creates and migrates the database
        b.stop_all()
        db = sqlite3.connect(b.data_dir / "aion.db", isolation_level=None)
        now = int(time.time() * 1000)
        db.execute("BEGIN")
        populate(db, args.tasks, args.old, now)
        cutoff = now - 30 * DAY
        look = best_us(db, PURGE, (time_part(cutoff), cutoff, 256))
        scan = best_us(db, SCAN, (cutoff, 256), runs=2)
        cutoff = now - 15 * DAY
        t = time.perf_counter()
        db.execute("BEGIN")
        ids = [r[0] for r in db.execute(PURGE, (time_part(cutoff), cutoff, 256))]
        for i in ids:
            db.execute("DELETE FROM events WHERE task_id=?", (i,))
            db.execute("DELETE FROM tasks WHERE id=?", (i,))
        db.execute("COMMIT")
        batch_ms = (time.perf_counter() - t) * 1e3
        db.close()
        print(f"{args.tasks} tasks, 5 events each ({args.old} old):")
        print(f"  the hourly look, nothing old:        {look:10.0f} us")
        print(f"  the same without the id range:       {scan:10.0f} us ({scan / look:.0f}x)")
        print(f"  one batch: {len(ids)} tasks and their events deleted, one transaction: {batch_ms:.1f} ms")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
