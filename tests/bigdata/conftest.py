"""One analytics stack per test session, on loopback (docs/bigdata.md):
Kafka (KRaft, tests/e2e/kafka_broker.py), ClickHouse 18.16 with bigdata/sql
applied, SeaweedFS's S3 server with the bucket, aiond (TENANCY_MODE=multi,
KAFKA_BROKERS, the fake provider) and the Spark streaming job. The tests in
this folder share it and run in file order; each says what it leaves behind."""
import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e import harness  # noqa: E402  (tests/e2e/conftest.py)

free_port = harness.free_port  # for tests/e2e/kafka_broker.py's `from conftest import free_port`
Aiond, openai_env = harness.Aiond, harness.openai_env

from servers import REPO, ClickHouseServer, SeaweedS3, StreamJob, SPARK_PY  # noqa: E402

import apply  # noqa: E402  (bigdata/sql/apply.py)
from fake_provider import FakeProvider  # noqa: E402
from kafka_broker import KafkaBroker  # noqa: E402

BUILD = Path(os.environ.get("AION_BUILD_DIR", REPO / "build"))
BUCKET = "aion-analytics"
# One user key per tenant, and an admin key bound to none (it names a tenant with X-Tenant-Id).
TENANTS = ("acme", "globex", "initech")
KEYS = ",".join([f"{t}-key:user:{t}" for t in TENANTS] + ["root:admin"])
TOPICS = ("aion.task-events", "aion.usage", "aion.dead-letter", "aion.alerts")


def s3_call(stack, op, *args):
    """Object-storage helpers run in the Spark venv (it has pyarrow):
    tests/bigdata/s3tool.py OP ARGS -> parsed JSON."""
    import json
    import subprocess
    env = {**os.environ, **stack.s3_env}
    r = subprocess.run([str(SPARK_PY), str(Path(__file__).parent / "s3tool.py"), op, *args],
                       env=env, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"s3tool {op} {args}: {r.stderr[-3000:]}")
    return json.loads(r.stdout)


class Stack:
    def __init__(self, tmp):
        self.tmp = Path(tmp)
        self.kafka = KafkaBroker(self.tmp / "kafka")
        self.ch = ClickHouseServer(self.tmp / "clickhouse")
        self.s3 = SeaweedS3(self.tmp / "seaweedfs")
        self.fake = None
        self.aiond = None
        self.job = None

    @property
    def s3_env(self):
        return {"S3_ENDPOINT": self.s3.endpoint, "S3_BUCKET": BUCKET, "S3_ACCESS_KEY": self.s3.access_key,
                "S3_SECRET_KEY": self.s3.secret_key, "S3_REGION": "us-east-1"}

    @property
    def env(self):
        return {"KAFKA_BROKERS": self.kafka.brokers, "CLICKHOUSE_URL": self.ch.url, **self.s3_env}

    def start(self):
        t0 = time.monotonic()
        self.kafka.start()
        for t in TOPICS:
            self.kafka.create_topic(t, partitions=3)
        self.ch.start()
        apply.apply(apply.ClickHouse(self.ch.url), log=lambda *_: None)
        self.s3.start()
        s3_call(self, "mkbucket", BUCKET)
        self.job = StreamJob(self.tmp / "spark", self.env).start()
        self.fake = FakeProvider().start()
        if not (BUILD / "aiond").exists():
            pytest.exit(f"{BUILD / 'aiond'} not built: run ./scripts/build.sh", returncode=2)
        self.aiond = Aiond(self.tmp / "aiond", openai_env(
            self.fake, KAFKA_BROKERS=self.kafka.brokers, TENANCY_MODE="multi", AION_GATEWAY_API_KEYS=KEYS))
        self.aiond.tmp.mkdir(parents=True, exist_ok=True)
        self.aiond.start()
        self.job.wait_started()
        print(f"\n[bigdata] stack up in {time.monotonic() - t0:.1f} s", flush=True)
        return self

    def stop(self):
        for part in (self.job, self.aiond, self.fake, self.s3, self.ch, self.kafka):
            try:
                if part:
                    part.stop()
            except Exception as e:  # keep stopping the rest
                print(f"[bigdata] stopping {part}: {e}")


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    harness.AIOND = BUILD / "aiond"
    harness.MODULES = BUILD / "modules"
    harness.TEST_MODULES = BUILD / "test-modules"
    s = Stack(tmp_path_factory.mktemp("bigdata"))
    try:
        s.start()
        yield s
    finally:
        s.stop()
