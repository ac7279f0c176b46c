"""Rate limits and idempotency at the gateway (in-process engines)."""
import concurrent.futures
import json


def test_per_key_limit_is_exact_with_headers(make_aiond):
    a = make_aiond({"AION_RATE_LIMIT_MAX": "10", "AION_RATE_LIMIT_WINDOW_SEC": "3600"}).start()
    statuses = []
    for i in range(10):
        r = a.request("GET", "/v1/tasks?limit=1")
        statuses.append(r.status)
        assert r.headers["ratelimit-limit"] == "10"
        assert r.headers["ratelimit-remaining"] == str(9 - i)
    assert statuses == [200] * 10
    r = a.request("GET", "/v1/tasks?limit=1")
    assert r.status == 429 and r.json["error"]["code"] == "rate_limited", r
    assert 0 < int(r.headers["retry-after"]) <= 3600
    assert r.headers["ratelimit-remaining"] == "0"
    # submissions count too, and are refused without storing anything
    assert a.submit("summarize", {"text": "x"}).status == 429
    # another key has its own budget
    assert a.request("GET", "/v1/tasks?limit=1", key="user-key").status == 200
    # health and metrics are not limited
    assert a.request("GET", "/healthz").status == 200


def test_concurrent_requests_admit_exactly_n(make_aiond):
    a = make_aiond({"AION_RATE_LIMIT_MAX": "25", "AION_RATE_LIMIT_WINDOW_SEC": "3600"}).start()
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        codes = list(ex.map(lambda _: a.request("GET", "/v1/tasks?limit=1").status, range(80)))
    assert codes.count(200) == 25 and codes.count(429) == 55


def test_per_ip_limit_applies_before_auth(make_aiond):
    a = make_aiond({"AION_RATE_LIMIT_PER_IP": "5", "AION_RATE_LIMIT_WINDOW_SEC": "3600"}).start()
    codes = [a.request("GET", "/v1/tasks", key=f"guess-{i}").status for i in range(7)]
    assert codes == [401] * 5 + [429] * 2  # key guessing is throttled too


def test_idempotent_submit_replays_and_conflicts(aiond):
    body = {"schemaVersion": "1.0", "intent": "summarize", "params": {"text": "Once only."}}
    h = {"Idempotency-Key": "order-42"}
    r1 = aiond.request("POST", "/v1/tasks", body, headers=h)
    assert r1.status == 202
    # same key, same body (other whitespace): the original answer, no new task
    r2 = aiond.request("POST", "/v1/tasks", json.dumps(body, indent=2), headers={**h, "Content-Type": "application/json"})
    assert r2.status == 202 and r2.json["taskId"] == r1.json["taskId"]
    assert r2.headers["idempotent-replayed"] == "true"
    r3 = aiond.request("POST", "/v1/tasks", {**body, "params": {"text": "Other."}}, headers=h)
    assert r3.status == 409 and r3.json["error"]["code"] == "conflict"
    tasks = aiond.request("GET", "/v1/tasks?limit=100").json["items"]
    assert [t["taskId"] for t in tasks] == [r1.json["taskId"]]
    # a failed first attempt does not burn the key
    bad = {**body, "params": {"txt": "typo"}}
    assert aiond.request("POST", "/v1/tasks", bad, headers={"Idempotency-Key": "k2"}).status == 422
    assert aiond.request("POST", "/v1/tasks", body, headers={"Idempotency-Key": "k2"}).status == 202
    assert aiond.request("POST", "/v1/tasks", body, headers={"Idempotency-Key": "x" * 300}).status == 400


def test_idempotency_is_scoped_per_tenant(make_aiond):
    a = make_aiond({"TENANCY_MODE": "multi", "AION_GATEWAY_API_KEYS": "a-key:user:acme,b-key:user:globex"}).start()
    h = {"Idempotency-Key": "same"}
    ra = a.request("POST", "/v1/tasks", {"intent": "summarize", "params": {"text": "a"}}, key="a-key", headers=h)
    rb = a.request("POST", "/v1/tasks", {"intent": "summarize", "params": {"text": "a"}}, key="b-key", headers=h)
    assert ra.status == rb.status == 202 and ra.json["taskId"] != rb.json["taskId"]


def test_hundred_concurrent_duplicates_make_one_task(aiond):
    body = {"schemaVersion": "1.0", "intent": "summarize", "params": {"text": "Exactly one."}}

    def send(_):
        r = aiond.request("POST", "/v1/tasks", body, headers={"Idempotency-Key": "race"})
        return r.status, (r.json or {}).get("taskId")

    with concurrent.futures.ThreadPoolExecutor(32) as ex:
        results = list(ex.map(send, range(100)))
    ids = {tid for status, tid in results if status == 202}
    assert len(ids) == 1, results
    assert all(status in (202, 409) for status, _ in results), results
    assert len(aiond.request("GET", "/v1/tasks?limit=100").json["items"]) == 1
