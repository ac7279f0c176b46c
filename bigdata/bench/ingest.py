#!/usr/bin/env python3
"""ClickHouse ingest throughput of the Big Data Edition, on this machine: prints
a table, asserts nothing (docs/bigdata.md#throughput).

1. ClickHouse alone: `aion.task_events` rows inserted over HTTP (JSONEachRow,
   blocks of BLOCK rows) — the ceiling of the writer.
2. The pipeline: EVENTS task events produced to Kafka first, then the Spark
   streaming job started on them (Parquet off unless --s3); rate = events /
   the job's own batch seconds (its JVM start excluded), and wall time from its
   first batch to the last row in ClickHouse.

    python3 bigdata/bench/ingest.py [--events 200000] [--block 50000]

Uses the engines scripts/test-bigdata.sh installs and tests/bigdata/servers.py
starts (Kafka from tests/e2e/kafka_broker.py), each on free loopback ports.
"""
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "bigdata"))

import e2e  # noqa: E402,F401  (tests/e2e on sys.path)
sys.modules.setdefault("conftest", e2e.harness)  # kafka_broker.py's `from conftest import free_port`
from servers import ClickHouseServer, StreamJob  # noqa: E402
from kafka_broker import KafkaBroker  # noqa: E402
import apply  # noqa: E402

TENANTS = ["acme", "globex", "initech", "umbrella"]
INTENTS = ["summarize", "classify", "chat", "embed"]


def event(i, ts0):
    task, seq = divmod(i, 5)
    return {"schemaVersion": 1, "tenant": TENANTS[task % 4], "intent": INTENTS[task % 4],
            "traceId": f"{task:032x}", "taskId": f"tsk_bench{task:012d}", "seq": seq + 1,
            "type": "done" if seq == 4 else "status", "ts": ts0 + i,
            "data": {"status": "succeeded" if seq == 4 else "running", "route": "module:summarize",
                     "queueMs": 1, "runMs": 2, "overheadMs": 0.5}}


def row(i, ts0):
    e = event(i, ts0)
    t = time.gmtime(e["ts"] // 1000)
    return {"day": time.strftime("%Y-%m-%d", t), "ts": time.strftime("%Y-%m-%d %H:%M:%S", t), "ts_ms": e["ts"],
            "tenant": e["tenant"], "intent": e["intent"], "task_id": e["taskId"], "seq": e["seq"],
            "type": e["type"], "status": e["data"]["status"], "route": "module:summarize", "route_class": "local",
            "privacy": "local-only", "queue_ms": 1, "run_ms": 2, "overhead_ms": 0.5, "trace_id": e["traceId"],
            "schema_version": 1, "data": json.dumps(e["data"]), "ingested_at": "2026-12-02 00:00:00"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--block", type=int, default=50_000)
    ap.add_argument("--per-trigger", type=int, default=100_000, help="the job's MAX_OFFSETS_PER_TRIGGER")
    args = ap.parse_args()
    ts0 = int(time.time() * 1000) - args.events
    results = []
    with tempfile.TemporaryDirectory(prefix="aion-bench-") as tmp:
        tmp = Path(tmp)
        ch = ClickHouseServer(tmp / "ch").start()
        kafka = KafkaBroker(tmp / "kafka")
        job = None
        try:
            apply.apply(apply.ClickHouse(ch.url), log=lambda *_: None)
            # 1. ClickHouse alone
            body = [("\n".join(json.dumps(row(i, ts0)) for i in range(s, min(s + args.block, args.events)))).encode()
                    for s in range(0, args.events, args.block)]
            t0 = time.monotonic()
            for b in body:
                ch.query("INSERT INTO aion.task_events FORMAT JSONEachRow", b)
            dt = time.monotonic() - t0
            results.append(("ClickHouse HTTP insert, JSONEachRow", args.events, dt, args.events / dt))
            ch.query("TRUNCATE TABLE aion.task_events")
            # 2. the pipeline
            kafka.start()
            kafka.create_topic("aion.task-events", 3)
            kafka.create_topic("aion.usage", 3)
            from confluent_kafka import Producer
            p = Producer({"bootstrap.servers": kafka.brokers, "linger.ms": 20, "compression.type": "lz4",
                          "queue.buffering.max.messages": 1_000_000})
            for i in range(args.events):
                e = event(i, ts0)
                p.produce("aion.task-events", key=e["taskId"], value=json.dumps(e))
                if i % 50_000 == 0:
                    p.poll(0)
            p.flush(120)
            del p
            job = StreamJob(tmp / "spark", {"KAFKA_BROKERS": kafka.brokers, "CLICKHOUSE_URL": ch.url,
                                            "MAX_OFFSETS_PER_TRIGGER": str(args.per_trigger),
                                            "SPARK_DRIVER_MEMORY": "1g"}).start()
            job.wait_started(timeout=300)
            first = None
            while True:
                n = int(ch.scalar("SELECT count() FROM aion.task_events"))
                if n and first is None:
                    first = time.monotonic()
                if n >= args.events:
                    break
                if job.proc.poll() is not None:
                    raise RuntimeError(job.tail())
                time.sleep(0.2)
            wall = time.monotonic() - first
            time.sleep(1)
            batches = [b for b in job.batches() if b["events"]]
            batch_s = sum(b["seconds"] for b in batches)
            results.append(("Kafka -> Spark job -> ClickHouse (batch time)", args.events, batch_s,
                            args.events / batch_s))
            if len(batches) > 1:  # the first batch carries the JVM's warm-up
                rest = batches[1:]
                n, sec = sum(b["events"] for b in rest), sum(b["seconds"] for b in rest)
                results.append(("  same, batches after the first", n, sec, n / sec))
            results.append(("  same, wall from first row to last", args.events, wall, args.events / wall))
        finally:
            if job:
                job.stop()
            kafka.stop()
            ch.stop()
    print(f"\n{'path':<48} {'events':>9} {'seconds':>9} {'events/s':>10}")
    for name, n, s, rate in results:
        print(f"{name:<48} {n:>9} {s:>9.2f} {rate:>10.0f}")
    print(f"\n(nproc={os.cpu_count()}, load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
