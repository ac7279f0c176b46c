"""The batch DAGs under bigdata/pipelines/batch/airflow, each run by a real
Airflow (`airflow dags test`, SQLite metadata, LocalExecutor) against the
session's ClickHouse, S3 and Kafka. The report and compaction read what
test_1_streaming.py left for today; the anomaly test seeds its own history."""
import csv
import io
import json
import os
import subprocess
import time
import uuid

import pytest

from conftest import TENANTS, s3_call
from servers import AIRFLOW_BIN, REPO

DAGS = REPO / "bigdata" / "pipelines" / "batch" / "airflow" / "dags"


@pytest.fixture(scope="module")
def airflow(stack):
    home = stack.tmp / "airflow"
    home.mkdir(exist_ok=True)
    if not (AIRFLOW_BIN / "airflow").exists():
        pytest.fail(f"no Airflow at {AIRFLOW_BIN} (scripts/test-bigdata.sh installs it)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AION_DAG_RETRIES": "0",  # a failure fails the test now, not after retry delays
        "ALERTS_TOPIC": "aion.alerts",
        **stack.env,
    })

    def run(*args, timeout=300):
        r = subprocess.run(["nice", str(AIRFLOW_BIN / "airflow"), *args], env=env, capture_output=True,
                           text=True, timeout=timeout)
        assert r.returncode == 0, f"airflow {' '.join(args)} exited {r.returncode}:\n{(r.stdout + r.stderr)[-6000:]}"
        return r.stdout + r.stderr

    run("db", "migrate")
    errors = run("dags", "list-import-errors", "-o", "json")
    assert "aion_" not in errors, errors
    return run


def dags_test(airflow, dag_id, day):
    t0 = time.monotonic()
    out = airflow("dags", "test", dag_id, day)
    assert "state=success" in out, out[-4000:]
    print(f"\n[bigdata] airflow dags test {dag_id} {day}: {time.monotonic() - t0:.1f} s", flush=True)
    return out


def today_with_data(stack):
    day = stack.ch.scalar("SELECT toString(max(day)) FROM aion.usage WHERE tenant IN ('acme', 'globex', 'initech')")
    if day in ("", "0000-00-00"):
        pytest.skip("no usage from aiond in ClickHouse: test_1_streaming.py runs first and leaves it")
    return day


def test_daily_cost_report_matches_clickhouse(stack, airflow):
    day = today_with_data(stack)
    dags_test(airflow, "aion_daily_cost_report", day)
    text = s3_call(stack, "text", f"reports/cost/day={day}/cost_by_tenant.csv")
    report = {r["tenant"]: r for r in csv.DictReader(io.StringIO(text))}
    want = {r["tenant"]: r for r in stack.ch.rows(
        f"SELECT tenant, sum(calls) AS calls, sum(prompt_tokens) AS p, sum(completion_tokens) AS c, "
        f"sum(cost_nano_usd) AS nano FROM aion.cost_daily WHERE day = '{day}' GROUP BY tenant")}
    assert set(TENANTS) <= set(report)
    assert set(report) == set(want)
    for tenant, w in want.items():
        r = report[tenant]
        assert (int(r["calls"]), int(r["prompt_tokens"]), int(r["completion_tokens"]), int(r["cost_nano_usd"])) == \
            (int(w["calls"]), int(w["p"]), int(w["c"]), int(w["nano"])), (r, w)
        nano = int(w["nano"])
        assert r["cost_usd"] == f"{nano // 10**9}.{nano % 10**9:09d}"  # exact decimal text
        assert r["day"] == day
    detail = s3_call(stack, "parquet", f"reports/cost/day={day}/cost_by_model.parquet", "cost_nano_usd")
    assert detail["rows"] == int(stack.ch.scalar(f"SELECT count() FROM aion.cost_daily WHERE day = '{day}'"))
    assert sum(detail["columns"]["cost_nano_usd"]) == sum(int(w["nano"]) for w in want.values())


def seed_usage(stack, tenant, day, nano):
    row = {"day": day, "ts": f"{day} 12:00:00", "ts_ms": 0, "id": f"seed-{uuid.uuid4().hex}", "task_id": "tsk_seed",
           "tenant": tenant, "key_id": "", "intent": "chat", "provider": "openai", "model": "gpt-4o-mini",
           "route_class": "api", "privacy": "allow-api", "prompt_tokens": 10, "completion_tokens": 10,
           "cost_nano_usd": nano, "estimated": 0, "schema_version": 1, "ingested_at": f"{day} 12:00:00"}
    stack.ch.query("INSERT INTO aion.usage FORMAT JSONEachRow", json.dumps(row).encode())


def test_budget_anomaly_alerts_tenants_far_above_their_trailing_average(stack, airflow):
    day, history = "2026-01-20", [f"2026-01-{d:02d}" for d in range(13, 20)]  # the 7 days before
    for d in history:
        seed_usage(stack, "spiky", d, 2_000_000)
        seed_usage(stack, "steady", d, 2_000_000)
    seed_usage(stack, "spiky", day, 50_000_000)     # 25x its average: alert
    seed_usage(stack, "steady", day, 2_500_000)     # 1.25x: no alert
    seed_usage(stack, "newcomer", day, 2_500_000)   # no history, under 3 x the 0.001 USD floor: no alert
    seed_usage(stack, "newbig", day, 10_000_000)    # no history, over it: alert
    dags_test(airflow, "aion_budget_anomaly", day)
    alerts = [m for m in stack.kafka.consume("aion.alerts", 0, timeout=10) if m["value"]["day"] == day]
    by_tenant = {m["value"]["tenant"]: m for m in alerts}
    assert set(by_tenant) == {"spiky", "newbig"}, alerts
    spiky = by_tenant["spiky"]
    assert spiky["key"] == "spiky"
    v = spiky["value"]
    assert v["type"] == "budget_anomaly" and v["id"] == f"budget_anomaly/spiky/{day}" and v["schemaVersion"] == 1
    assert v["spendNanoUsd"] == 50_000_000 and v["trailingAvgNanoUsd"] == 2_000_000 and v["ratio"] == 25
    assert v["spendUsd"] == "0.050000000"
    assert by_tenant["newbig"]["value"]["ratio"] is None


def test_compaction_leaves_one_parquet_per_table_and_day_and_retention_drops_old_partitions(stack, airflow):
    day = today_with_data(stack)
    before = s3_call(stack, "ls", f"events/usage/day={day}")
    assert len(before) > 1, before  # one per streaming batch and Kafka partition
    # an old partition, past the 90-day retention of task events
    stack.ch.query("INSERT INTO aion.task_events (day, ts, task_id, seq, type) FORMAT JSONEachRow",
                   json.dumps({"day": "2026-06-01", "ts": "2026-06-01 00:00:00", "task_id": "tsk_old", "seq": 1,
                               "type": "status"}).encode())
    dags_test(airflow, "aion_parquet_compaction", day)
    for table, key in (("usage", ["id"]), ("task_events", ["task_id", "seq"])):
        files = s3_call(stack, "ls", f"events/{table}/day={day}")
        assert [f["path"].rsplit("/", 1)[1] for f in files] == ["compacted.parquet"], files
        pq = s3_call(stack, "parquet", f"events/{table}/day={day}", *key)
        keys = list(zip(*(pq["columns"][k] for k in key)))
        assert len(keys) == len(set(keys))  # one row per key
        assert len(keys) == int(stack.ch.scalar(f"SELECT count() FROM aion.{table} FINAL WHERE day = '{day}'"))
    assert stack.ch.scalar("SELECT count() FROM aion.task_events WHERE day = '2026-06-01'") == "0"
    assert int(stack.ch.scalar("SELECT count() FROM aion.usage WHERE day = '2026-01-20'")) > 0  # within 400 days
    # a second run converges: still one file, same rows
    dags_test(airflow, "aion_parquet_compaction", day)
    assert [f["path"].rsplit("/", 1)[1] for f in s3_call(stack, "ls", f"events/usage/day={day}")] == \
        ["compacted.parquet"]
