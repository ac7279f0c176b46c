"""The Kafka event sink against a real Apache Kafka broker (KRaft, tests/e2e/kafka_broker.py):
every task event and usage record arrives, in order per task, and nothing is lost while the
broker is away or aiond is killed (at least once: duplicates allowed, gaps not)."""
import time

import openai
import pytest

from conftest import openai_env
from kafka_broker import KafkaBroker


@pytest.fixture(scope="module")
def kafka(tmp_path_factory):
    b = KafkaBroker(tmp_path_factory.mktemp("kafka"))
    b.start()
    for topic in ("aion.task-events", "aion.usage"):
        b.create_topic(topic, partitions=3)
    yield b
    b.stop()


def events_by_task(kafka, task_ids, timeout=60):
    """{taskId: [seq, ...] in arrival order} once every task's `done` event arrived."""
    deadline = time.time() + timeout
    while True:
        msgs = kafka.consume("aion.task-events", min_count=0, timeout=10)
        got = {}
        done = set()
        for m in msgs:
            v = m["value"]
            if v["taskId"] in task_ids:
                got.setdefault(v["taskId"], []).append(v["seq"])
                if v["type"] == "done":
                    done.add(v["taskId"])
        if done >= set(task_ids) or time.time() > deadline:
            return got, msgs


def assert_complete(a, got):
    """Each task's stored events arrived, every seq at least once, in order within a task."""
    for tid, seqs in got.items():
        stored, _, _ = a.sse(tid)  # the task's events as stored, replayed
        last = int(stored[-1]["id"])
        assert set(seqs) == set(range(1, last + 1)), (tid, seqs, last)
        firsts = [s for i, s in enumerate(seqs) if s not in seqs[:i]]
        assert firsts == sorted(firsts), (tid, seqs)  # first arrivals in seq order


def test_task_events_and_usage_reach_kafka(make_aiond, fake, kafka):
    a = make_aiond(openai_env(fake, KAFKA_BROKERS=kafka.brokers)).start()
    c = openai.OpenAI(base_url=f"http://127.0.0.1:{a.gw_port}/v1", api_key="demo-key", max_retries=0)
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    chat = c.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello big world"}],
        extra_headers={"traceparent": tp, "tracestate": "congo=t61rcWkgMzE"})
    chat_id = chat.headers["x-aion-task-id"]
    local = a.submit("summarize", {"text": "One sentence. Two sentences."}).json["taskId"]
    a.wait(local)
    got, msgs = events_by_task(kafka, {chat_id, local})
    assert set(got) == {chat_id, local}
    assert_complete(a, got)
    first = next(m for m in msgs if m["value"]["taskId"] == chat_id)
    assert first["key"] == chat_id  # keyed by task: one partition per task, in order
    v = first["value"]
    assert v["schemaVersion"] == 1 and v["tenant"] == "default" and v["intent"] == "chat"
    assert v["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert first["headers"]["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert first["headers"]["tracestate"] == "congo=t61rcWkgMzE"
    usage = [m["value"] for m in kafka.consume("aion.usage", min_count=0, timeout=10)
             if m["value"]["taskId"] == chat_id]
    assert len({u["id"] for u in usage}) == 1, usage
    u = usage[0]
    assert u["provider"] == "openai" and u["model"] == "gpt-4o-mini" and u["costUsd"] > 0
    assert u["promptTokens"] > 0 and u["completionTokens"] > 0 and u["schemaVersion"] == 1
    m = a.request("GET", "/metrics").raw.decode()
    assert 'aion_sink_up{sink="kafka"} 1' in m
    assert 'aion_sink_messages_total{outcome="delivered",sink="kafka"}' in m


def test_nothing_is_lost_while_kafka_is_away_or_aiond_is_killed(make_aiond, kafka):
    a = make_aiond({"KAFKA_BROKERS": kafka.brokers}).start()
    kafka.stop()
    try:
        # Requests never wait for Kafka.
        t0 = time.time()
        ids = [a.submit("summarize", {"text": f"Outage {i}. Still served."}).json["taskId"] for i in range(5)]
        for tid in ids:
            assert a.wait(tid)["status"] == "succeeded"
        assert time.time() - t0 < 15
        deadline = time.time() + 30
        while 'aion_sink_up{sink="kafka"} 0' not in a.request("GET", "/metrics").raw.decode():
            assert time.time() < deadline, "the relay never reported the broker down"
            time.sleep(0.5)
        a.kill9()  # with the broker still away: the outbox is all that holds them
    finally:
        kafka.start()
    a.start()
    got, _ = events_by_task(kafka, set(ids), timeout=90)
    assert set(got) == set(ids), f"missing tasks: {set(ids) - set(got)}"
    assert_complete(a, got)


def test_a_broker_that_does_not_answer_stops_start_up(make_aiond):
    a = make_aiond({"KAFKA_BROKERS": "127.0.0.1:1"})
    with pytest.raises(RuntimeError) as e:
        a.start(timeout=30)
    assert "KAFKA_BROKERS" in str(e.value) and "127.0.0.1:1" in str(e.value)
