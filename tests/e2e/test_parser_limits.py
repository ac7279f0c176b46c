"""Depth limits on every JSON parser that reads client input: REST and
control-plane bodies, the OpenAI-compatible API, WebSocket messages and gRPC
params. A 10,000-deep document is a 400 naming the limit, never a crash or a
stack overflow, and the server keeps serving. (Sizes: AION_MAX_BODY_BYTES is
covered in test_openai.py and test_modules.py; policy YAML depth in
tests/unit/policy_loader_test.cpp.)"""
import json
import subprocess

import pytest
import websocket  # websocket-client

from test_grpc import GRPCURL

DEEP = 10_000
TOO_DEEP = "nested deeper than 64 levels"


def nested_array(n):
    return "[" * n + "]" * n


def nested_object(n):
    return '{"a":' * n + "1" + "}" * n


def post(a, path, body, port=None):
    return a.request("POST", path, body, headers={"Content-Type": "application/json"}, port=port)


def message(r):
    return r.json["error"]["message"]


def assert_alive(a):
    assert a.request("GET", "/healthz").status == 200
    r = a.submit("summarize", {"text": "Still here. Fine."})
    assert r.status == 202, r


@pytest.mark.parametrize("path", ["/v1/tasks", "/v1/chat/completions", "/v1/responses", "/v1/embeddings"])
def test_deep_bodies_are_400_on_the_gateway(aiond, path):
    for body in (nested_array(DEEP), nested_object(DEEP),
                 '{"model":"gpt-4o-mini","params":' + nested_array(DEEP) + "}"):
        r = post(aiond, path, body)
        assert r.status == 400, (path, r)
        assert message(r) == "request body is " + TOO_DEEP, r
    assert_alive(aiond)


def test_deep_bodies_are_400_on_the_control_plane(aiond):
    for path in ("/v1/router/decide", "/v1/modules"):
        r = post(aiond, path, '{"intent":"summarize","params":' + nested_object(DEEP) + "}", port=aiond.ctl_port)
        assert r.status == 400, (path, r)
        assert TOO_DEEP in message(r), r
    assert_alive(aiond)


def test_the_limit_is_64_levels(aiond):
    # 64 levels in all (the body object is the first): parsed, then refused
    # for what it says; 65: refused by the parser.
    ok = '{"schemaVersion":"1.0","intent":"summarize","params":{"text":"x","deep":' + nested_array(62) + "}}"
    r = post(aiond, "/v1/tasks", ok)
    assert r.status in (400, 422) and TOO_DEEP not in message(r), r
    over = '{"schemaVersion":"1.0","intent":"summarize","params":{"text":"x","deep":' + nested_array(63) + "}}"
    r = post(aiond, "/v1/tasks", over)
    assert r.status == 400 and message(r) == "request body is " + TOO_DEEP, r


def test_deep_websocket_message_is_an_error_and_the_socket_lives(aiond):
    ws = websocket.create_connection(f"ws://127.0.0.1:{aiond.gw_port}/v1/ws", header=["X-API-Key: demo-key"],
                                     timeout=10)
    assert json.loads(ws.recv())["type"] == "authenticated"
    for deep in (nested_array(DEEP), '{"type":"submit","id":"s","task":' + nested_object(DEEP) + "}"):
        ws.send(deep)
        m = json.loads(ws.recv())
        assert m["type"] == "error" and m["error"]["message"] == "message is " + TOO_DEEP, m
    ws.send(json.dumps({"type": "ping", "id": "p"}))
    assert json.loads(ws.recv()) == {"type": "pong", "id": "p"}
    ws.close()
    assert_alive(aiond)


def grpc_submit(a, params_json):
    data = '{"schema_version":"1.0","intent":"summarize","params":' + params_json + "}"
    p = subprocess.run([GRPCURL, "-plaintext", "-max-msg-sz", str(64 << 20), "-H", "x-api-key: demo-key", "-d", "@",
                        f"127.0.0.1:{a.grpc_port}", "aion.v1.AionTasks/Submit"],
                       input=data, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def test_deep_grpc_params_are_refused_and_the_server_lives(aiond):
    # params is a google.protobuf.Struct: protobuf itself stops at 100 message
    # levels (a JSON list level is two, an object level three). Within that,
    # aiond's own limit and messages apply; beyond it the gRPC library refuses
    # the request before aiond sees it (grpc 1.51 answers UNIMPLEMENTED).
    rc, out = grpc_submit(aiond, '{"text":"x","deep":' + nested_array(48) + "}")
    assert rc != 0 and "InvalidArgument" in out and "too deep" in out, out
    rc, out = grpc_submit(aiond, '{"text":"x","deep":' + nested_array(5000) + "}")
    assert rc != 0 and "Code: OK" not in out, out
    rc, out = grpc_submit(aiond, '{"text":"Still here."}')
    assert rc == 0, out
    assert_alive(aiond)
