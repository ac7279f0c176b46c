"""The roles apart on real engines, all on loopback, as issue 12 draws it: two
gateways (Redis for shared limits and idempotency), each in front of its own
control plane, both planes on one PostgreSQL, relaying events to Kafka,
calling one module host, keeping large task documents and every event in
MongoDB (FerretDB) and vectors in the Qdrant stand-in. The
seed's curl, grpcurl and OpenAI flows through either gateway; every event on
Kafka once per (task, seq); idempotency and an exact rate limit across the
gateways; TENANCY_MODE=multi across every role; collections shared through
Qdrant; a control plane killed under load finishing every task it
acknowledged.

Then two control planes on one PostgreSQL in more detail: a task submitted
through one is followed, resumed and canceled through the other; a plane
killed under load has its tasks finished by the other once its lease runs
out (retried once); a busy plane's queue runs on an idle one; a plane
stopped with SIGTERM hands its queue over at once; a budget cap holds across
both planes."""
import concurrent.futures
import json
import subprocess
import threading
import time

import openai
import pytest

from conftest import Aiond, Split, openai_env
from ferretdb_server import FerretDB
from kafka_broker import KafkaBroker
from postgres_server import PostgresServer
from qdrant_standin import QdrantStandin
from test_grpc import GRPCURL, objects
from test_hot_path import wait_until
from test_kafka import events_by_task
from test_store_postgres import fresh_database, sql


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    pg = PostgresServer(tmp_path_factory.mktemp("pg")).start()
    kafka = KafkaBroker(tmp_path_factory.mktemp("kafka"))
    qdrant = QdrantStandin().start()
    mongo = FerretDB(tmp_path_factory.mktemp("ferretdb"))
    try:
        mongo.start()
        kafka.start()
        for topic in ("aion.task-events", "aion.usage"):
            kafka.create_topic(topic, partitions=3)
        yield pg, kafka, qdrant, mongo
    finally:
        mongo.stop()
        qdrant.stop()
        kafka.stop()
        pg.stop()


class Topology:
    """Gateway A -> control plane A, gateway B -> control plane B; both planes
    on one database, one Kafka, one module host, one MongoDB and one Qdrant."""

    def __init__(self, tmp, env, dsn, kafka, qdrant, mongo_dsn, redis, control_env=None, gateway_env=None):
        self.modhost = Aiond(tmp / "modhost", env, role="modhost")
        control = {"AION_CONTROL_POSTGRES_DSN": dsn, "KAFKA_BROKERS": kafka.brokers,
                   "AION_CONTROL_QDRANT_URL": qdrant.url, "AION_CONTROL_MONGO_DSN": mongo_dsn,
                   "AION_WORKERS": "2",
                   "AION_CONTROL_LEASE_MS": str(LEASE_MS), **(control_env or {})}
        gateway = {"AION_CONTROL_REDIS_URL": redis.url, **(gateway_env or {})}
        self.planes = [Split(tmp / name, env, control_env=control, gateway_env=gateway) for name in ("a", "b")]

    def start(self):
        self.modhost.tmp.mkdir(parents=True, exist_ok=True)
        self.modhost.start()
        for p in self.planes:
            p.control_node.extra_env["AION_MODHOST_GRPC"] = f"127.0.0.1:{self.modhost.internal_port}"
            p.start()
        return self

    def stop(self):
        for p in self.planes:
            p.stop()
        self.modhost.stop()

    @property
    def gateways(self):
        return [p.gateways[0] for p in self.planes]


@pytest.fixture
def topology(engines, redis_url, fake, tmp_path, request):
    """Starts a Topology with the given extra environment (control, gateway)."""
    pg, kafka, qdrant, mongo = engines
    started = []

    def make(control_env=None, gateway_env=None, env=None):
        name = request.node.name.replace("test_", "c_")[:40] + str(len(started))
        dsn = fresh_database(pg, name)
        t = Topology(tmp_path / f"t{len(started)}", openai_env(fake, **(env or {})), dsn, kafka, qdrant,
                     f"{mongo.dsn}_{name}", redis_url, control_env, gateway_env)
        started.append(t)
        return t.start()

    yield make
    for t in started:
        t.stop()


@pytest.fixture
def cluster(topology, engines):
    yield topology(), engines[1]


def submit_load(streams):
    """One thread per (gateway, intent, params) submitting until `stop` is set;
    returns (acknowledged task ids, stop, threads)."""
    acked, stop, lock = [], threading.Event(), threading.Lock()

    def load(gw, intent, params):
        while not stop.is_set():
            try:
                r = gw.submit(intent, params)
            except OSError:
                continue
            if r.status == 202:
                with lock:
                    acked.append(r.json["taskId"])

    threads = [threading.Thread(target=load, args=s) for s in streams]
    for t in threads:
        t.start()
    return acked, stop, threads


def test_seed_flows_through_either_gateway_with_events_once_on_kafka(cluster):
    s, kafka = cluster
    g1, g2 = s.gateways
    # the seed's curl flow on one gateway, its stream on the other
    tid = g1.submit("summarize", {"text": "aionOS routes tasks. Gateways sit in front. Kafka hears it."}).json["taskId"]
    events, _, _ = g2.sse(tid)
    assert events[-1]["event"] == "done" and events[-1]["json"]["data"]["status"] == "succeeded"
    # the seed's grpcurl flow on the other gateway
    p = subprocess.run([GRPCURL, "-plaintext", "-H", "x-api-key: demo-key", "-d",
                        json.dumps({"intent": "summarize", "params": {"text": "One. Two. Three."}}),
                        f"localhost:{g2.grpc_port}", "aion.v1.AionTasks/Run"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    run = objects(p.stdout)
    assert run[-1]["data"]["status"] == "succeeded"
    grpc_tid = run[0]["task_id"]
    # the OpenAI SDK on the first gateway
    c = openai.OpenAI(base_url=f"http://127.0.0.1:{g1.gw_port}/v1", api_key="demo-key", max_retries=0)
    chat = c.chat.completions.with_raw_response.create(model="gpt-4o-mini",
                                                       messages=[{"role": "user", "content": "hi there"}])
    chat_tid = chat.headers["x-aion-task-id"]
    assert chat.parse().choices[0].message.content == "echo: hi there"
    # every event of every task on Kafka, once per (task, seq), in order
    ids = {tid, grpc_tid, chat_tid}
    got, _ = events_by_task(kafka, ids)
    assert set(got) == ids
    for t in ids:
        stored, _, _ = g1.sse(t)
        assert got[t] == list(range(1, len(stored) + 1)), (t, got[t])
    usage = [m["value"] for m in kafka.consume("aion.usage", min_count=0, timeout=10)
             if m["value"]["taskId"] == chat_tid]
    assert len(usage) == 1 and usage[0]["provider"] == "openai"


def test_idempotency_is_shared_by_the_gateways(cluster):
    s, _ = cluster
    g1, g2 = s.gateways
    body = {"schemaVersion": "1.0", "intent": "summarize", "params": {"text": "Only once. Whichever gateway."}}

    def send(i):
        gw = g1 if i % 2 else g2
        r = gw.request("POST", "/v1/tasks", body, headers={"Idempotency-Key": "cluster-race"})
        return r.status, (r.json or {}).get("taskId")

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        results = list(ex.map(send, range(40)))
    ids = {tid for status, tid in results if status == 202}
    assert len(ids) == 1 and all(st in (202, 409) for st, _ in results), results
    assert len(g2.request("GET", "/v1/tasks?limit=100").json["items"]) == 1


def test_a_control_plane_killed_under_load_finishes_every_acknowledged_task(cluster):
    s, _ = cluster
    g1, g2 = s.gateways
    text = {"text": "Acknowledged means kept. Even through kill -9."}
    acked, stop, threads = submit_load([(g, "summarize", text) for g in (g1, g2, g1, g2)])
    time.sleep(2.0)
    s.planes[0].control_node.kill9()
    time.sleep(0.5)  # gateway A answers 503 meanwhile, and acknowledges nothing
    stop.set()
    for t in threads:
        t.join(30)
    assert len(acked) > 20, len(acked)
    # plane B finishes what A acknowledged once A's lease ran out
    for tid in acked:
        t = g2.wait(tid, timeout=60)
        assert t["status"] == "succeeded", t
    s.planes[0].control_node.start()  # same ports, same database
    wait_until(lambda: g1.request("GET", "/readyz").status == 200, timeout=10,
               what="gateway A to reconnect by itself")
    tid = g1.submit("summarize", text).json["taskId"]
    assert g1.wait(tid)["status"] == "succeeded"


def module_calls(node):
    text = node.request("GET", "/metrics", port=node.ctl_port).raw.decode()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("aion_module_calls_total{") and 'module="summarize"' in line)


def test_modules_of_both_planes_run_on_the_one_module_host(cluster):
    s, _ = cluster
    before = module_calls(s.modhost)
    for g in s.gateways:
        tid = g.submit("summarize", {"text": "Two planes. One module host. Both served."}).json["taskId"]
        assert g.wait(tid)["status"] == "succeeded"
    assert module_calls(s.modhost) == before + 2  # one call from each plane, both on the host


def test_collections_are_shared_by_the_planes_through_qdrant(cluster):
    from test_retrieve import DOCS, collections, index, retrieve
    s, _ = cluster
    a, b = s.planes
    r = index(a, "howto", DOCS)
    assert r.status == 200 and r.json["engine"] == "qdrant", r.json
    # indexed through plane A, searched through gateway B and plane B
    t = retrieve(b, "howto", "how do I patch a flat tyre?", top_k=1)
    assert t["status"] == "succeeded", t
    assert t["result"]["matches"][0]["docId"] == "bike"
    assert collections(b)["howto"]["chunks"] == 3
    # and through the gateways, as users do: indexed through gateway B, listed and searched through A
    r = b.request("POST", "/v1/collections/notes/documents", {"documents": DOCS[:1]})
    assert r.status == 200 and r.json["engine"] == "qdrant", r
    listed = {c["name"]: c for c in a.request("GET", "/v1/collections").json["items"]}
    assert listed["notes"]["chunks"] == 1 and listed["howto"]["chunks"] == 3
    assert retrieve(a, "notes", "kitchen sink drain")["result"]["matches"][0]["docId"] == "kitchen"


def test_large_tasks_are_documents_in_mongodb_read_through_either_gateway(cluster):
    import pymongo
    from test_mongo import BIG_TEXT, stable
    s, _ = cluster
    g1, g2 = s.gateways
    tid = g1.submit("summarize", {"text": BIG_TEXT, "max_sentences": 2}).json["taskId"]
    done = g1.wait(tid)
    assert done["status"] == "succeeded", done
    assert stable(g2.request("GET", f"/v1/tasks/{tid}").json) == stable(done)
    db = s.planes[0].control_node.extra_env["AION_CONTROL_MONGO_DSN"].rsplit("/", 1)[1]
    m = pymongo.MongoClient(s.planes[0].control_node.extra_env["AION_CONTROL_MONGO_DSN"],
                            serverSelectionTimeoutMS=5000)[db]
    assert m.task_documents.count_documents({"_id": f"{tid}/params"}) == 1
    events, _, _ = g2.sse(tid)
    assert m.task_events.count_documents({"taskId": tid}) == len(events)


def test_multi_tenancy_and_an_exact_rate_limit_hold_across_the_roles(topology):
    keys = "acme-key:user:acme,globex-key:user:globex,demo-key:admin|manager:acme"
    s = topology(env={"TENANCY_MODE": "multi", "AION_GATEWAY_API_KEYS": keys},
                 gateway_env={"AION_RATE_LIMIT_MAX": "40", "AION_RATE_LIMIT_WINDOW_SEC": "3600"})
    g1, g2 = s.gateways
    tid = g1.submit("summarize", {"text": "Acme's text. Acme's alone."}, key="acme-key").json["taskId"]
    g1.wait(tid, key="acme-key")
    assert g2.request("GET", f"/v1/tasks/{tid}", key="acme-key").status == 200
    assert g2.request("GET", f"/v1/tasks/{tid}", key="globex-key").status == 404
    assert g2.request("POST", f"/v1/tasks/{tid}/cancel", key="globex-key").status == 404
    assert g2.sse(tid, key="globex-key")[0] == 404
    assert all(t["taskId"] != tid for t in g2.request("GET", "/v1/tasks", key="globex-key").json["items"])
    # one exact limit per key over both gateways: globex-key used 4 of its 40 above
    codes = [(g1 if i % 2 else g2).request("GET", "/v1/tasks?limit=1", key="globex-key").status
             for i in range(60)]
    assert codes == [200] * 36 + [429] * 24, codes


# ---- two control planes on one PostgreSQL ------------------------------------

LEASE_MS = 3000


@pytest.fixture
def two_planes(engines, fake, tmp_path, request):
    """Gateway A -> control plane A, gateway B -> control plane B, one database."""
    pg = engines[0]
    dsn = fresh_database(pg, request.node.name.replace("test_", "p_")[:40])
    env = {"AION_CONTROL_POSTGRES_DSN": dsn, "AION_WORKERS": "2",
           "AION_CONTROL_LEASE_MS": str(LEASE_MS)}
    planes = [Split(tmp_path / name, openai_env(fake), control_env=env) for name in ("a", "b")]
    yield planes, dsn, pg
    for p in planes:
        p.stop()


def test_a_task_is_followed_resumed_and_canceled_through_another_control_plane(two_planes):
    (a, b), _, _ = two_planes
    for p in (a, b):
        p.start()
    tid = a.submit("spin", {"ms": 1500}).json["taskId"]
    # followed through B while A runs it: its events as A commits them, to "done"
    events, _, _ = b.sse(tid, timeout=30)
    seqs = [e["json"]["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1)), seqs
    types = [e["event"] for e in events]
    assert "status" in types and types[-1] == "done", types
    assert events[-1]["json"]["data"]["status"] == "succeeded"
    # resumed through B after an event id
    resumed, _, _ = b.sse(tid, last_event_id=2)
    assert [e["json"]["seq"] for e in resumed] == seqs[2:]
    assert b.request("GET", f"/v1/tasks/{tid}").json["status"] == "succeeded"

    # canceled through B while A runs it: A stops it promptly
    long = a.submit("spin", {"ms": 15000}).json["taskId"]
    wait_until(lambda: b.request("GET", f"/v1/tasks/{long}").json["status"] == "running",
               timeout=10, what="the task to run on plane A")
    t0 = time.time()
    r = b.request("POST", f"/v1/tasks/{long}/cancel")
    assert r.status in (200, 202), r.json
    assert r.json["cancelRequested"] is True or r.json["status"] == "canceled", r.json
    done = b.wait(long, timeout=10)
    assert done["status"] == "canceled", done
    assert time.time() - t0 < 8, "the cancel reached plane A through the database"
    # a task followed through A and canceled through B ends the stream on A
    third = b.submit("spin", {"ms": 15000}).json["taskId"]
    wait_until(lambda: a.request("GET", f"/v1/tasks/{third}").json["status"] == "running",
               timeout=10, what="the task to run on plane B")
    got = {}
    follower = threading.Thread(target=lambda: got.update(ev=a.sse(third, timeout=20)[0]))
    follower.start()
    assert a.request("POST", f"/v1/tasks/{third}/cancel").status in (200, 202)
    follower.join(20)
    assert got["ev"][-1]["event"] == "done" and got["ev"][-1]["json"]["data"]["status"] == "canceled"


def test_a_control_plane_killed_under_load_has_its_tasks_finished_by_the_other(two_planes):
    (a, b), dsn, pg = two_planes
    for p in (a, b):
        p.start()
    work = [("summarize", {"text": "Acknowledged means kept. Even through kill -9."}),
            ("spin", {"ms": 300})]
    acked, stop, threads = submit_load([(gw, *w) for gw in (a, b) for w in work])
    wait_until(lambda: len(acked) > 40, timeout=30, what="load on both planes")
    running_on_a = [t["taskId"] for t in a.request("GET", "/v1/tasks?status=running&limit=100").json["items"]]
    a.control_node.kill9()  # not restarted: B takes over
    t_kill = time.time()
    stop.set()
    for t in threads:
        t.join(30)
    assert len(acked) > 40, len(acked)
    finished = {}
    for tid in acked:
        t = b.wait(tid, timeout=60)
        assert t["status"] == "succeeded", t
        assert t["attempts"] <= 2, t  # the retry-once rule
        finished[tid] = t
    # what A was running when it died ran again on B, once
    retried = [tid for tid in running_on_a if finished.get(tid, {}).get("attempts") == 2]
    took = time.time() - t_kill
    assert "took over" in b.control_node.log_path.read_text()
    # and so did what A had stored but not yet acknowledged when it died
    wait_until(lambda: sql(pg, dsn, "SELECT count(*) FROM tasks WHERE status IN "
                                    "('queued','routed','running')") == "0",
               timeout=30, what="every task of plane A to end")
    print(f"kill -9 of plane A: {len(acked)} acknowledged, {len(retried)} of {len(running_on_a)} "
          f"running retried on B, all finished {took:.1f} s after the kill (lease {LEASE_MS} ms)")


def test_a_budget_cap_holds_across_two_control_planes(two_planes, fake):
    from test_budgets import CHAT, pricey
    (a, b), _, _ = two_planes
    fake.token_delay = 0.05
    for p in (a, b):
        pricey(p, day_usd=0.5)
        p.control_node.extra_env["AION_WORKERS"] = "32"
        p.start()
    plan = a.control("POST", "/v1/router/decide", {"intent": "chat", "params": CHAT}).json
    reserve = plan["primary"]["maxCostUsd"]
    slots = int(0.5 // reserve)
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        ids = list(pool.map(lambda i: (a if i % 2 else b).submit("chat", CHAT).json["taskId"], range(120)))
        tasks = list(pool.map(lambda i: b.wait(i, timeout=120), ids))
    ok = [t for t in tasks if t["status"] == "succeeded"]
    refused = [t for t in tasks if t["status"] == "failed"]
    assert len(ok) + len(refused) == 120 and ok and refused
    assert all(t["error"]["code"] == "budget_exceeded" for t in refused), refused[0]
    # both planes draw on one reservation ledger: never more calls in flight
    # than the cap allows in all, and spend within the cap
    assert 1 <= fake.max_inflight <= slots, (fake.max_inflight, slots)
    spent = sum(t["cost"]["usd"] for t in ok)
    assert spent <= 0.5 + 1e-9, spent
    u = b.control("GET", "/v1/usage?groupBy=tenant").json
    assert u["total"]["costUsd"] == pytest.approx(spent, abs=1e-9) and u["total"]["costUsd"] <= 0.5


def taken_total(plane, reason):
    text = plane.control("GET", "/metrics").raw.decode()
    for line in text.splitlines():
        if line.startswith(f'aion_control_tasks_taken_total{{reason="{reason}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_a_busy_control_planes_queue_is_shared_with_an_idle_one(two_planes):
    (a, b), dsn, pg = two_planes
    for p in (a, b):
        p.control_node.extra_env.update({"AION_WORKERS": "1", "AION_CONTROL_SHARE_AFTER_MS": "300"})
        p.start()
    # all through A, which runs one at a time; B is idle
    ids = [a.submit("spin", {"ms": 1000}).json["taskId"] for _ in range(6)]
    # one of A's queued tasks, followed through A while B takes and runs it
    got = {}
    follower = threading.Thread(target=lambda: got.update(ev=a.sse(ids[-1], timeout=30)[0]))
    follower.start()
    t0 = time.time()
    done = [a.wait(tid, timeout=30) for tid in ids]
    took = time.time() - t0
    follower.join(30)
    assert all(t["status"] == "succeeded" for t in done), done
    assert all(t["attempts"] == 1 for t in done), [t["attempts"] for t in done]  # each ran once
    owners = sql(pg, dsn, "SELECT owner FROM tasks ORDER BY created_ms").split()
    assert len(set(owners)) == 2, owners
    assert taken_total(b, "shared") >= 1 and taken_total(a, "shared") == 0
    for tid in ids:  # one start and one end per task, seqs without gaps, through either plane
        for p in (a, b):
            evs = p.sse(tid)[0]
            assert [e["json"]["seq"] for e in evs] == list(range(1, len(evs) + 1)), evs
            assert [e["event"] for e in evs].count("done") == 1, evs
            assert sum(e["event"] == "status" and e["json"]["data"].get("status") == "running"
                       for e in evs) == 1, evs
    assert got["ev"][-1]["event"] == "done" and got["ev"][-1]["json"]["data"]["status"] == "succeeded"
    assert [e["json"]["seq"] for e in got["ev"]] == list(range(1, len(got["ev"]) + 1))
    # a task B took is canceled through A, its submitter's plane
    long_ids = [a.submit("spin", {"ms": 8000}).json["taskId"] for _ in range(3)]
    plane_a = sql(pg, dsn, f"SELECT owner FROM tasks WHERE id='{ids[0]}'")  # A was idle: its own
    quoted = ",".join(f"'{i}'" for i in long_ids)

    def running_on_b():
        return sql(pg, dsn, f"SELECT id FROM tasks WHERE status='running' AND owner<>'{plane_a}' "
                            f"AND id IN ({quoted})")

    wait_until(lambda: running_on_b() != "", timeout=15, what="a long task taken and run by plane B")
    on_b = running_on_b()
    assert on_b in long_ids, on_b
    r = a.request("POST", f"/v1/tasks/{on_b}/cancel")
    assert r.status in (200, 202), r.json
    assert a.wait(on_b, timeout=10)["status"] == "canceled"
    for tid in long_ids:
        a.request("POST", f"/v1/tasks/{tid}/cancel")
    print(f"6 x 1 s tasks through plane A (1 worker each): done in {took:.1f} s "
          f"with plane B taking {int(taken_total(b, 'shared'))}")


def test_a_control_plane_stopped_gracefully_hands_its_queue_to_the_other(two_planes):
    (a, b), dsn, pg = two_planes
    for p in (a, b):
        # only the hand-over at stop: no sharing of the queue while A runs
        p.control_node.extra_env["AION_CONTROL_SHARE_AFTER_MS"] = "0"
        p.start()
    # two run on A (AION_WORKERS=2), the rest wait in A's queue
    ids = [a.submit("spin", {"ms": 1500}).json["taskId"] for _ in range(6)]
    wait_until(lambda: len(b.request("GET", "/v1/tasks?status=running").json["items"]) == 2,
               timeout=10, what="two tasks running on plane A")
    a.control_node.stop()  # SIGTERM: A finishes what runs, then ends its lease
    assert sql(pg, dsn, "SELECT min(lease_until_ms) FROM control_planes") == "0"  # no lease to wait out
    done = [b.wait(tid, timeout=30) for tid in ids]
    assert all(t["status"] == "succeeded" for t in done), done
    # what ran on A was not run again; what waited in its queue ran once, on B
    assert all(t["attempts"] == 1 for t in done), [t["attempts"] for t in done]
    owners = sql(pg, dsn, "SELECT owner FROM tasks ORDER BY id").split()
    assert len(set(owners)) == 2, owners
