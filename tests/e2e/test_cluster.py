"""The roles apart on real engines, all on loopback: two gateway roles (Redis
for shared limits and idempotency) in front of one control role on PostgreSQL
that relays events to Kafka. The seed's curl and grpcurl flows through either
gateway, idempotency across gateways, every event on Kafka once per
(task, seq), and a control plane killed under load finishing every task it
acknowledged once it is back."""
import concurrent.futures
import json
import subprocess
import threading
import time

import openai
import pytest

from conftest import Split, openai_env
from kafka_broker import KafkaBroker
from postgres_server import PostgresServer
from test_grpc import GRPCURL, objects
from test_hot_path import wait_until
from test_kafka import events_by_task
from test_store_postgres import fresh_database


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    pg = PostgresServer(tmp_path_factory.mktemp("pg")).start()
    kafka = KafkaBroker(tmp_path_factory.mktemp("kafka"))
    try:
        kafka.start()
        for topic in ("aion.task-events", "aion.usage"):
            kafka.create_topic(topic, partitions=3)
        yield pg, kafka
    finally:
        kafka.stop()
        pg.stop()


@pytest.fixture
def cluster(engines, redis_url, fake, tmp_path, request):
    pg, kafka = engines
    dsn = fresh_database(pg, request.node.name.replace("test_", "c_")[:40])
    s = Split(tmp_path / "cluster", openai_env(fake), gateways=2,
              control_env={"AION_CONTROL_POSTGRES_DSN": dsn, "KAFKA_BROKERS": kafka.brokers,
                           "AION_WORKERS": "2"},
              gateway_env={"AION_CONTROL_REDIS_URL": redis_url.url})
    s.start()
    yield s, kafka
    s.stop()


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
    acked, stop, lock = [], threading.Event(), threading.Lock()

    def load(gw):
        while not stop.is_set():
            try:
                r = gw.submit("summarize", {"text": "Acknowledged means kept. Even through kill -9."})
            except OSError:
                continue
            if r.status == 202:
                with lock:
                    acked.append(r.json["taskId"])

    threads = [threading.Thread(target=load, args=(g,)) for g in (g1, g2, g1, g2)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    s.control_node.kill9()
    time.sleep(0.5)  # the gateways answer 503 meanwhile, and acknowledge nothing
    stop.set()
    for t in threads:
        t.join(30)
    assert len(acked) > 20, len(acked)
    s.control_node.start()  # same ports, same database: recovery runs at start
    for g in (g1, g2):  # the gateways reconnect by themselves, within seconds
        wait_until(lambda: g.request("GET", "/readyz").status == 200, timeout=10, what="the gateway to reconnect")
    for tid in acked:
        t = g2.wait(tid, timeout=60)
        assert t["status"] == "succeeded", t
