"""The file event sink (AION_EVENTS_DIR): the same records as the Kafka sink, as JSON lines, in
order per task; nothing lost while the disk is full or aiond is killed (at least once:
duplicates allowed, gaps not); a directory that cannot be used stops start-up naming it."""
import json
import os
import time

import openai
import pytest

from conftest import openai_env
from test_kafka import assert_complete


def read_lines(path):
    if not path.exists():
        return []
    with open(path) as f:
        return [json.loads(line) for line in f]  # a half line would fail here


def events_by_task(events_dir, task_ids, timeout=30):
    """{taskId: [seq, ...] in file order} once every task's `done` event is in the file."""
    deadline = time.time() + timeout
    while True:
        got, done = {}, set()
        lines = read_lines(events_dir / "aion.task-events.jsonl")
        for v in lines:
            if v["taskId"] in task_ids:
                got.setdefault(v["taskId"], []).append(v["seq"])
                if v["type"] == "done":
                    done.add(v["taskId"])
        if done >= set(task_ids) or time.time() > deadline:
            return got, lines
        time.sleep(0.1)


def test_task_events_and_usage_reach_the_files(make_aiond, fake, tmp_path):
    events_dir = tmp_path / "events"
    a = make_aiond(openai_env(fake, AION_EVENTS_DIR=str(events_dir))).start()
    c = openai.OpenAI(base_url=f"http://127.0.0.1:{a.gw_port}/v1", api_key="demo-key", max_retries=0)
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    chat = c.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello big world"}],
        extra_headers={"traceparent": tp})
    chat_id = chat.headers["x-aion-task-id"]
    local = a.submit("summarize", {"text": "One sentence. Two sentences."}).json["taskId"]
    a.wait(local)
    got, lines = events_by_task(events_dir, {chat_id, local})
    assert set(got) == {chat_id, local}
    assert_complete(a, got)
    v = next(v for v in lines if v["taskId"] == chat_id)
    assert v["schemaVersion"] == 1 and v["tenant"] == "default" and v["intent"] == "chat"
    assert v["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    deadline = time.time() + 10
    while not (usage := [u for u in read_lines(events_dir / "aion.usage.jsonl") if u["taskId"] == chat_id]):
        assert time.time() < deadline, "no usage record"
        time.sleep(0.1)
    assert len(usage) == 1
    u = usage[0]
    assert u["provider"] == "openai" and u["model"] == "gpt-4o-mini" and u["costUsd"] > 0
    assert u["promptTokens"] > 0 and u["schemaVersion"] == 1
    m = a.request("GET", "/metrics").raw.decode()
    assert 'aion_sink_up{sink="file"} 1' in m
    assert 'aion_sink_messages_total{outcome="delivered",sink="file"}' in m


def test_nothing_is_lost_while_the_disk_is_full_or_aiond_is_killed(make_aiond, tmp_path):
    events_dir = tmp_path / "events"
    a = make_aiond({"AION_EVENTS_DIR": str(events_dir)}).start()
    events_file = events_dir / "aion.task-events.jsonl"
    events_file.rename(tmp_path / "kept.jsonl")
    os.symlink("/dev/full", events_file)  # every write fails with ENOSPC
    try:
        ids = [a.submit("summarize", {"text": f"Full disk {i}. Still served."}).json["taskId"]
               for i in range(5)]
        for tid in ids:
            assert a.wait(tid)["status"] == "succeeded"  # requests never wait for the sink
        deadline = time.time() + 30
        while 'aion_sink_up{sink="file"} 0' not in a.request("GET", "/metrics").raw.decode():
            assert time.time() < deadline, "the relay never reported the sink down"
            time.sleep(0.2)
        a.kill9()  # the outbox is all that holds them
    finally:
        events_file.unlink()
        (tmp_path / "kept.jsonl").rename(events_file)
    a.start()
    got, _ = events_by_task(events_dir, set(ids))
    assert set(got) == set(ids), f"missing tasks: {set(ids) - set(got)}"
    assert_complete(a, got)


@pytest.mark.parametrize("case", ["under-a-file", "with-kafka"])
def test_a_directory_that_cannot_be_used_stops_start_up(make_aiond, tmp_path, case):
    (tmp_path / "plain").write_text("x")
    env = {"AION_EVENTS_DIR": str(tmp_path / "plain" / "events")}
    if case == "with-kafka":
        env = {"AION_EVENTS_DIR": str(tmp_path / "events"), "KAFKA_BROKERS": "127.0.0.1:9092"}
    a = make_aiond(env)
    with pytest.raises(RuntimeError) as e:
        a.start(timeout=30)
    assert "AION_EVENTS_DIR" in str(e.value)
