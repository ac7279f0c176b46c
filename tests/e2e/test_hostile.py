"""Hostile clients and hostile modules: rejected or contained, host unharmed."""
import socket
import time

import pytest


def raw(port, data, read_timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except socket.timeout:
        pass
    s.close()
    return out


def test_malformed_http_gets_400_and_server_survives(aiond):
    out = raw(aiond.gw_port, b"GARBAGE\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400"), out
    out = raw(aiond.gw_port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400"), out
    assert aiond.request("GET", "/healthz").status == 200


def test_unknown_route_and_method(aiond):
    r = aiond.request("GET", "/v1/nothing")
    assert r.status == 404 and r.json["error"]["code"] == "not_found"
    r = aiond.request("DELETE", "/v1/tasks")
    assert r.status == 405


def test_slow_client_is_cut_off(make_aiond):
    a = make_aiond({"AION_READ_TIMEOUT_MS": "500"}).start()
    s = socket.create_connection(("127.0.0.1", a.gw_port), timeout=5)
    s.sendall(b"POST /v1/tasks HTTP/1.1\r\nHost: x\r\n")
    started = time.time()
    closed = False
    try:
        for _ in range(40):  # trickle a header byte every 100 ms
            s.sendall(b"X")
            time.sleep(0.1)
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    if not closed:
        s.settimeout(3)
        try:
            closed = s.recv(100) == b""
        except ConnectionResetError:
            closed = True
    s.close()
    assert closed and time.time() - started < 4.5
    assert a.request("GET", "/healthz").status == 200


def test_connection_cap(make_aiond):
    a = make_aiond({"AION_MAX_CONNECTIONS": "4"}).start()
    held = [socket.create_connection(("127.0.0.1", a.gw_port)) for _ in range(4)]
    time.sleep(0.2)
    s = socket.create_connection(("127.0.0.1", a.gw_port), timeout=3)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        assert s.recv(100) == b""  # refused: closed without an answer
    except ConnectionResetError:
        pass
    for h in held:
        h.close()
    time.sleep(0.2)
    assert a.request("GET", "/healthz").status == 200


def test_wasm_module_cannot_reach_files_sockets_or_env(aiond):
    tid = aiond.submit("hostile", {"do": "escape"}).json["taskId"]
    t = aiond.wait(tid, timeout=20)
    assert t["status"] == "succeeded", t
    assert t["result"] == {"passwd": "denied", "root": "denied", "cwd": "denied",
                           "tcp": "denied", "udp": "denied", "env": 0}, t["result"]


@pytest.mark.parametrize("what,code,needle", [
    ("loop", "timeout", "wall-time"),
    ("bomb", "module_failed", ""),
    ("flood", "module_failed", ""),
    ("trap", "module_failed", "trapped"),
    ("exit3", "module_failed", "status 3"),
    ("garbage", "module_failed", "invalid JSON"),
])
def test_misbehaving_module_fails_its_task_only(aiond, what, code, needle):
    tid = aiond.submit("hostile", {"do": what}).json["taskId"]
    t = aiond.wait(tid, timeout=20)
    assert t["status"] == "failed", t
    assert t["error"]["code"] == code, t
    assert needle in t["error"]["message"], t
    ok = aiond.submit("summarize", {"text": "The host is fine."}).json["taskId"]
    assert aiond.wait(ok)["status"] == "succeeded"
    assert aiond.request("GET", "/readyz").status == 200
    if what == "loop":  # a limit that stopped a module is counted by name
        assert 'aion_module_limit_hits_total{limit="wall_time",module="hostile"} 1' in \
            aiond.request("GET", "/metrics").raw.decode()


def test_open_streams_are_capped(make_aiond):
    import websocket
    a = make_aiond({"AION_MAX_STREAMS": "2", "AION_WORKERS": "1", "AION_SSE_HEARTBEAT_MS": "100"}).start()
    a.submit("spin", {"ms": 3000})
    tid = a.submit("spin", {"ms": 10}).json["taskId"]  # queued: its stream stays open
    held = []
    for _ in range(2):
        s = socket.create_connection(("127.0.0.1", a.gw_port), timeout=5)
        s.sendall(f"GET /v1/stream/{tid} HTTP/1.1\r\nHost: x\r\nX-API-Key: demo-key\r\n\r\n".encode())
        assert s.recv(100).startswith(b"HTTP/1.1 200")
        held.append(s)
    r = a.request("GET", f"/v1/stream/{tid}")
    assert r.status == 503 and r.headers["retry-after"] == "1" and "too many open streams" in r.json["error"]["message"]
    try:
        websocket.create_connection(f"ws://127.0.0.1:{a.gw_port}/v1/ws", header=["X-API-Key: demo-key"], timeout=5)
        assert False, "upgrade should be refused"
    except websocket.WebSocketBadStatusException as e:
        assert e.status_code == 503
    held.pop().close()  # the server notices at its next heartbeat write and frees the slot
    deadline, status = time.time() + 10, None
    while time.time() < deadline:
        s = socket.create_connection(("127.0.0.1", a.gw_port), timeout=5)
        s.sendall(f"GET /v1/stream/{tid} HTTP/1.1\r\nHost: x\r\nX-API-Key: demo-key\r\n\r\n".encode())
        status = s.recv(12)
        s.close()
        if status == b"HTTP/1.1 200":
            break
        time.sleep(0.1)
    assert status == b"HTTP/1.1 200"
    for s in held:
        s.close()
