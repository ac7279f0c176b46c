"""GET /v1/tasks/feed on the control plane: every task accepted for the
caller's tenant, from any surface, as it is accepted (the console's live task
list), and nobody else's."""
import http.client
import json
import socket
import time


def open_feed(node, key, tenant=None):
    conn = http.client.HTTPConnection("127.0.0.1", node.ctl_port, timeout=10)
    h = {"X-API-Key": key}
    if tenant:
        h["X-Tenant-Id"] = tenant
    conn.request("GET", "/v1/tasks/feed", headers=h)
    r = conn.getresponse()
    return conn, r


def read_events(resp, want, timeout=10):
    """Reads SSE until `want` created events arrived (or the timeout)."""
    got, cur = [], {}
    deadline = time.time() + timeout
    resp.fp.raw._sock.settimeout(timeout)
    while len(got) < want and time.time() < deadline:
        line = resp.fp.readline().decode()
        if not line:
            break
        line = line.rstrip("\n")
        if line == "":
            if cur.get("event") == "created":
                got.append(json.loads(cur["data"]))
            cur = {}
        elif not line.startswith(":"):
            k, _, v = line.partition(": ")
            cur[k] = v
    return got


def test_feed_announces_tasks_from_every_surface(aiond):
    conn, r = open_feed(aiond, "viewer-key")
    assert r.status == 200 and r.getheader("Content-Type") == "text/event-stream"
    assert r.fp.readline().decode().startswith(": tenant default")
    t0 = time.time()
    ids = [aiond.submit("summarize", {"text": "One. Two."}).json["taskId"] for _ in range(2)]
    chat = aiond.request("POST", "/v1/chat/completions",
                         {"model": "module:summarize", "messages": [{"role": "user", "content": "Three. Four."}]})
    assert chat.status == 200, chat
    got = read_events(r, 3)
    assert [g["taskId"] for g in got[:2]] == ids
    assert got[2]["surface"] == "openai" and got[2]["intent"] == "chat"
    # announced once stored; a fast module may already be running or done by then
    assert all(g["status"] in ("queued", "routed", "running", "succeeded") for g in got), got
    assert time.time() - t0 < 5
    conn.close()


def test_feed_is_per_tenant(make_aiond):
    a = make_aiond({"TENANCY_MODE": "multi",
                    "AION_GATEWAY_API_KEYS": "acme-key:user:acme,zeta-key:user:zeta,zeta-viewer:viewer:zeta"}).start()
    conn, r = open_feed(a, "zeta-viewer")
    assert r.status == 200, r.read()
    r.fp.readline()
    a.submit("summarize", {"text": "Acme's."}, key="acme-key")
    mine = a.submit("summarize", {"text": "Zeta's."}, key="zeta-key").json["taskId"]
    got = read_events(r, 1)
    assert [g["taskId"] for g in got] == [mine]
    conn.close()


def test_feed_refuses_missing_and_wrong_keys(aiond):
    for key in (None, "wrong"):
        conn = http.client.HTTPConnection("127.0.0.1", aiond.ctl_port, timeout=10)
        conn.request("GET", "/v1/tasks/feed", headers={"X-API-Key": key} if key else {})
        assert conn.getresponse().status == 401
        conn.close()


def test_followers_that_leave_are_let_go(aiond):
    # Many followers come and go; the control plane keeps serving and the feed
    # still reaches the one that stays.
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", aiond.ctl_port))
        s.sendall(b"GET /v1/tasks/feed HTTP/1.1\r\nHost: x\r\nX-API-Key: demo-key\r\n\r\n")
        s.recv(256)
        s.close()
    conn, r = open_feed(aiond, "demo-key")
    r.fp.readline()
    tid = aiond.submit("summarize", {"text": "Still here."}).json["taskId"]
    got = read_events(r, 1)
    assert [g["taskId"] for g in got] == [tid]
    assert aiond.control("GET", "/readyz").status == 200
    conn.close()
