"""Task documents in MongoDB (AION_CONTROL_MONGO_DSN), against a real
FerretDB (tests/e2e/ferretdb_server.py: MongoDB's wire protocol on SQLite; no
MongoDB server is packaged here). The DocumentStore conformance suite runs
against it; an aiond on it stores large params and every event there, the
task row keeping a reference, and reads back exactly what an aiond without
MongoDB returns; a bad DSN or an unreachable server stops start-up naming the
variable; a server that goes away later fails submissions visibly."""
import json
import os
import re
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import pymongo
import pytest

from conftest import Split, free_port
from ferretdb_server import FerretDB
from postgres_server import PostgresServer
from test_store_postgres import fresh_database

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("AION_BUILD_DIR", REPO / "build"))
SUITE = BUILD / "tests" / "unit" / "unit_document_conformance"

# About 200 KB of prose: far past the 16 KiB kept inline, within summarize's schema.
BIG_TEXT = " ".join(f"Sentence number {i} says something about topic {i % 7}." for i in range(4000))


@pytest.fixture(scope="module")
def ferretdb(tmp_path_factory):
    server = FerretDB(tmp_path_factory.mktemp("ferretdb")).start()
    yield server
    server.stop()


def mongo_env(server, db):
    return {"AION_CONTROL_MONGO_DSN": f"mongodb://127.0.0.1:{server.port}/{db}"}


def fresh_db():
    return "aion_" + uuid.uuid4().hex[:12]


def client(server):
    return pymongo.MongoClient(f"mongodb://127.0.0.1:{server.port}/", serverSelectionTimeoutMS=5000)


def stable(task):
    """A task view without what differs between two runs of the same task."""
    drop = {"taskId", "id", "timings", "links", "traceId"}
    return untimed({k: v for k, v in task.items() if k not in drop})


TIMINGS = {"ts", "queueMs", "runMs", "totalMs", "upstreamMs", "overheadMs"}


def untimed(v):
    """`v` without the timings that differ between two runs of one task."""
    if isinstance(v, dict):
        return {k: untimed(x) for k, x in v.items() if k not in TIMINGS}
    if isinstance(v, list):
        return [untimed(x) for x in v]
    return v


def event_view(events):
    return [(e["id"], e["event"], untimed({k: v for k, v in e["json"].items() if k not in ("taskId", "id")}))
            for e in events]


def test_conformance_suite_passes_against_ferretdb(ferretdb):
    assert SUITE.exists(), f"{SUITE} missing: build first (scripts/build.sh)"
    env = dict(os.environ, AION_TEST_MONGO_DSN=f"mongodb://127.0.0.1:{ferretdb.port}/{fresh_db()}")
    r = subprocess.run([str(SUITE), "--gtest_color=no"], env=env, capture_output=True, text=True,
                       timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    assert "[  SKIPPED ]" not in out, out[-6000:]
    for suite in ("DocumentStoreConformance", "DocumentTaskStoreTest"):
        assert f"[       OK ] {suite}/MongoDB." in out and f"[       OK ] {suite}/Sqlite." in out
    assert "[       OK ] DocumentTaskStoreTest/MongoDB.APurgedTaskTakesItsDocumentsAlong" in out
    passed = re.search(r"\[  PASSED  \] (\d+) tests?", out)
    assert passed and int(passed.group(1)) >= 25, out[-3000:]


def test_without_a_server_the_suite_says_why_it_skips_the_mongodb_half():
    env = {k: v for k, v in os.environ.items() if k != "AION_TEST_MONGO_DSN"}
    r = subprocess.run([str(SUITE), "--gtest_filter=DocumentStoreConformance/MongoDB.Pings",
                        "--gtest_color=no"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    assert "AION_TEST_MONGO_DSN not set" in r.stdout and "[  SKIPPED ]" in r.stdout


def test_large_params_and_every_event_live_in_mongodb_and_read_back_exactly(make_aiond, ferretdb):
    db = fresh_db()
    plain = make_aiond(subdir="plain").start()
    mongo = make_aiond(mongo_env(ferretdb, db), subdir="mongo").start()
    params = {"text": BIG_TEXT, "max_sentences": 3}
    views, streams, ids = [], [], []
    for a in (plain, mongo):
        r = a.submit("summarize", params)
        assert r.status == 202, r
        ids.append(r.json["taskId"])
        t = a.wait(r.json["taskId"])
        assert t["status"] == "succeeded", t
        views.append(a.request("GET", f"/v1/tasks/{r.json['taskId']}").json)
        events, _, _ = a.sse(r.json["taskId"])
        streams.append(events)
    # What a client reads is the same with and without MongoDB.
    assert stable(views[1]) == stable(views[0])
    assert event_view(streams[1]) == event_view(streams[0])
    # Resuming after an event replays the rest exactly.
    resumed, _, _ = mongo.sse(ids[1], last_event_id=1)
    assert event_view(resumed) == event_view(streams[1])[1:]

    # The params are a document in MongoDB; the row keeps a reference.
    task_id = ids[1]
    m = client(ferretdb)[db]
    doc = m.task_documents.find_one({"_id": f"{task_id}/params"})
    assert doc and doc["taskId"] == task_id and json.loads(doc["json"]) == params
    history = list(m.task_events.find({"taskId": task_id}).sort("seq", 1))
    assert [e["seq"] for e in history] == [int(e["id"]) for e in streams[1]]
    assert [e["type"] for e in history] == [e["event"] for e in streams[1]]
    with sqlite3.connect(mongo.data_dir / "aion.db") as row:
        stored = json.loads(row.execute("SELECT params FROM tasks WHERE id=?", (task_id,)).fetchone()[0])
    assert stored == {"$aionDocument": {"task": task_id, "name": "params"}}
    # A small task stays in its row.
    small = mongo.wait(mongo.submit("summarize", {"text": "Short. Text."}).json["taskId"])
    assert m.task_documents.count_documents({"taskId": small["taskId"]}) == 0
    assert m.task_events.count_documents({"taskId": small["taskId"]}) > 0
    metrics = mongo.request("GET", "/metrics").raw.decode()
    assert 'aion_store_document_requests_total{engine="mongodb",op="put",outcome="ok"}' in metrics

    # After a restart the task still reads back whole.
    mongo.stop()
    mongo.start()
    assert stable(mongo.request("GET", f"/v1/tasks/{task_id}").json) == stable(views[0])


def test_a_task_recovered_at_start_up_runs_with_its_params_from_mongodb(make_aiond, ferretdb):
    # One module slot, held by a slow task: the large task waits queued, and
    # aiond is killed before it runs. The next start runs it from the stored
    # row, whose params are a reference: the spin guest echoes params.ms, so
    # it answers 1234 only if it got the params back from MongoDB.
    a = make_aiond({**mongo_env(ferretdb, fresh_db()), "AION_WORKERS": "1"}).start()
    assert a.submit("spin", {"ms": 3000}).status == 202
    r = a.submit("spin", {"blob": BIG_TEXT, "ms": 1234})
    assert r.status == 202, r
    assert a.request("GET", f"/v1/tasks/{r.json['taskId']}").json["status"] in ("queued", "routed")
    a.kill9()
    a.start()
    t = a.wait(r.json["taskId"], timeout=60)
    assert t["status"] == "succeeded", t
    assert t["result"] == {"spun": 1234}


def test_two_control_planes_on_postgresql_share_the_documents(ferretdb, tmp_path):
    # Plane A acknowledges a large task it cannot start yet (both its module
    # slots busy) and is killed; plane B gets it from the database (taken from
    # A's queue, or claimed once A's lease ran out) and runs it from the row
    # and MongoDB: the spin guest echoes params.ms, so 1234 means B got the
    # params back from MongoDB.
    pg = PostgresServer(tmp_path / "pg").start()
    planes = []
    try:
        env = {"AION_CONTROL_POSTGRES_DSN": fresh_database(pg, "mongo_planes"), "AION_WORKERS": "2",
               "AION_CONTROL_LEASE_MS": "2000", **mongo_env(ferretdb, fresh_db())}
        planes = [Split(tmp_path / name, control_env=env).start() for name in ("a", "b")]
        a, b = planes
        for _ in range(2):
            assert a.submit("spin", {"ms": 3000}).status == 202
        r = a.submit("spin", {"blob": BIG_TEXT, "ms": 1234})
        assert r.status == 202, r
        tid = r.json["taskId"]
        assert b.request("GET", f"/v1/tasks/{tid}").json["status"] in ("queued", "routed")
        a.control_node.kill9()
        t = b.wait(tid, timeout=60)
        assert t["status"] == "succeeded" and t["result"] == {"spun": 1234}, t
        # Its events, written by both planes, replay whole through B.
        events, _, _ = b.sse(tid)
        assert [e["event"] for e in events][-2:] == ["result", "done"], events
    finally:
        for p in planes:
            p.stop()
        pg.stop()


def test_params_past_mongodbs_document_limit_are_refused_clearly(make_aiond, ferretdb):
    a = make_aiond({**mongo_env(ferretdb, fresh_db()), "AION_MAX_BODY_BYTES": str(20 << 20)}).start()
    r = a.submit("spin", {"ms": 0, "blob": "x" * (17 << 20)})
    assert r.status == 413, r
    assert "16 MiB" in r.json["error"]["message"], r.json
    # The process is fine and takes the next task.
    assert a.wait(a.submit("spin", {"ms": 0}).json["taskId"])["status"] == "succeeded"


@pytest.mark.parametrize("dsn, says", [
    ("somewhere:1234", "must be a MongoDB connection string"),
    ("mongodb://host:notaport/aion", "not a MongoDB connection string"),
])
def test_a_malformed_dsn_fails_start_up_naming_the_variable(make_aiond, dsn, says):
    a = make_aiond({"AION_CONTROL_MONGO_DSN": dsn})
    with pytest.raises(RuntimeError) as e:
        a.start(timeout=10)
    assert "AION_CONTROL_MONGO_DSN" in str(e.value) and says in str(e.value), str(e.value)[-2000:]


def test_an_unreachable_server_fails_start_up_naming_the_variable(make_aiond):
    port = free_port()  # nothing listens there
    a = make_aiond({"AION_CONTROL_MONGO_DSN": f"mongodb://127.0.0.1:{port}/aion?serverSelectionTimeoutMS=1000"})
    began = time.monotonic()
    with pytest.raises(RuntimeError) as e:
        a.start(timeout=15)
    assert "AION_CONTROL_MONGO_DSN" in str(e.value) and "ping" in str(e.value), str(e.value)[-2000:]
    assert time.monotonic() - began < 10


def test_mongodb_down_after_start_fails_submissions_visibly_and_recovers(make_aiond, tmp_path):
    server = FerretDB(tmp_path / "ferretdb").start()
    try:
        dsn = f"mongodb://127.0.0.1:{server.port}/aion?serverSelectionTimeoutMS=1000"
        a = make_aiond({"AION_CONTROL_MONGO_DSN": dsn}).start()
        assert a.wait(a.submit("summarize", {"text": "Before. The outage."}).json["taskId"])["status"] == "succeeded"
        server.stop()
        r = a.submit("summarize", {"text": "During. The outage."})
        assert r.status == 503, r
        assert "MongoDB (AION_CONTROL_MONGO_DSN)" in r.json["error"]["message"], r.json
        metrics = a.request("GET", "/metrics").raw.decode()
        assert re.search(r'aion_store_document_requests_total\{engine="mongodb",op="append_events",'
                         r'outcome="unavailable"\} [1-9]', metrics), metrics[-3000:]
        # Readiness says so too (the store is pinged every second).
        deadline = time.monotonic() + 15
        while (ready := a.control("GET", "/readyz")).status == 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ready.status == 503 and "MongoDB" in ready.raw.decode(), ready
        server.start()
        deadline = time.monotonic() + 20
        while True:
            r = a.submit("summarize", {"text": "After. The outage."})
            if r.status == 202 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert r.status == 202, r
        assert a.wait(r.json["taskId"])["status"] == "succeeded"
        deadline = time.monotonic() + 15
        while a.control("GET", "/readyz").status != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert a.control("GET", "/readyz").status == 200
    finally:
        server.stop()
