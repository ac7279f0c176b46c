"""The TaskStore and budget ledger conformance suites
(tests/unit/task_store_conformance_test.cpp, ledger_conformance_test.cpp)
against a real PostgreSQL 15: starts a throwaway cluster and runs each suite's
PostgreSQL half with AION_TEST_POSTGRES_DSN pointing at it. Each test makes
and drops a schema of its own."""
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from postgres_server import PostgresServer

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("AION_BUILD_DIR", REPO / "build"))
SUITE = BUILD / "tests" / "unit" / "unit_store_conformance"
LEDGER_SUITE = BUILD / "tests" / "unit" / "unit_ledger_conformance"
PG_FILTER = "*Postgres*:*Pg*"


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    server = PostgresServer(tmp_path_factory.mktemp("pg")).start()
    yield server
    server.stop()


def run_suite(dsn, gtest_filter, suite=SUITE):
    assert suite.exists(), f"{suite} missing: build first (scripts/build.sh)"
    env = dict(os.environ, AION_TEST_POSTGRES_DSN=dsn)
    return subprocess.run([str(suite), f"--gtest_filter={gtest_filter}", "--gtest_color=no"],
                          env=env, capture_output=True, text=True, timeout=600)


def test_conformance_suite_passes_against_postgres(postgres):
    r = run_suite(postgres.dsn, PG_FILTER)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    assert "[  SKIPPED ]" not in out, out[-6000:]
    passed = re.search(r"\[  PASSED  \] (\d+) tests?", out)
    assert passed and int(passed.group(1)) > 10, out[-6000:]
    # Every typed case ran for PostgreSQL too, not only the PG-specific ones.
    assert "TaskStoreConformance/Postgres." in out
    assert "[       OK ] TaskStoreConformance/Postgres.OutboxKeepsCommitOrderAndTrims" in out
    assert ("[       OK ] TaskStoreConformance/Postgres."
            "PurgeDeletesTasksEndedBeforeTheCutoffOldestFirstWithTheirEvents") in out
    # and the claim/lease/ledger cases of several control planes
    for case in ("TasksOfAPlaneWhoseLeaseRanOutAreClaimedOnceAndOnlyTheOwnerWrites",
                 "CancelsAndCommittedEventsReachTheOtherPlane",
                 "TheSharedLedgerNeverLetsPlanesOverspendACap",
                 "QueuedTasksOfABusyPlaneAreTakenOnceAndTheirOwnerIsTold",
                 "RowsOfPlanesGoneForADayAreForgottenAtTheNextRenewal"):
        assert f"[       OK ] PgClusterTest.{case}" in out, case


def test_ledger_conformance_suite_passes_against_postgres(postgres):
    r = run_suite(postgres.dsn, "*Postgres*", LEDGER_SUITE)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    assert "[  SKIPPED ]" not in out, out[-6000:]
    for case in ("ARefusalNamesTheScopeAndReservesNothing",
                 "ASettleCountsWhatWasSpentOnceAndFreesItsReservation",
                 "EveryScopeOfACallIsChecked", "SpendAlreadyStoredForThePeriodCounts",
                 "ConcurrentReservationsFromEveryPlaneNeverPassTheCap"):
        assert f"[       OK ] LedgerConformance/Postgres.{case}" in out, case
    assert "[       OK ] PostgresLedger.ASettleTheDatabaseMissedIsRetriedBeforeTheNextReservation" in out


def test_tests_leave_no_schema_behind(postgres):
    r = run_suite(postgres.dsn, "TaskStoreConformance/Postgres.CreateAndGetRoundTrip")
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    psql = postgres.bin / "psql"
    q = subprocess.run([str(psql), "-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres",
                        "-d", "postgres", "-Atc",
                        "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 't\\_%'"],
                       capture_output=True, text=True, timeout=60)
    assert q.returncode == 0, q.stderr
    assert q.stdout.strip() == "0"


# ---- aiond on PostgreSQL (AION_CONTROL_POSTGRES_DSN) -------------------------------

def fresh_database(postgres, name):
    psql = postgres.bin / "psql"
    q = subprocess.run([str(psql), "-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres",
                        "-d", "postgres", "-c", f"CREATE DATABASE {name}"],
                       capture_output=True, text=True, timeout=60)
    assert q.returncode == 0, q.stderr
    return f"host=127.0.0.1 port={postgres.port} user=postgres dbname={name}"


def sql(postgres, dsn, query):
    db = dsn.split("dbname=")[1]
    q = subprocess.run([str(postgres.bin / "psql"), "-h", "127.0.0.1", "-p", str(postgres.port), "-U",
                        "postgres", "-d", db, "-Atc", query], capture_output=True, text=True, timeout=60)
    assert q.returncode == 0, q.stderr
    return q.stdout.strip()


def test_aiond_keeps_tasks_events_and_usage_in_postgres(postgres, make_aiond, fake):
    from conftest import openai_env
    dsn = fresh_database(postgres, "aion_keeps")
    a = make_aiond(openai_env(fake, AION_CONTROL_POSTGRES_DSN=dsn)).start()
    tid = a.submit("summarize", {"text": "Stored in PostgreSQL. Not in SQLite."}).json["taskId"]
    assert a.wait(tid)["status"] == "succeeded"
    r = a.request("POST", "/v1/chat/completions", {"model": "gpt-4o-mini",
                                                   "messages": [{"role": "user", "content": "a b"}]},
                  key=None, headers={"Authorization": "Bearer demo-key"})
    assert r.status == 200, r
    chat = r.headers["x-aion-task-id"]
    # the rows are PostgreSQL's; SQLite has none
    assert sql(postgres, dsn, f"SELECT status FROM tasks WHERE id='{tid}'") == "succeeded"
    assert int(sql(postgres, dsn, f"SELECT count(*) FROM events WHERE task_id='{tid}'")) >= 4
    assert int(sql(postgres, dsn, f"SELECT count(*) FROM usage WHERE task_id='{chat}'")) == 1
    assert not (a.data_dir / "aion.db").exists()
    # a status-filtered list is a range of (tenant, status, id), not a read of every task of the tenant
    listed = a.request("GET", "/v1/tasks?status=succeeded&limit=5").json["items"]
    assert tid in [t["taskId"] for t in listed] and all(t["status"] == "succeeded" for t in listed)
    assert a.request("GET", "/v1/tasks?status=failed&limit=5").json["items"] == []
    tenant = sql(postgres, dsn, f"SELECT tenant FROM tasks WHERE id='{tid}'")
    plan = sql(postgres, dsn, "SET enable_seqscan=off; EXPLAIN SELECT id FROM tasks WHERE "
                              f"tenant='{tenant}' AND status='failed' AND status<>'succeeded' "
                              "ORDER BY id DESC LIMIT 5")
    assert "tasks_tenant_status_id" in plan and "Sort" not in plan, plan
    a.stop()
    a.start()  # history, events and spend survive a restart
    t = a.request("GET", f"/v1/tasks/{tid}").json
    assert t["status"] == "succeeded" and t["result"]["summary"]
    events, _, _ = a.sse(tid)
    assert [e["json"]["seq"] for e in events] == list(range(1, len(events) + 1))
    u = a.control("GET", "/v1/usage?groupBy=model").json
    assert u["total"]["calls"] == 1, u


def test_kill_9_on_postgres_loses_no_acknowledged_task(postgres, make_aiond):
    dsn = fresh_database(postgres, "aion_kill")
    a = make_aiond({"AION_CONTROL_POSTGRES_DSN": dsn, "AION_WORKERS": "2"}).start()
    ids = [a.submit("spin", {"ms": 250}).json["taskId"] for _ in range(6)]
    ids += [a.submit("summarize", {"text": f"Sentence {i}. More."}).json["taskId"] for i in range(6)]
    time.sleep(0.4)
    running = [t["taskId"] for t in a.request("GET", "/v1/tasks?status=running").json["items"]]
    assert running, "expected tasks running at the time of the kill"
    a.kill9()
    a.start()
    for tid in ids:
        assert a.wait(tid, timeout=60)["status"] == "succeeded"
    for tid in running:
        assert a.request("GET", f"/v1/tasks/{tid}").json["attempts"] == 2


def test_control_planes_share_a_database_by_id_and_the_split_roles_on_postgres(postgres, make_aiond, tmp_path):
    from conftest import Split
    dsn = fresh_database(postgres, "aion_one")
    s = Split(tmp_path / "split", {"AION_CONTROL_POSTGRES_DSN": dsn, "AION_CONTROL_PLANE_ID": "one"}).start()
    try:
        tid = s.submit("summarize", {"text": "Through the gateway role. Into PostgreSQL."}).json["taskId"]
        assert s.wait(tid)["status"] == "succeeded"
        assert sql(postgres, dsn, f"SELECT status FROM tasks WHERE id='{tid}'") == "succeeded"
        assert sql(postgres, dsn, f"SELECT owner FROM tasks WHERE id='{tid}'") == "one"
        # a second control plane with the same id is refused: both would own its tasks
        same = make_aiond({"AION_CONTROL_POSTGRES_DSN": dsn, "AION_CONTROL_PLANE_ID": "one"}, subdir="same")
        with pytest.raises(RuntimeError) as e:
            same.start(timeout=20)
        assert "AION_CONTROL_POSTGRES_DSN" in str(e.value) and "AION_CONTROL_PLANE_ID" in str(e.value)
        # one with an id of its own runs beside it and sees the same tasks
        other = make_aiond({"AION_CONTROL_POSTGRES_DSN": dsn}, subdir="second").start()
        assert other.request("GET", f"/v1/tasks/{tid}").json["status"] == "succeeded"
        assert other.wait(other.submit("summarize", {"text": "Second plane. Same database."})
                          .json["taskId"])["status"] == "succeeded"
        assert sql(postgres, dsn, "SELECT count(DISTINCT owner) FROM tasks") == "2"
    finally:
        s.stop()


@pytest.mark.parametrize("dsn,message", [
    ("host=127.0.0.1 port=1 user=postgres dbname=postgres connect_timeout=2", "cannot connect"),
    ("this is = not a dsn", "cannot connect"),
    ("host=127.0.0.1 port={port} user=postgres dbname=no_such_db", "no_such_db"),
])
def test_an_unusable_postgres_dsn_fails_start_up_naming_the_variable(postgres, make_aiond, dsn, message):
    a = make_aiond({"AION_CONTROL_POSTGRES_DSN": dsn.format(port=postgres.port)})
    t0 = time.time()
    with pytest.raises(RuntimeError) as e:
        a.start(timeout=30)
    assert "AION_CONTROL_POSTGRES_DSN" in str(e.value) and message in str(e.value), str(e.value)[-600:]
    assert time.time() - t0 < 25
