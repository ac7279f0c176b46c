"""The seed's task flow and the task API's contract."""
import concurrent.futures
import json
import socket
import time

TEXT = ("aionOS routes every task by policy. Local modules run inside WebAssembly sandboxes. "
        "The control plane stores each state change before it answers. "
        "Clients follow progress over server-sent events. "
        "Budgets and latency targets decide where a task may run. "
        "Nothing acknowledged is ever lost, even across restarts.")


def test_seed_curl_flow_produces_a_real_summary(aiond):
    r = aiond.submit("summarize", {"text": "hello world"})
    assert r.status == 202, r
    assert r.json["taskId"].startswith("tsk_")
    assert r.json["status"] in ("queued", "routed")
    assert r.json["links"]["stream"] == f"/v1/stream/{r.json['taskId']}"
    assert r.headers["location"] == f"/v1/tasks/{r.json['taskId']}"
    task = aiond.wait(r.json["taskId"])
    assert task["status"] == "succeeded", task
    assert task["result"]["summary"] == "hello world"
    assert task["intent"] == "summarize"
    assert task["route"]["primary"] == {**task["route"]["primary"], "kind": "module", "target": "summarize"}
    assert task["error"] is None
    assert task["cost"]["usd"] == 0
    assert task["timings"]["finishedAt"] >= task["timings"]["createdAt"]


def test_summary_picks_sentences_in_original_order(aiond):
    r = aiond.submit("summarize", {"text": TEXT, "max_sentences": 2})
    task = aiond.wait(r.json["taskId"])
    assert task["status"] == "succeeded", task
    sents = task["result"]["sentences"]
    assert len(sents) == 2
    assert [s["index"] for s in sents] == sorted(s["index"] for s in sents)
    for s in sents:
        assert s["text"] in TEXT


def test_classify_intent_runs_locally(aiond):
    r = aiond.submit("classify", {"text": "The stock market rallied as bank earnings and interest rates beat forecasts."
                                  , "task": "topic"})
    task = aiond.wait(r.json["taskId"])
    assert task["status"] == "succeeded", task
    assert task["result"]["label"] == "finance"
    assert abs(sum(s["score"] for s in task["result"]["scores"]) - 1.0) < 0.01


def test_list_is_paginated_newest_first(aiond):
    ids = [aiond.submit("summarize", {"text": f"text number {i}."}).json["taskId"] for i in range(7)]
    seen, cursor = [], None
    while True:
        path = "/v1/tasks?limit=3" + (f"&cursor={cursor}" if cursor else "")
        r = aiond.request("GET", path)
        assert r.status == 200, r
        assert len(r.json["items"]) <= 3
        seen += [t["taskId"] for t in r.json["items"]]
        cursor = r.json["nextCursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    r = aiond.request("GET", "/v1/tasks?limit=0")
    assert r.status == 400 and r.json["error"]["code"] == "invalid_request"
    r = aiond.request("GET", "/v1/tasks?status=bogus")
    assert r.status == 400


def test_cancel_queued_task_and_conflict_after(make_aiond):
    a = make_aiond({"AION_WORKERS": "1"}).start()
    blocker = a.submit("spin", {"ms": 1500}).json["taskId"]
    queued = a.submit("spin", {"ms": 10}).json["taskId"]
    r = a.request("POST", f"/v1/tasks/{queued}/cancel")
    assert r.status == 200, r
    assert r.json["status"] == "canceled"
    r = a.request("POST", f"/v1/tasks/{queued}/cancel")
    assert r.status == 409 and r.json["error"]["code"] == "conflict"
    # the running one is asked to stop and ends canceled, promptly
    r = a.request("POST", f"/v1/tasks/{blocker}/cancel")
    assert r.status in (200, 202), r
    t = a.wait(blocker, timeout=5)
    assert t["status"] == "canceled", t
    assert a.wait(queued)["status"] == "canceled"


def test_task_timeout_fails_with_timeout(aiond):
    r = aiond.submit("spin", {"ms": 5000}, timeoutMs=300)
    assert r.status == 202, r
    t = aiond.wait(r.json["taskId"], timeout=10)
    assert t["status"] == "failed"
    assert t["error"]["code"] == "timeout"


def test_concurrent_submissions_all_complete(aiond):
    def one(i):
        r = aiond.submit("summarize", {"text": f"Sentence {i} about routing. Another sentence {i}."})
        assert r.status == 202, r
        return r.json["taskId"]

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        ids = list(ex.map(one, range(64)))
    assert len(set(ids)) == 64
    for i in ids:
        assert aiond.wait(i)["status"] == "succeeded"


def test_auth_failures(aiond):
    body = {"schemaVersion": "1.0", "intent": "summarize", "params": {"text": "x"}}
    r = aiond.request("POST", "/v1/tasks", body, key=None)
    assert r.status == 401 and r.json["error"]["code"] == "unauthenticated"
    assert r.json["requestId"].startswith("req_")
    r = aiond.request("POST", "/v1/tasks", body, key="nope")
    assert r.status == 401 and r.json["error"]["message"] == "invalid API key"
    assert "nope" not in r.raw.decode()
    r = aiond.request("POST", "/v1/tasks", body, key="viewer-key")
    assert r.status == 403 and r.json["error"]["code"] == "forbidden"
    r = aiond.request("POST", "/v1/tasks", body, headers={"Authorization": "Bearer user-key"}, key=None)
    assert r.status == 202, r
    r = aiond.request("GET", "/v1/tasks/tsk_doesnotexist")
    assert r.status == 404 and r.json["error"]["code"] == "not_found"


def test_api_keys_never_logged(aiond):
    aiond.submit("summarize", {"text": "x"})
    aiond.request("GET", "/v1/tasks", key="wrong-secret-key")
    log = aiond.log_path.read_text()
    assert "demo-key" not in log and "wrong-secret-key" not in log


def test_multi_tenancy_isolates_tasks(make_aiond):
    a = make_aiond({"TENANCY_MODE": "multi",
                    "AION_GATEWAY_API_KEYS": "acme-key:user:acme,globex-key:user:globex,root:admin"}).start()
    r = a.submit("summarize", {"text": "acme secret plans."}, key="acme-key")
    assert r.status == 202
    tid = r.json["taskId"]
    a.wait(tid, key="acme-key")
    assert a.request("GET", f"/v1/tasks/{tid}", key="globex-key").status == 404
    assert a.request("POST", f"/v1/tasks/{tid}/cancel", key="globex-key").status == 404
    assert a.sse(tid, key="globex-key")[0] == 404
    assert all(t["taskId"] != tid for t in a.request("GET", "/v1/tasks", key="globex-key").json["items"])
    assert a.request("GET", f"/v1/tasks/{tid}", key="acme-key", headers={"X-Tenant-Id": "globex"}).status == 403
    # an unbound admin key chooses its tenant explicitly
    assert a.request("GET", f"/v1/tasks/{tid}", key="root").status == 400
    assert a.request("GET", f"/v1/tasks/{tid}", key="root", headers={"X-Tenant-Id": "acme"}).status == 200
    assert a.request("GET", f"/v1/tasks/{tid}", key="root", headers={"X-Tenant-Id": "globex"}).status == 404


def count_tasks(a):
    return len(a.request("GET", "/v1/tasks?limit=100").json["items"])


def test_bad_input_is_rejected_and_nothing_is_stored(aiond):
    before = count_tasks(aiond)
    cases = [
        (b"{not json", 400, "invalid_request"),
        (b"[1,2,3]", 400, "invalid_request"),
        (b"", 400, "invalid_request"),
        (json.dumps({"schemaVersion": "1.0", "intent": 5, "params": {}}), 400, "invalid_request"),
        (json.dumps({"schemaVersion": "2.0", "intent": "summarize", "params": {"text": "x"}}), 400, "invalid_request"),
        (json.dumps({"intent": "summarize", "params": "text"}), 400, "invalid_request"),
        (json.dumps({"intent": "summarize"}), 400, "invalid_request"),
        (json.dumps({"intent": "summarize", "params": {"text": "x"}, "parmas": 1}), 400, "invalid_request"),
        (json.dumps({"intent": "translate", "params": {"text": "x"}}), 422, "unknown_intent"),
        (json.dumps({"intent": "summarize", "params": {"txt": "x"}}), 422, "invalid_params"),
        (json.dumps({"intent": "summarize", "params": {"text": 42}}), 422, "invalid_params"),
        (json.dumps({"intent": "summarize", "params": {"text": "x", "max_sentences": 500}}), 422, "invalid_params"),
        (json.dumps({"intent": "summarize", "params": {"text": "x"}, "privacy": "allow-api"}), 400, "invalid_request"),
        (json.dumps({"intent": "summarize", "params": {"text": "x"}, "budgetUsd": 5}), 400, "invalid_request"),
        (json.dumps({"intent": "summarize", "params": {"text": "x"}, "timeoutMs": -1}), 400, "invalid_request"),
        ("[" * 100000 + "]" * 100000, 400, "invalid_request"),
        (b'{"intent":"summarize","params":{"text":"\xff\xfe"}}', 400, "invalid_request"),
    ]
    for body, status, code in cases:
        r = aiond.request("POST", "/v1/tasks", body, headers={"Content-Type": "application/json"})
        assert r.status == status, (body[:80], r)
        assert r.json["error"]["code"] == code, (body[:80], r)
        assert set(r.json) == {"error", "requestId"}
    r = aiond.submit("summarize", {"txt": "x"})
    assert "params.text" in json.dumps(r.json["error"]["details"])
    r = aiond.request("POST", "/v1/tasks", "{}", headers={"Content-Type": "text/html"})
    assert r.status == 400
    assert count_tasks(aiond) == before


def test_oversized_body_and_headers(aiond):
    before = count_tasks(aiond)
    # The server answers 413 from Content-Length alone, before the body arrives.
    s = socket.create_connection(("127.0.0.1", aiond.gw_port), timeout=5)
    s.sendall(b"POST /v1/tasks HTTP/1.1\r\nHost: x\r\nX-API-Key: demo-key\r\nContent-Type: application/json\r\n"
              b"Content-Length: 2097152\r\n\r\n" + b'{"intent":"summarize","params":{"text":"' + b"a" * 60000)
    head = s.recv(65536)
    s.close()
    assert head.startswith(b"HTTP/1.1 413"), head
    assert b'"payload_too_large"' in head
    # Chunked bodies have no length up front: cut off once past the limit.
    s = socket.create_connection(("127.0.0.1", aiond.gw_port), timeout=5)
    s.sendall(b"POST /v1/tasks HTTP/1.1\r\nHost: x\r\nX-API-Key: demo-key\r\nTransfer-Encoding: chunked\r\n\r\n")
    try:
        for _ in range(40):
            s.sendall(b"10000\r\n" + b"a" * 65536 + b"\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    head = s.recv(65536)
    s.close()
    assert head.startswith(b"HTTP/1.1 413"), head
    r = aiond.request("GET", "/v1/tasks", headers={"X-Junk": "j" * 40000})
    assert r.status == 431 and r.json["error"]["code"] == "headers_too_large"
    assert count_tasks(aiond) == before
    assert aiond.request("GET", "/healthz").status == 200


def test_failed_route_falls_back_to_the_next(aiond):
    r = aiond.control("POST", "/v1/router/decide", {"intent": "fallback", "params": {"do": "trap"}})
    assert [x["target"] for x in r.json["routes"]] == ["hostile", "spin"]
    tid = aiond.submit("fallback", {"do": "trap"}).json["taskId"]
    t = aiond.wait(tid)
    assert t["status"] == "succeeded", t
    assert t["result"] == {"spun": 0}
    events, _, _ = aiond.sse(tid)
    attempts = [e["json"]["data"] for e in events if e["event"] == "attempt"]
    assert len(attempts) == 1
    assert attempts[0]["route"] == "module:hostile" and attempts[0]["next"] == "module:spin"
    assert attempts[0]["error"]["code"] == "module_failed"


def test_all_routes_failing_reports_every_attempt(aiond):
    tid = aiond.submit("fallback", {"do": "loop", "ms": 99999}).json["taskId"]
    t = aiond.wait(tid, timeout=20)
    assert t["status"] == "failed", t
    # hostile hits its 1.5 s wall-time limit, then spin is cut by the task deadline (4 s)
    assert [a["route"] for a in t["error"]["attempts"]] == ["module:hostile", "module:spin"]


def test_full_queue_rejects_with_retry_after_and_stores_nothing(make_aiond):
    a = make_aiond({"AION_WORKERS": "1", "AION_QUEUE_MAX": "1"}).start()
    running = a.submit("spin", {"ms": 1500}).json["taskId"]
    deadline = time.time() + 5
    while a.request("GET", f"/v1/tasks/{running}").json["status"] != "running" and time.time() < deadline:
        time.sleep(0.01)
    queued = a.submit("spin", {"ms": 10})
    assert queued.status == 202
    r = a.submit("spin", {"ms": 10})
    assert r.status == 503 and r.json["error"]["code"] == "unavailable", r
    assert r.headers["retry-after"] == "1"
    assert count_tasks(a) == 2
    assert a.wait(queued.json["taskId"])["status"] == "succeeded"
    assert a.submit("spin", {"ms": 10}).status == 202  # room again once the queue drains
