"""aiond -> Kafka -> Spark streaming job -> ClickHouse + Parquet, on real engines
(conftest.py's stack). Runs in file order: the poison test warms the job up,
then tasks, a crash of the job and a Kafka outage each end with ClickHouse
answering exactly what aiond's own store says."""
import json
import threading
import time

from conftest import TENANTS, s3_call
# (intent, params): local modules, API models and a hybrid intent.
WORK = [
    ("summarize", {"text": "One sentence here. Another one there. A third to pick."}),
    ("classify", {"text": "great product, would buy again", "labels": ["positive", "negative"]}),
    ("chat", {"messages": [{"role": "user", "content": "how fast is it"}]}),
    ("chat-hybrid", {"messages": [{"role": "user", "content": "write to bob@example.com"}]}),
    ("embed", {"input": "vector me"}),
]


def submit(stack, n, offset=0):
    """n tasks round-robin over WORK x TENANTS; returns {taskId: (tenant, intent)}
    of the accepted ones (202), waiting for each to finish."""
    a = stack.aiond
    ids = {}
    for i in range(offset, offset + n):
        intent, params = WORK[i % len(WORK)]
        tenant = TENANTS[(i // len(WORK)) % len(TENANTS)]
        body = {"schemaVersion": "1.0", "intent": intent, "params": params}
        r = a.request("POST", "/v1/tasks", body, key=f"{tenant}-key")
        assert r.status == 202, r
        ids[r.json["taskId"]] = (tenant, intent)
    for tid, (tenant, _) in ids.items():
        a.wait(tid, key=f"{tenant}-key", timeout=60)
    return ids


def store_usage(stack):
    """aiond's own totals: GET /v1/usage grouped like the ClickHouse rollup."""
    r = stack.aiond.control("GET", "/v1/usage?groupBy=tenant,provider,model,day", key="root",
                            headers={"X-Tenant-Id": "ops"})
    assert r.status == 200, r
    return {(g["tenant"], g["provider"], g["model"], g["day"]):
            (g["calls"], g["promptTokens"], g["completionTokens"], g["costNanoUsd"]) for g in r.json["groups"]}


def clickhouse_usage(stack):
    return {(r["tenant"], r["provider"], r["model"], r["day"]):
            (int(r["calls"]), int(r["prompt_tokens"]), int(r["completion_tokens"]), int(r["cost_nano_usd"]))
            for r in stack.ch.rows("SELECT * FROM aion.cost_daily")}


def store_events(stack, ids):
    """{(taskId, seq)} of the stored events (SSE replay), for {taskId: (tenant, intent)}."""
    out = set()
    for tid, (tenant, _) in ids.items():
        events, _, _ = stack.aiond.sse(tid, key=f"{tenant}-key")
        out |= {(tid, int(e["id"])) for e in events}
    return out


def wait_for(pred, timeout, what, step=0.25):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        ok, last = pred()
        if ok:
            return last
        time.sleep(step)
    raise AssertionError(f"{what} not reached within {timeout}s; last: {last}")


def task_count(stack):
    return int(stack.ch.scalar("SELECT count() FROM aion.task_outcomes"))


def assert_exact(stack, expected_tasks):
    """ClickHouse equals the store: usage rollup to the nano-USD; one row per
    event key; every task's outcome."""
    assert clickhouse_usage(stack) == store_usage(stack)
    dup = stack.ch.rows("SELECT count() AS n, uniqExact(task_id, seq) AS keys FROM aion.task_events FINAL")[0]
    assert dup["n"] == dup["keys"], dup
    dup = stack.ch.rows("SELECT count() AS n, uniqExact(id) AS keys FROM aion.usage FINAL")[0]
    assert dup["n"] == dup["keys"], dup
    assert task_count(stack) == expected_tasks


# ---- the dead-letter topic ------------------------------------------------------------------

def test_poison_messages_land_in_the_dead_letter_topic_with_the_reason(stack):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": stack.kafka.brokers})
    good_shape = {"schemaVersion": 1, "taskId": "tsk_poison", "seq": 1, "type": "status", "ts": 1796200000000,
                  "tenant": "acme", "intent": "chat", "data": {"status": "queued"}}
    poison = [
        ("aion.task-events", b"{this is not json", "malformed JSON"),
        ("aion.task-events", b"[1, 2, 3]", "malformed JSON"),
        ("aion.task-events", json.dumps({**good_shape, "schemaVersion": 7}).encode(), "unsupported schemaVersion 7"),
        ("aion.task-events", json.dumps({k: v for k, v in good_shape.items() if k != "schemaVersion"}).encode(),
         "missing schemaVersion"),
        ("aion.task-events", json.dumps({**good_shape, "seq": "one"}).encode(),
         "aion.task-events: field seq missing or not of its type"),
        ("aion.usage", json.dumps({"schemaVersion": 1, "id": "u1", "taskId": "tsk_poison", "ts": 1796200000000,
                                   "tenant": "acme", "intent": "chat", "provider": "openai", "model": "m",
                                   "promptTokens": 1, "completionTokens": 1}).encode(),
         "aion.usage: field costUsd missing or not of its type"),
    ]
    for topic, value, _ in poison:
        p.produce(topic, key=b"poison", value=value)
    assert p.flush(10) == 0
    got = wait_for(lambda: (len(m := stack.kafka.consume("aion.dead-letter", 0, timeout=5)) >= len(poison), m),
                   180, "dead letters")  # the job's first batch includes its JVM warm-up
    by_value = {m["value"]["value"]: m["value"] for m in got}
    for topic, value, reason in poison:
        dl = by_value[value.decode()]
        assert dl["reason"] == reason and dl["topic"] == topic, dl
        assert m_key(dl) in {m["key"] for m in got}
    assert len(got) == len(poison)  # counted: one dead letter per poison message
    del p
    # the job counts them too (its per-batch line, printed once the batch is through)
    wait_for(lambda: (sum(b["deadLetter"] for b in stack.job.batches()) == len(poison), stack.job.batches()),
             60, "the job's dead-letter count")
    # and none of them reached ClickHouse
    assert stack.ch.scalar("SELECT count() FROM aion.task_events WHERE task_id = 'tsk_poison'") == "0"
    assert stack.ch.scalar("SELECT count() FROM aion.usage WHERE id = 'u1'") == "0"


def m_key(dl):
    return f"{dl['topic']}/{dl['partition']}/{dl['offset']}"


# ---- 200 tasks --------------------------------------------------------------------------------

def test_200_tasks_reach_clickhouse_and_the_rollups_match_the_store(stack):
    ids = submit(stack, 200)
    done_at = time.time()
    wait_for(lambda: (task_count(stack) == 200, task_count(stack)), 60, "200 tasks in ClickHouse")
    lag = time.time() - done_at
    print(f"\n[bigdata] 200 tasks visible in ClickHouse {lag:.1f} s after the last finished", flush=True)
    # Not asserted: timings on this shared 2-core machine are noise (it took 14.9 s once with a
    # compile beside it). The figure is measured in docs/bigdata.md#throughput.
    # every event of every task, one row each
    keys = {(r["task_id"], int(r["seq"])) for r in
            stack.ch.rows("SELECT task_id, seq FROM aion.task_events FINAL")}
    assert keys == store_events(stack, ids)
    wait_for(lambda: (clickhouse_usage(stack) == (s := store_usage(stack)), s), 20, "usage rollup == store")
    assert_exact(stack, 200)
    # outcomes per intent: what aiond answered
    statuses = {}
    for tid, (tenant, intent) in ids.items():
        st = stack.aiond.request("GET", f"/v1/tasks/{tid}", key=f"{tenant}-key").json["status"]
        statuses[(intent, st)] = statuses.get((intent, st), 0) + 1
    got = {(r["intent"], r["outcome"]): int(r["tasks"]) for r in
           stack.ch.rows("SELECT intent, outcome, sum(tasks) AS tasks FROM aion.outcomes_daily GROUP BY intent, outcome")}
    assert got == statuses
    # latency per route and hour: every task counted once, quantiles ordered, classes enriched
    lat = stack.ch.rows("SELECT * FROM aion.latency_hourly")
    assert sum(int(r["tasks"]) for r in lat) == 200
    for r in lat:
        assert 0 <= int(r["p50_ms"]) <= int(r["p95_ms"]) <= int(r["p99_ms"]) <= int(r["max_ms"]), r
    classes = {(r["route"].split(":")[0], r["route_class"]) for r in lat}
    assert ("module", "local") in classes and ("model", "api") in classes and ("model", "hybrid") in classes
    # per tenant: each tenant's spend is there
    tenants = {r["tenant"] for r in stack.ch.rows("SELECT DISTINCT tenant FROM aion.cost_daily")}
    assert tenants == set(TENANTS)
    # and the same rows as Parquet in object storage
    pq = s3_call(stack, "parquet", "events/usage", "id", "cost_nano_usd")
    assert set(pq["columns"]["id"]) == {r["id"] for r in stack.ch.rows("SELECT id FROM aion.usage FINAL")}


# ---- a crash of the streaming job -------------------------------------------------------------

def test_killing_the_streaming_job_mid_stream_loses_and_duplicates_nothing(stack):
    before = task_count(stack)
    raw0 = int(stack.ch.scalar("SELECT count() FROM aion.task_events"))
    result = {}
    stop = []

    def trickle():  # tasks keep coming before, during and after the crash
        i = 0
        while not stop or i < 40:
            result.update(submit(stack, 2, offset=1000 + i))
            i += 2
            time.sleep(0.2)

    worker = threading.Thread(target=trickle)
    worker.start()
    try:
        # kill -9 the moment a batch of the new tasks is being written to ClickHouse:
        # its rows are in, its offsets not yet committed, so the restart replays it
        wait_for(lambda: (int(stack.ch.scalar("SELECT count() FROM aion.task_events")) > raw0, None), 90,
                 "a batch of the new tasks", step=0.05)
        stack.job.kill()
        killed_at = int(stack.ch.scalar("SELECT count() FROM aion.task_events"))
        # a batch whose offsets are logged but not committed is run again on restart
        ckpt = stack.job.dir / "checkpoint"
        logged = {int(p.name) for p in (ckpt / "offsets").iterdir() if p.name.isdigit()}
        committed = {int(p.name) for p in (ckpt / "commits").iterdir() if p.name.isdigit()}
        in_flight = sorted(logged - committed)
        time.sleep(3)  # more tasks arrive while the job is down
    finally:
        stop.append(True)
        worker.join()
    stack.job.start().wait_started()
    n = len(result)
    wait_for(lambda: (task_count(stack) == before + n, task_count(stack)), 120, "every task after the restart")
    wait_for(lambda: (clickhouse_usage(stack) == (s := store_usage(stack)), s), 30, "usage rollup == store")
    assert_exact(stack, before + n)
    raw = int(stack.ch.scalar("SELECT count() FROM aion.task_events"))
    final = int(stack.ch.scalar("SELECT count() FROM aion.task_events FINAL"))
    print(f"\n[bigdata] crash: {n} tasks, job killed with {killed_at - raw0} of their event rows in ClickHouse and "
          f"batch(es) {in_flight or 'none'} in flight (replayed on restart); {raw - final} duplicate rows not yet "
          "merged away, none counted", flush=True)
    # Parquet: a replayed batch rewrote its files; no id twice
    pq = s3_call(stack, "parquet", "events/usage", "id")
    assert len(pq["columns"]["id"]) == len(set(pq["columns"]["id"]))
    assert set(pq["columns"]["id"]) == {r["id"] for r in stack.ch.rows("SELECT id FROM aion.usage FINAL")}


# ---- Kafka away for 30 s ----------------------------------------------------------------------

def test_kafka_away_for_30_s_aiond_keeps_serving_and_clickhouse_ends_complete(stack):
    before = task_count(stack)
    stack.kafka.stop()
    try:
        t0 = time.time()
        ids = {}
        while time.time() - t0 < 30:
            ids.update(submit(stack, 5, offset=2000 + len(ids)))  # served and finished with Kafka down
            time.sleep(1)
    finally:
        stack.kafka.start()
    print(f"\n[bigdata] {len(ids)} tasks served while Kafka was down", flush=True)
    assert len(ids) >= 20
    wait_for(lambda: (task_count(stack) == before + len(ids), task_count(stack)), 120,
             "the outbox drained into ClickHouse")
    wait_for(lambda: (clickhouse_usage(stack) == (s := store_usage(stack)), s), 30, "usage rollup == store")
    assert_exact(stack, before + len(ids))
