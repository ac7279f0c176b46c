#!/usr/bin/env python3
"""Starts the Big Data Edition natively, without Docker, in the foreground
(scripts/bigdata-up.sh installs the engines first): a Kafka broker (KRaft),
ClickHouse 18.16 with bigdata/sql applied, SeaweedFS's S3 server with the
bucket, and the Spark streaming job — each on a free loopback port, data under
--dir. Prints the variables to start aiond and the DAGs with, then waits;
Ctrl-C stops everything.

    scripts/bigdata-up.sh [--dir DIR]
    # then, in another shell, with the printed KAFKA_BROKERS:
    KAFKA_BROKERS=127.0.0.1:PORT ./build/aiond
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "bigdata"))

import e2e  # noqa: E402,F401  (tests/e2e on sys.path)
sys.modules.setdefault("conftest", e2e.harness)  # kafka_broker.py's `from conftest import free_port`
from servers import ClickHouseServer, SeaweedS3, StreamJob, SPARK_PY  # noqa: E402  (puts bigdata/sql on sys.path)
import apply  # noqa: E402  (bigdata/sql/apply.py)
from kafka_broker import KafkaBroker  # noqa: E402

TOPICS = ("aion.task-events", "aion.usage", "aion.dead-letter", "aion.alerts")
BUCKET = "aion-analytics"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", help="where the engines keep their data (default: a new temp dir)")
    args = ap.parse_args()
    root = Path(args.dir or tempfile.mkdtemp(prefix="aion-bigdata-"))
    kafka, ch, s3 = KafkaBroker(root / "kafka"), ClickHouseServer(root / "clickhouse"), SeaweedS3(root / "seaweedfs")
    job = None
    try:
        kafka.start()
        for t in TOPICS:
            kafka.create_topic(t, partitions=3)
        ch.start()
        apply.apply(apply.ClickHouse(ch.url))
        s3.start()
    except Exception:
        for part in (s3, ch, kafka):
            part.stop()
        raise
    env = {"KAFKA_BROKERS": kafka.brokers, "CLICKHOUSE_URL": ch.url, "S3_ENDPOINT": s3.endpoint,
           "S3_BUCKET": BUCKET, "S3_ACCESS_KEY": s3.access_key, "S3_SECRET_KEY": s3.secret_key,
           "S3_REGION": "us-east-1"}
    try:
        subprocess.run([str(SPARK_PY), str(REPO / "tests" / "bigdata" / "s3tool.py"), "mkbucket", BUCKET],
                       env={**os.environ, **env}, check=True, capture_output=True)
        job = StreamJob(root / "spark", env).start().wait_started()
        print("\nBig Data Edition up (Ctrl-C stops it). Data and logs under", root)
        for k, v in env.items():
            print(f"export {k}={v}")
        print(f"# streaming job log: {job.log_path}\n# aiond: KAFKA_BROKERS={kafka.brokers} ./build/aiond", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while job.proc.poll() is None:
            time.sleep(1)
        print("the streaming job exited:\n" + job.tail(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for part in (job, s3, ch, kafka):
            if part:
                part.stop()


if __name__ == "__main__":
    sys.exit(main())
