"""WebSocket /v1/ws: submit, subscribe with replay, auth, bad input, slow readers."""
import json
import time

import websocket  # websocket-client


def connect(a, key="demo-key", **kw):
    headers = [f"X-API-Key: {key}"] if key else []
    return websocket.create_connection(f"ws://127.0.0.1:{a.gw_port}/v1/ws", header=headers, timeout=10, **kw)


def recv(ws):
    return json.loads(ws.recv())


def read_until_done(ws, task_id):
    events = []
    while True:
        m = recv(ws)
        if m["type"] == "event" and m["event"]["taskId"] == task_id:
            events.append(m["event"])
            if m["event"]["type"] == "done":
                return events


def test_submit_and_follow_to_completion(aiond):
    ws = connect(aiond)
    assert recv(ws)["type"] == "authenticated"
    ws.send(json.dumps({"type": "submit", "id": "c1", "subscribe": True,
                        "task": {"schemaVersion": "1.0", "intent": "summarize", "params": {"text": "Hello there. Bye."}}}))
    m = recv(ws)
    assert m["type"] == "submitted" and m["id"] == "c1"
    tid = m["taskId"]
    assert recv(ws)["type"] == "subscribed"
    events = read_until_done(ws, tid)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["data"]["status"] == "succeeded"
    assert any(e["type"] == "result" for e in events)
    # the same events as SSE, in the same order
    sse, _, _ = aiond.sse(tid)
    assert [(e["type"], e["seq"]) for e in events] == [(e["json"]["type"], e["json"]["seq"]) for e in sse]
    ws.send(json.dumps({"type": "ping", "id": "p"}))
    assert recv(ws) == {"type": "pong", "id": "p"}
    ws.close()


def test_replay_from_sequence_number(aiond):
    tid = aiond.submit("summarize", {"text": "One. Two."}).json["taskId"]
    aiond.wait(tid)
    ws = connect(aiond)
    recv(ws)
    ws.send(json.dumps({"type": "subscribe", "taskId": tid, "afterSeq": 2}))
    assert recv(ws)["type"] == "subscribed"
    events = read_until_done(ws, tid)
    assert events[0]["seq"] == 3
    ws.close()


def test_auth_by_first_message(aiond):
    ws = connect(aiond, key=None)
    ws.send(json.dumps({"type": "ping"}))
    assert recv(ws)["type"] == "pong"  # ping needs no auth
    ws.send(json.dumps({"type": "auth", "apiKey": "user-key"}))
    assert recv(ws)["type"] == "authenticated"
    ws.send(json.dumps({"type": "submit", "task": {"intent": "summarize", "params": {"text": "x"}}}))
    assert recv(ws)["type"] == "submitted"
    ws.close()

    ws = connect(aiond, key=None)
    ws.send(json.dumps({"type": "submit", "task": {"intent": "summarize", "params": {"text": "x"}}}))
    op, frame = ws.recv_data(control_frame=True)
    assert op == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(frame[:2], "big") == 1008 and b"authenticate first" in frame[2:]

    ws = connect(aiond, key=None)
    ws.send(json.dumps({"type": "auth", "apiKey": "wrong"}))
    assert recv(ws)["error"]["code"] == "unauthenticated"


def test_upgrade_with_a_bad_key_is_refused(aiond):
    try:
        connect(aiond, key="wrong")
        assert False, "upgrade should fail"
    except websocket.WebSocketBadStatusException as e:
        assert e.status_code == 401
    r = aiond.request("GET", "/v1/ws")
    assert r.status == 400  # not an upgrade


def test_bad_messages_get_errors_and_the_connection_survives(aiond, make_aiond):
    ws = connect(aiond)
    recv(ws)
    ws.send("not json")
    assert recv(ws)["error"]["code"] == "invalid_request"
    ws.send(json.dumps({"type": "teleport"}))
    assert "unknown message type" in recv(ws)["error"]["message"]
    ws.send(json.dumps({"type": "submit", "id": "x", "task": {"intent": "nope", "params": {}}}))
    m = recv(ws)
    assert m["id"] == "x" and m["error"]["code"] == "unknown_intent"
    ws.send(json.dumps({"type": "subscribe", "taskId": "tsk_missing"}))
    assert recv(ws)["error"]["code"] == "not_found"
    ws.send(json.dumps({"type": "subscribe", "taskId": "tsk_missing", "afterSeq": -1}))
    assert recv(ws)["error"]["code"] == "invalid_request"
    ws.send_binary(b"\x00\x01")
    assert recv(ws)["error"]["code"] == "invalid_request"
    ws.send(json.dumps({"type": "ping"}))
    assert recv(ws)["type"] == "pong"
    ws.close()


def test_other_tenants_tasks_are_invisible(make_aiond):
    a = make_aiond({"TENANCY_MODE": "multi", "AION_GATEWAY_API_KEYS": "a-key:user:acme,b-key:user:globex"}).start()
    tid = a.submit("summarize", {"text": "secret."}, key="a-key").json["taskId"]
    ws = connect(a, key="b-key")
    recv(ws)
    ws.send(json.dumps({"type": "subscribe", "taskId": tid}))
    assert recv(ws)["error"]["code"] == "not_found"


def test_slow_reader_is_dropped_with_a_reason(make_aiond):
    a = make_aiond({"AION_WS_MAX_QUEUED_BYTES": "65536"}).start()
    tid = a.submit("summarize", {"text": "Replay me. " * 50}).json["taskId"]
    a.wait(tid)
    ws = connect(a)
    msg = json.dumps({"type": "subscribe", "taskId": tid})
    # Ask for replays without ever reading them, until the server gives up on us. Not a fixed
    # count: a slow server (a sanitizer build) answering after the client began to read would
    # never see a slow reader. The server bounds the connection 5 s after it drops it, so sends
    # then fail (or block: the server stopped reading).
    deadline = time.time() + 90
    try:
        while time.time() < deadline:
            ws.send(msg)
    except (BrokenPipeError, ConnectionResetError, websocket.WebSocketConnectionClosedException,
            websocket.WebSocketTimeoutException):
        pass
    assert time.time() < deadline, "the server never dropped a client that does not read"
    drops = 'aion_gateway_stream_drops_total{reason="slow_reader",surface="websocket"} 1'
    assert drops in a.request("GET", "/metrics").raw.decode()
    # now drain: the stream ends with a close frame naming the reason, or a reset (the client
    # never read, so the server closed the socket on its data 5 s after it gave up)
    reason = None
    deadline = time.time() + 30
    try:
        while time.time() < deadline:
            op, frame = ws.recv_data(control_frame=True)
            if op == websocket.ABNF.OPCODE_CLOSE:
                reason = (int.from_bytes(frame[:2], "big"), frame[2:].decode())
                break
    except (ConnectionResetError, BrokenPipeError, websocket.WebSocketConnectionClosedException):
        # BrokenPipe: the client's automatic reply to the close frame met the closed socket
        reason = "reset"
    assert reason is not None
    if reason != "reset":
        assert reason[0] == 1008 and reason[1].startswith("slow reader"), reason
    assert a.request("GET", "/healthz").status == 200


def test_subscriptions_are_capped_per_connection_and_a_submission_over_the_cap_changes_nothing(aiond):
    """At most 100 subscriptions per connection (docs/api.md). A submit with "subscribe" over the
    cap is refused before it is submitted; the connection's own tasks end with it."""
    def reply(ws, id_):
        while True:
            m = recv(ws)
            if m.get("id") == id_ and m["type"] in ("subscribed", "error"):
                return m

    def spins():  # every page
        out, cursor = [], ""
        while True:
            page = aiond.request("GET", f"/v1/tasks?intent=spin&limit=100&cursor={cursor}").json
            out += page["items"]
            if not page["nextCursor"]:
                return out
            cursor = page["nextCursor"]

    ws = connect(aiond)
    recv(ws)
    for i in range(100):
        ws.send(json.dumps({"type": "submit", "id": f"s{i}", "subscribe": True,
                            "task": {"schemaVersion": "1.0", "intent": "spin", "params": {"ms": 20000}}}))
        m = reply(ws, f"s{i}")
        assert m["type"] == "subscribed", (i, m)
    assert len(spins()) == 100
    ws.send(json.dumps({"type": "submit", "id": "over", "subscribe": True,
                        "task": {"schemaVersion": "1.0", "intent": "spin", "params": {"ms": 20000}}}))
    m = reply(ws, "over")
    assert m["type"] == "error" and "at most 100 subscriptions" in m["error"]["message"], m
    other = aiond.submit("summarize", {"text": "One. Two."}).json["taskId"]
    ws.send(json.dumps({"type": "subscribe", "id": "sub", "taskId": other}))
    assert reply(ws, "sub")["type"] == "error"
    assert len(spins()) == 100  # the refused submission stored nothing
    ws.close()
    deadline = time.time() + 30
    while time.time() < deadline and any(t["status"] != "canceled" for t in spins()):
        time.sleep(0.2)
    assert {t["status"] for t in spins()} == {"canceled"}
