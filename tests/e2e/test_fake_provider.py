"""Tests of the fake provider itself (tests/e2e/fake_provider/), with plain
http.client / urllib / sockets, and the official openai Python SDK where the
fake speaks OpenAI, so a protocol mistake in the fake is caught here rather
than blamed on aionOS's clients. Needs no aiond build."""
import base64
import re
import http.client
import json
import socket
import ssl
import struct
import threading
import time
import urllib.error
import urllib.request

import pytest

from fake_provider import FakeProvider, make_self_signed_cert, tokenize

OPENAI = {"Authorization": "Bearer sk-test"}
HF = {"Authorization": "Bearer hf_test"}
AZURE = {"api-key": "azure-test"}
AZ_CHAT = "/openai/deployments/my-dep/chat/completions?api-version=2024-10-21"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "be brief"},
                                             {"role": "user", "content": "hello big world"}]}


@pytest.fixture
def fake():
    f = FakeProvider().start()
    yield f
    f.stop()
    assert f.errors == []


def request(fake, method, path, body=None, headers=None, timeout=5):
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=timeout)
    h = dict(headers or {})
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def post(fake, path, body, headers=OPENAI, **kw):
    return request(fake, "POST", path, body, headers, **kw)


def sse_data(raw):
    """The data payloads of a text/event-stream body, parsed per the SSE spec."""
    text = raw.decode()
    assert text.endswith("\n\n"), text[-80:]
    out = []
    for block in text.split("\n\n")[:-1]:
        data = []
        for line in block.split("\n"):
            field, _, value = line.partition(":")
            if field == "data":
                data.append(value[1:] if value.startswith(" ") else value)
        if data:
            out.append("\n".join(data))
    return out


class Raw:
    """A bare socket client that checks HTTP/1.1 chunked framing byte by byte."""

    def __init__(self, port, timeout=5):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.f = self.sock.makefile("rb")

    def send(self, method, path, body, headers):
        data = json.dumps(body).encode()
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()))
        self.sock.sendall(head.encode() + b"\r\n" + data)
        status = self.f.readline()
        hdrs = {}
        while True:
            line = self.f.readline()
            if line in (b"\r\n", b""):
                break
            k, _, v = line.decode().partition(":")
            hdrs[k.strip().lower()] = v.strip()
        return int(status.split()[1]), hdrs

    def chunk(self):
        """The next chunk's payload; b"" for the terminating chunk."""
        size_line = self.f.readline()
        assert size_line.endswith(b"\r\n"), size_line
        size = int(size_line, 16)
        payload = self.f.read(size)
        assert len(payload) == size and self.f.read(2) == b"\r\n"
        return payload

    def chunks(self):
        out = []
        while (c := self.chunk()) != b"":
            out.append(c)
        return out

    def close(self):
        self.f.close()
        self.sock.close()


# -- OpenAI / vLLM -------------------------------------------------------------

def test_openai_chat_completion(fake):
    status, h, raw = post(fake, "/v1/chat/completions", CHAT)
    assert status == 200 and h["content-type"] == "application/json"
    assert int(h["content-length"]) == len(raw) and h["x-request-id"].startswith("req_")
    r = json.loads(raw)
    assert r["object"] == "chat.completion" and r["id"].startswith("chatcmpl-") and r["model"] == "gpt-4o-mini"
    assert isinstance(r["created"], int)
    assert r["choices"] == [{"index": 0, "message": {"role": "assistant", "content": "echo: hello big world",
                                                     "refusal": None, "annotations": []},
                             "logprobs": None, "finish_reason": "stop"}]
    u = r["usage"]
    assert (u["prompt_tokens"], u["completion_tokens"], u["total_tokens"]) == (5, 4, 9)
    req = fake.requests[-1]
    assert (req["method"], req["path"], req["query"]) == ("POST", "/v1/chat/completions", {})
    assert req["headers"]["authorization"] == "Bearer sk-test" and req["json"] == CHAT
    assert time.time() - req["time"] < 5


def test_openai_stream_is_chunked_sse_with_usage_and_done(fake):
    raw = Raw(fake.port)
    status, h = raw.send("POST", "/v1/chat/completions",
                         {**CHAT, "stream": True, "stream_options": {"include_usage": True}}, OPENAI)
    assert status == 200 and h["transfer-encoding"] == "chunked" and "content-length" not in h
    assert h["content-type"].startswith("text/event-stream")
    chunks = raw.chunks()
    assert all(c.startswith(b"data: ") and c.endswith(b"\n\n") and c.count(b"\n\n") == 1 for c in chunks)
    data = sse_data(b"".join(chunks))
    assert data[-1] == "[DONE]"
    events = [json.loads(d) for d in data[:-1]]
    assert all(e["object"] == "chat.completion.chunk" and e["model"] == "gpt-4o-mini" for e in events)
    assert len({e["id"] for e in events}) == 1
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    deltas = [e["choices"][0]["delta"].get("content") for e in events[1:-2]]
    assert deltas == ["echo: ", "hello ", "big ", "world"]  # one word per chunk
    assert events[-2]["choices"][0]["finish_reason"] == "stop" and events[-2]["choices"][0]["delta"] == {}
    assert all(e["choices"][0]["finish_reason"] is None for e in events[:-2])
    last = events[-1]
    assert last["choices"] == [] and last["usage"]["prompt_tokens"] == 5
    assert last["usage"]["completion_tokens"] == 4 and last["usage"]["total_tokens"] == 9
    assert all("usage" in e and e["usage"] is None for e in events[:-1])
    # the connection stays usable after a chunked body
    status, h = raw.send("POST", "/v1/chat/completions", CHAT, OPENAI)
    assert status == 200 and json.loads(raw.f.read(int(h["content-length"])))["object"] == "chat.completion"
    raw.close()
    assert len({r["client"] for r in fake.requests}) == 1


def test_stream_without_include_usage_has_no_usage(fake):
    status, h, raw = post(fake, "/v1/chat/completions", {**CHAT, "stream": True})
    events = [json.loads(d) for d in sse_data(raw)[:-1]]
    assert status == 200 and all("usage" not in e for e in events) and events[-1]["choices"]


def test_max_tokens_truncates_with_finish_reason_length(fake):
    r = json.loads(post(fake, "/v1/chat/completions", {**CHAT, "max_tokens": 2})[2])
    assert r["choices"][0]["message"]["content"] == "echo: hello"
    assert r["choices"][0]["finish_reason"] == "length" and r["usage"]["completion_tokens"] == 2
    r = json.loads(post(fake, "/v1/chat/completions", {**CHAT, "max_completion_tokens": 3})[2])
    assert r["choices"][0]["message"]["content"] == "echo: hello big"


def test_openai_request_validation(fake):
    for body, param in [({**CHAT, "stream_options": {"include_usage": True}}, "stream_options"),
                        ({"messages": CHAT["messages"]}, None),
                        ({**CHAT, "messages": []}, "messages"),
                        ({**CHAT, "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
                        ({**CHAT, "max_tokens": 0}, "max_tokens")]:
        status, _, raw = post(fake, "/v1/chat/completions", body)
        err = json.loads(raw)["error"]
        assert status == 400 and set(err) == {"message", "type", "param", "code"} and err["param"] == param
    status, _, raw = post(fake, "/v1/chat/completions", b"{not json")
    assert status == 400 and "could not parse the JSON body" in json.loads(raw)["error"]["message"]


def test_legacy_completions(fake):
    r = json.loads(post(fake, "/v1/completions", {"model": "m", "prompt": "say this"})[2])
    assert r["object"] == "text_completion" and r["choices"][0]["text"] == "echo: say this"
    assert r["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}
    _, _, raw = post(fake, "/v1/completions", {"model": "m", "prompt": "say this", "stream": True,
                                               "stream_options": {"include_usage": True}})
    data = sse_data(raw)
    events = [json.loads(d) for d in data[:-1]]
    assert data[-1] == "[DONE]" and events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] == 3
    assert "".join(e["choices"][0]["text"] for e in events[:-1]) == "echo: say this"
    assert events[-2]["choices"][0]["finish_reason"] == "stop"


def test_embeddings(fake):
    r = json.loads(post(fake, "/v1/embeddings", {"model": "text-embedding-3-small", "input": "alpha beta"})[2])
    assert r["object"] == "list" and r["model"] == "text-embedding-3-small"
    (d,) = r["data"]
    assert d["object"] == "embedding" and d["index"] == 0 and len(d["embedding"]) == 8
    assert sum(x * x for x in d["embedding"]) == pytest.approx(1.0, abs=1e-4)
    assert r["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    r2 = json.loads(post(fake, "/v1/embeddings", {"model": "e", "input": ["alpha beta", "gamma"]})[2])
    assert [x["index"] for x in r2["data"]] == [0, 1] and r2["usage"]["prompt_tokens"] == 3
    assert r2["data"][0]["embedding"] == d["embedding"] != r2["data"][1]["embedding"]  # deterministic
    r3 = json.loads(post(fake, "/v1/embeddings", {"model": "e", "input": "alpha beta",
                                                  "encoding_format": "base64"})[2])
    floats = struct.unpack("<8f", base64.b64decode(r3["data"][0]["embedding"]))
    assert floats == pytest.approx(d["embedding"], abs=1e-6)
    r4 = json.loads(post(fake, "/v1/embeddings", {"model": "e", "input": "x", "dimensions": 16})[2])
    assert len(r4["data"][0]["embedding"]) == 16
    assert post(fake, "/v1/embeddings", {"model": "e", "input": []})[0] == 400


def test_models(fake):
    status, _, raw = request(fake, "GET", "/v1/models", headers=OPENAI)
    r = json.loads(raw)
    assert status == 200 and r["object"] == "list"
    assert {m["id"] for m in r["data"]} >= {"gpt-4o-mini"} and all(m["object"] == "model" for m in r["data"])
    assert request(fake, "GET", "/v1/models/nope", headers=OPENAI)[0] == 404


def test_openai_auth(fake):
    status, _, raw = post(fake, "/v1/chat/completions", CHAT, headers={})
    err = json.loads(raw)["error"]
    assert status == 401 and "didn't provide an API key" in err["message"]
    assert err["type"] == "invalid_request_error" and err["param"] is None and err["code"] is None
    status, _, raw = post(fake, "/v1/chat/completions", CHAT, headers={"Authorization": "Bearer sk-wrong-key"})
    assert status == 401 and json.loads(raw)["error"]["code"] == "invalid_api_key"
    assert "sk-wrong-key" not in json.loads(raw)["error"]["message"]  # masked, as OpenAI does
    assert post(fake, "/v1/chat/completions", CHAT, headers={"Authorization": "Basic sk-test"})[0] == 401
    assert post(fake, "/v1/chat/completions", CHAT, headers=HF)[0] == 200  # TGI's Messages API
    fake.require_auth = False  # vLLM without --api-key
    assert post(fake, "/v1/chat/completions", CHAT, headers={})[0] == 200
    assert post(fake, "/v1/chat/completions", CHAT, headers={"Authorization": "Bearer nope"})[0] == 401


# -- scripted behaviours ---------------------------------------------------------

def test_scripted_errors_are_fifo_then_normal(fake):
    fake.script({"status": 429, "retry_after": 1}, {"status": 500}, {"status": 503})
    status, h, raw = post(fake, "/v1/chat/completions", CHAT)
    err = json.loads(raw)["error"]
    assert status == 429 and h["retry-after"] == "1" and err["code"] == "rate_limit_exceeded"
    assert set(err) == {"message", "type", "param", "code"}
    status, h, raw = post(fake, "/v1/chat/completions", CHAT)
    assert status == 500 and "retry-after" not in h and json.loads(raw)["error"]["type"] == "server_error"
    assert post(fake, "/v1/chat/completions", CHAT)[0] == 503
    assert post(fake, "/v1/chat/completions", CHAT)[0] == 200
    assert len(fake.requests) == 4 and fake.pending_steps() == 0


def test_delay_and_content_and_no_usage(fake):
    fake.script({"delay": 0.3, "content": "exactly this", "no_usage": True})
    t0 = time.monotonic()
    r = json.loads(post(fake, "/v1/chat/completions", CHAT)[2])
    assert time.monotonic() - t0 >= 0.3
    assert r["choices"][0]["message"]["content"] == "exactly this" and "usage" not in r
    fake.script({"no_usage": True})
    _, _, raw = post(fake, "/v1/chat/completions", {**CHAT, "stream": True, "stream_options": {"include_usage": True}})
    assert all("usage" not in json.loads(d) for d in sse_data(raw)[:-1])


def test_drop_closes_without_response(fake):
    fake.script({"drop": True})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        post(fake, "/v1/chat/completions", CHAT)
    assert post(fake, "/v1/chat/completions", CHAT)[0] == 200
    assert len(fake.requests) == 2


def test_cut_after_chunks_ends_body_without_terminator(fake):
    fake.script({"cut_after_chunks": 2})
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    conn.request("POST", "/v1/chat/completions", json.dumps({**CHAT, "stream": True}), OPENAI)
    r = conn.getresponse()
    with pytest.raises(http.client.IncompleteRead) as e:
        r.read()
    data = sse_data(e.value.partial)
    assert [json.loads(d)["choices"][0]["delta"].get("content") for d in data] == ["", "echo: ", "hello "]
    conn.close()


def test_stall_holds_the_stream_until_the_client_hangs_up(fake):
    fake.script({"stall_after_chunks": 2})
    raw = Raw(fake.port, timeout=0.4)
    status, _ = raw.send("POST", "/v1/chat/completions", {**CHAT, "stream": True}, OPENAI)
    got = [json.loads(raw.chunk()[6:]) for _ in range(3)]  # role chunk + 2 tokens
    assert [g["choices"][0]["delta"].get("content") for g in got] == ["", "echo: ", "hello "]
    with pytest.raises(TimeoutError):
        raw.chunk()
    assert fake.open_connections == 1
    raw.close()
    deadline = time.monotonic() + 3
    while fake.open_connections and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.open_connections == 0  # the fake noticed the hang-up
    fake.script({"stall_after_chunks": 0})  # a non-streamed call hangs before its status line
    with pytest.raises(TimeoutError):
        post(fake, "/v1/chat/completions", CHAT, timeout=0.3)


def test_client_hang_up_mid_stream_ends_the_answer(fake):
    fake.token_delay = 0.2
    raw = Raw(fake.port)
    raw.send("POST", "/v1/chat/completions", {**CHAT, "messages": [{"role": "user", "content": "w " * 50}],
                                              "stream": True}, OPENAI)
    raw.chunk()
    assert fake.inflight == 1
    raw.close()
    deadline = time.monotonic() + 2
    while (fake.inflight or fake.open_connections) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.inflight == 0 and fake.open_connections == 0


def test_stop_releases_stalled_and_idle_connections():
    f = FakeProvider().start()
    f.script({"stall_after_chunks": 0})
    raw = Raw(f.port, timeout=5)
    raw.send("POST", "/v1/chat/completions", {**CHAT, "stream": True}, OPENAI)
    idle = Raw(f.port)
    idle.send("GET", "/api/tags", {}, {})
    t0 = time.monotonic()
    f.stop()
    assert time.monotonic() - t0 < 2
    raw.close()
    idle.close()
    assert f.errors == []


def test_malformed_chunk_mid_stream(fake):
    fake.script({"malformed_chunk": True})
    _, _, raw = post(fake, "/v1/chat/completions", {**CHAT, "stream": True})
    data = sse_data(raw)
    bad = []
    for d in data[:-1]:
        try:
            json.loads(d)
        except ValueError:
            bad.append(d)
    assert len(bad) == 1 and data[-1] == "[DONE]"
    assert data.index(bad[0]) not in (0, len(data) - 1)
    fake.script({"malformed_chunk": True})
    status, _, raw = post(fake, "/v1/chat/completions", CHAT)
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(raw)


# -- Azure OpenAI ------------------------------------------------------------------

def test_azure_chat(fake):
    status, h, raw = post(fake, AZ_CHAT, {"messages": CHAT["messages"]}, headers=AZURE)
    r = json.loads(raw)
    assert status == 200 and r["model"] == "my-dep" and "apim-request-id" in h
    assert r["choices"][0]["message"]["content"] == "echo: hello big world" and r["usage"]["total_tokens"] == 9
    assert r["prompt_filter_results"][0]["prompt_index"] == 0
    assert fake.requests[-1]["query"] == {"api-version": ["2024-10-21"]}
    _, h, raw = post(fake, AZ_CHAT, {"messages": CHAT["messages"], "stream": True,
                                     "stream_options": {"include_usage": True}}, headers=AZURE)
    data = sse_data(raw)
    events = [json.loads(d) for d in data[:-1]]
    assert events[0]["choices"] == [] and "prompt_filter_results" in events[0]  # Azure's first chunk
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"]) == \
        "echo: hello big world"
    assert events[-1]["usage"]["completion_tokens"] == 4 and data[-1] == "[DONE]"


def test_azure_errors(fake):
    for headers in ({}, {"api-key": "wrong"}, {"Authorization": "Bearer azure-test"}):
        status, _, raw = post(fake, AZ_CHAT, {"messages": CHAT["messages"]}, headers=headers)
        assert status == 401 and json.loads(raw)["error"]["code"] == "401"
    for path in ("/openai/deployments/my-dep/chat/completions",
                 "/openai/deployments/d/chat/completions?api-version=v1"):
        status, _, raw = post(fake, path, {"messages": CHAT["messages"]}, headers=AZURE)
        assert status == 404 and json.loads(raw) == {"error": {"code": "404", "message": "Resource not found"}}
    fake.azure_deployments = ["other"]
    status, _, raw = post(fake, AZ_CHAT, {"messages": CHAT["messages"]}, headers=AZURE)
    assert status == 404 and json.loads(raw)["error"]["code"] == "DeploymentNotFound"
    fake.azure_deployments = None
    fake.script({"status": 429, "retry_after": 2})
    status, h, raw = post(fake, AZ_CHAT, {"messages": CHAT["messages"]}, headers=AZURE)
    assert status == 429 and h["retry-after"] == "2" and h["retry-after-ms"] == "2000"
    assert json.loads(raw)["error"]["code"] == "429"


def test_azure_embeddings(fake):
    r = json.loads(post(fake, "/openai/deployments/emb/embeddings?api-version=2024-02-01", {"input": ["a b", "c"]},
                        headers=AZURE)[2])
    assert r["model"] == "emb" and len(r["data"]) == 2 and r["usage"]["prompt_tokens"] == 3


# -- Hugging Face TGI ------------------------------------------------------------------

TGI_IN = {"inputs": "system: be brief\nuser: hello big world\nassistant:", "parameters": {"max_new_tokens": 50}}


def test_tgi_generate(fake):
    status, h, raw = post(fake, "/generate", TGI_IN, headers=HF)
    assert status == 200 and json.loads(raw) == {"generated_text": "echo: hello big world"}
    assert h["x-generated-tokens"] == "4" and h["x-prompt-tokens"] == "8"
    body = {**TGI_IN, "parameters": {"details": True, "max_new_tokens": 50}}
    r = json.loads(post(fake, "/generate", body, headers=HF)[2])
    d = r["details"]
    assert d["finish_reason"] == "eos_token" and d["generated_tokens"] == 4 and d["prefill"] == []
    assert [t["text"] for t in d["tokens"]] == ["echo: ", "hello ", "big ", "world"]
    assert all(set(t) == {"id", "text", "logprob", "special"} and t["special"] is False for t in d["tokens"])
    r = json.loads(post(fake, "/generate", {"inputs": "What is it?", "parameters": {"details": True,
                                                                                   "max_new_tokens": 2}},
                        headers=HF)[2])
    assert r["generated_text"] == "echo: What" and r["details"]["finish_reason"] == "length"


def test_tgi_generate_stream(fake):
    status, h, raw = post(fake, "/generate_stream", TGI_IN, headers=HF)
    assert status == 200 and h["content-type"] == "text/event-stream" and h["transfer-encoding"] == "chunked"
    assert raw.startswith(b"data:{")  # TGI (axum) writes no space after "data:"
    events = [json.loads(d) for d in sse_data(raw)]
    assert [e["index"] for e in events] == [1, 2, 3, 4]
    assert "".join(e["token"]["text"] for e in events) == "echo: hello big world"
    assert all(e["generated_text"] is None and e["details"] is None for e in events[:-1])
    assert events[-1]["generated_text"] == "echo: hello big world"
    assert events[-1]["details"] == {"finish_reason": "eos_token", "generated_tokens": 4, "seed": None,
                                     "input_length": 8}


def test_tgi_auth_validation_and_errors(fake):
    for headers in ({}, {"Authorization": "Bearer nope"}, OPENAI):
        status, _, raw = post(fake, "/generate", TGI_IN, headers=headers)
        assert status == 401 and isinstance(json.loads(raw)["error"], str)
    status, _, raw = post(fake, "/generate", {"inputs": "x", "parameters": {"max_new_tokens": 0}}, headers=HF)
    assert status == 422 and json.loads(raw)["error_type"] == "validation"
    assert post(fake, "/generate", {"inputs": "x", "parameters": {"temperature": 0}}, headers=HF)[0] == 422
    fake.script({"status": 429}, {"malformed_chunk": 1})
    status, _, raw = post(fake, "/generate_stream", TGI_IN, headers=HF)
    assert status == 429 and json.loads(raw)["error_type"] == "overloaded"
    _, _, raw = post(fake, "/generate_stream", TGI_IN, headers=HF)
    data = sse_data(raw)
    assert len(data) == 5
    with pytest.raises(ValueError):
        json.loads(data[1])


# -- Ollama ------------------------------------------------------------------------------

OLLAMA = {"model": "llama3.2", "messages": CHAT["messages"]}


def test_ollama_streams_ndjson_by_default(fake):
    status, h, raw = post(fake, "/api/chat", OLLAMA, headers={})  # no "stream": Ollama streams
    assert status == 200 and h["content-type"] == "application/x-ndjson" and h["transfer-encoding"] == "chunked"
    lines = raw.decode().split("\n")
    assert lines[-1] == ""
    objs = [json.loads(x) for x in lines[:-1]]
    assert all(o["model"] == "llama3.2" and o["created_at"].endswith("Z") for o in objs)
    assert [o["message"]["content"] for o in objs[:-1]] == ["echo: ", "hello ", "big ", "world"]
    assert all(o["done"] is False and o["message"]["role"] == "assistant" for o in objs[:-1])
    last = objs[-1]
    assert last["done"] is True and last["done_reason"] == "stop" and last["message"]["content"] == ""
    assert (last["prompt_eval_count"], last["eval_count"]) == (5, 4) and last["total_duration"] > 0


def test_ollama_non_stream_and_models(fake):
    status, h, raw = post(fake, "/api/chat", {**OLLAMA, "model": "llama3.2:latest", "stream": False}, headers={})
    r = json.loads(raw)
    assert status == 200 and int(h["content-length"]) == len(raw)
    assert r["message"] == {"role": "assistant", "content": "echo: hello big world"} and r["done"] is True
    assert (r["prompt_eval_count"], r["eval_count"], r["done_reason"]) == (5, 4, "stop")
    r = json.loads(post(fake, "/api/chat", {**OLLAMA, "stream": False, "options": {"num_predict": 1}})[2])
    assert r["message"]["content"] == "echo:" and r["done_reason"] == "length" and r["eval_count"] == 1
    status, _, raw = post(fake, "/api/chat", {**OLLAMA, "model": "mistral"}, headers={})
    assert status == 404 and json.loads(raw) == {"error": 'model "mistral" not found, try pulling it first'}
    tags = json.loads(request(fake, "GET", "/api/tags")[2])
    assert [m["name"] for m in tags["models"]] == ["llama3.2:latest"]
    assert request(fake, "GET", "/")[2] == b"Ollama is running"


def test_ollama_malformed_line(fake):
    fake.script({"malformed_chunk": 2})
    lines = post(fake, "/api/chat", OLLAMA, headers={})[2].decode().split("\n")[:-1]
    assert len(lines) == 6
    with pytest.raises(ValueError):
        json.loads(lines[2])
    assert json.loads(lines[-1])["done"] is True


def test_unknown_paths_are_404(fake):
    for method, path in [("GET", "/nope"), ("POST", "/v1/nope"), ("GET", "/v1/chat/completions"),
                         ("POST", "/api/nope")]:
        assert request(fake, method, path, headers=OPENAI)[0] == 404


# -- transport -------------------------------------------------------------------------------

def test_keep_alive_reuses_one_connection(fake):
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    for body in (CHAT, {**CHAT, "stream": True}, CHAT):
        conn.request("POST", "/v1/chat/completions", json.dumps(body), OPENAI)
        r = conn.getresponse()
        assert r.status == 200 and not r.will_close
        r.read()
    sock = conn.sock
    conn.request("POST", "/api/chat", json.dumps(OLLAMA))
    conn.getresponse().read()
    assert conn.sock is sock
    conn.close()
    assert len(fake.requests) == 4 and len({r["client"] for r in fake.requests}) == 1


def test_chunked_request_body(fake):
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    body = json.dumps(CHAT).encode()
    conn.request("POST", "/v1/chat/completions", iter([body[:10], body[10:]]),
                 {**OPENAI, "Transfer-Encoding": "chunked"}, encode_chunked=True)
    r = conn.getresponse()
    assert r.status == 200 and json.loads(r.read())["usage"]["prompt_tokens"] == 5
    conn.close()
    assert fake.requests[-1]["json"] == CHAT


def test_concurrent_requests(fake):
    fake.script(*[{"delay": 0.3}] * 8)
    results = []
    threads = [threading.Thread(target=lambda: results.append(post(fake, "/v1/chat/completions", CHAT)[0]))
               for _ in range(8)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 8 and time.monotonic() - t0 < 2
    assert len(fake.requests) == 8 and fake.max_inflight > 1


def test_tls_with_generated_cert(tmp_path):
    cert, key = make_self_signed_cert(tmp_path)
    with FakeProvider(cert, key) as f:
        assert f.url == f"https://127.0.0.1:{f.port}"
        stuck = socket.create_connection(("127.0.0.1", f.port))  # never handshakes: must not block others
        ctx = ssl.create_default_context(cafile=cert)
        req = urllib.request.Request(f.url + "/v1/chat/completions", data=json.dumps(CHAT).encode(),
                                     headers={**OPENAI, "Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=ctx, timeout=5) as r:
            assert json.loads(r.read())["choices"][0]["message"]["content"] == "echo: hello big world"
        req = urllib.request.Request(f.url.replace("127.0.0.1", "localhost") + "/v1/chat/completions",
                                     data=json.dumps({**CHAT, "stream": True}).encode(), headers=OPENAI)
        with urllib.request.urlopen(req, context=ctx, timeout=5) as r:
            assert sse_data(r.read())[-1] == "[DONE]"
        with pytest.raises(urllib.error.URLError) as e:  # an untrusting client is refused
            urllib.request.urlopen(req, context=ssl.create_default_context(), timeout=5)
        assert isinstance(e.value.reason, ssl.SSLCertVerificationError)
        stuck.close()
        assert f.errors == []


def test_tokenize_matches_the_documented_split():
    assert tokenize("echo: hello big world") == ["echo: ", "hello ", "big ", "world"]
    assert "".join(tokenize("a  b\nc ")) == "a  b\nc " and tokenize("") == []


# -- OpenAI features (tools, formats, stop, logprobs, n...), driven by the official SDK ------------

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "The weather of a city",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                           "required": ["city"], "additionalProperties": False},
                                            "strict": True}}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
PARIS = {"tool_calls": [{"name": "get_weather", "arguments": '{"city": "Paris"}'}]}
USER = [{"role": "user", "content": "hello big world"}]


@pytest.fixture
def sdk(fake):
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=fake.url + "/v1", api_key="sk-test", max_retries=0, timeout=10)


def bad_request(sdk, **kwargs):
    """The 400 body OpenAI's SDK raised for these chat arguments."""
    import openai
    kwargs.setdefault("messages", USER)
    with pytest.raises(openai.BadRequestError) as e:
        sdk.chat.completions.create(model="gpt-4o-mini", **kwargs)
    assert e.value.type == "invalid_request_error"
    return e.value


def test_scripted_tool_call(fake, sdk):
    fake.script(PARIS)
    r = sdk.chat.completions.create(model="gpt-4o-mini", messages=USER, tools=[WEATHER, TIME])
    (choice,) = r.choices
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert re.fullmatch(r"call_[0-9a-f]{24}", call.id)
    fake.script(PARIS)  # deterministic ids
    again = sdk.chat.completions.create(model="gpt-4o-mini", messages=USER, tools=[WEATHER])
    assert again.choices[0].message.tool_calls[0].id == call.id
    # a request without the tool (a proxy that dropped `tools`) gets text; so does tool_choice none
    fake.script(PARIS, PARIS)
    assert sdk.chat.completions.create(model="gpt-4o-mini", messages=USER).choices[0].message.content == \
        "echo: hello big world"
    r = sdk.chat.completions.create(model="gpt-4o-mini", messages=USER, tools=[WEATHER], tool_choice="none")
    assert r.choices[0].finish_reason == "stop" and r.choices[0].message.tool_calls is None


def test_tool_choice_forces_and_parallel_tool_calls(fake, sdk):
    r = sdk.chat.completions.create(model="gpt-4o-mini", messages=USER, tools=[WEATHER, TIME], tool_choice="required")
    call = r.choices[0].message.tool_calls[0].function
    assert (call.name, call.arguments) == ("get_weather", "{}")
    r = sdk.chat.completions.create(model="gpt-4o-mini", messages=USER, tools=[WEATHER, TIME],
                                    tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert r.choices[0].message.tool_calls[0].function.name == "get_time"
    two = {"tool_calls": [{"name": "get_weather", "arguments": '{"city": "Paris"}'},
                          {"name": "get_time", "arguments": {"city": "Rome"}}]}  # an object is sent as its text
    fake.script(two, two)
    calls = sdk.chat.completions.create(model="gpt-4o-mini", messages=USER, tools=[WEATHER, TIME]) \
        .choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"] and len({c.id for c in calls}) == 2
    assert json.loads(calls[1].function.arguments) == {"city": "Rome"}
    one = sdk.chat.completions.create(model="gpt-4o-mini", messages=USER, tools=[WEATHER, TIME],
                                      parallel_tool_calls=False).choices[0].message.tool_calls
    assert [c.function.name for c in one] == ["get_weather"]


def test_streamed_tool_calls_are_shaped_like_openai(fake, sdk):
    two = {"tool_calls": [{"name": "get_weather", "arguments": '{"city": "Paris"}'},
                          {"name": "get_time", "arguments": '{"city": "Rome"}'}]}
    fake.script(two)
    _, _, raw = post(fake, "/v1/chat/completions", {**CHAT, "stream": True, "tools": [WEATHER, TIME]})
    events = [json.loads(d) for d in sse_data(raw)[:-1]]
    deltas = [e["choices"][0]["delta"] for e in events]
    first = deltas[0]
    assert first["role"] == "assistant" and first["content"] is None
    head = first["tool_calls"][0]
    assert head["index"] == 0 and head["type"] == "function" and head["id"].startswith("call_")
    assert head["function"] == {"name": "get_weather", "arguments": ""}
    second = [i for i, d in enumerate(deltas) if d.get("tool_calls", [{}])[0].get("id")][1]
    assert deltas[second]["tool_calls"][0]["index"] == 1 and deltas[second]["tool_calls"][0]["function"]["name"] == \
        "get_time"
    fragments = [d["tool_calls"][0] for d in deltas[1:second]]
    assert len(fragments) >= 2 and all(set(f) == {"index", "function"} and f["index"] == 0 for f in fragments)
    assert "".join(f["function"]["arguments"] for f in fragments) == '{"city": "Paris"}'
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls" and deltas[-1] == {}
    fake.script(two)  # the SDK's accumulator agrees
    with sdk.chat.completions.stream(model="gpt-4o-mini", messages=USER, tools=[WEATHER, TIME]) as s:
        final = s.get_final_completion()
    assert [json.loads(c.function.arguments)["city"] for c in final.choices[0].message.tool_calls] == ["Paris", "Rome"]
    assert final.choices[0].finish_reason == "tool_calls"


def test_tools_are_checked_like_openai(sdk):
    for tools, param, code in [
        ([{"type": "function", "function": {"description": "no name"}}], "tools[0].function.name",
         "missing_required_parameter"),
        ([{"type": "function", "function": {"name": "has space"}}], "tools[0].function.name", "invalid_value"),
        ([{"type": "retrieval"}], "tools[0].type", "invalid_value"),
        ([{"function": {"name": "f"}}], "tools[0].type", "missing_required_parameter"),
        ([], "tools", "empty_array"),
        ([{"type": "function", "function": {"name": "f", "strict": True, "parameters": {
            "type": "object", "properties": {"a": {"type": "string"}}}}}],
         "tools[0].function.parameters", "invalid_function_parameters"),
    ]:
        e = bad_request(sdk, tools=tools)
        assert (e.param, e.code) == (param, code), e.body
    assert bad_request(sdk, tool_choice="auto").param == "tool_choice"  # without tools
    assert bad_request(sdk, tools=[WEATHER], tool_choice="always").param == "tool_choice"
    assert bad_request(sdk, tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "nope"}}).param \
        == "tool_choice"
    assert bad_request(sdk, parallel_tool_calls=False).param == "parallel_tool_calls"


def test_tool_messages_must_answer_earlier_calls(fake, sdk):
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
    convo = [USER[0], {"role": "assistant", "content": None, "tool_calls": [call]},
             {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]
    r = sdk.chat.completions.create(model="gpt-4o-mini", messages=convo, tools=[WEATHER])
    assert r.choices[0].message.content == "echo: sunny" and r.choices[0].finish_reason == "stop"
    e = bad_request(sdk, messages=[*convo[:2], {**convo[2], "tool_call_id": "call_other"}])
    assert e.param == "messages.[2].role" and "preceeding" in e.message  # OpenAI's spelling
    e = bad_request(sdk, messages=[USER[0], {"role": "tool", "content": "x"}])
    assert e.param == "messages.[1].tool_call_id"
    e = bad_request(sdk, messages=convo[:2])  # a call nobody answered
    assert e.param == "messages.[1].role" and "call_1" in e.message
    assert bad_request(sdk, messages=[{"role": "user", "content": None}]).param == "messages.[0].content"


def test_response_formats(fake, sdk):
    r = sdk.chat.completions.create(model="gpt-4o-mini", response_format={"type": "json_object"},
                                    messages=[{"role": "user", "content": "Reply in JSON please"}])
    assert json.loads(r.choices[0].message.content) == {"echo": "Reply in JSON please"}
    e = bad_request(sdk, response_format={"type": "json_object"})
    assert e.param == "messages" and "must contain the word 'json'" in e.message
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "n": {"type": "integer"},
                                               "ok": {"type": "boolean"}, "tags": {"type": "array"},
                                               "sky": {"enum": ["clear", "cloudy"]}, "v": {"const": 3}},
              "required": ["city", "n", "ok", "tags", "sky", "v"], "additionalProperties": False}
    r = sdk.chat.completions.create(model="gpt-4o-mini", messages=USER, response_format={
        "type": "json_schema", "json_schema": {"name": "w", "schema": schema, "strict": True}})
    assert json.loads(r.choices[0].message.content) == {"city": "echo", "n": 0, "ok": False, "tags": [],
                                                        "sky": "clear", "v": 3}
    loose = {"type": "object", "properties": {"a": {"type": "string"}}}
    e = bad_request(sdk, response_format={"type": "json_schema", "json_schema": {"name": "w", "schema": loose,
                                                                                  "strict": True}})
    assert (e.param, e.code) == ("response_format", "invalid_json_schema")
    assert bad_request(sdk, response_format={"type": "json_schema", "json_schema": {"schema": loose}}).param == \
        "response_format.json_schema.name"
    assert bad_request(sdk, response_format={"type": "yaml"}).param == "response_format.type"
    assert sdk.chat.completions.create(model="gpt-4o-mini", messages=USER, response_format={"type": "text"}) \
        .choices[0].message.content == "echo: hello big world"


def test_schema_instances():
    from fake_provider import _schema_instance
    assert _schema_instance({"type": "object", "properties": {
        "a": {"type": ["string", "null"]}, "b": {"anyOf": [{"type": "number"}, {"type": "null"}]},
        "c": {"$ref": "#/$defs/C"}, "d": {"type": "object", "properties": {"e": {"type": "boolean"}}}},
        "$defs": {"C": {"type": "integer"}}}) == {"a": "echo", "b": 0, "c": 0, "d": {"e": False}}
    assert _schema_instance({"type": "array", "items": {"type": "string"}}) == []
    assert _schema_instance({"type": "object"}) == {}


def test_stop_seed_and_sampling_parameters(fake, sdk):
    fake.script({"content": "one two STOP three"}, {"content": "a b. c"}, {"content": "one two STOP three"})
    r = sdk.chat.completions.create(model="gpt-4o-mini", messages=USER, stop=["STOP"], seed=7)
    assert r.choices[0].message.content == "one two " and r.choices[0].finish_reason == "stop"
    assert r.system_fingerprint == "fp_fake"
    r = sdk.chat.completions.create(model="gpt-4o-mini", messages=USER, stop=".")
    assert r.choices[0].message.content == "a b"
    text = "".join(c.choices[0].delta.content or "" for c in sdk.chat.completions.create(
        model="gpt-4o-mini", messages=USER, stop="STOP", stream=True) if c.choices)
    assert text == "one two "
    r = sdk.chat.completions.create(model="gpt-4o-mini", messages=USER, top_p=0.3, frequency_penalty=-2,
                                    presence_penalty=2, user="u-1", metadata={"k": "v"}, max_completion_tokens=50)
    assert r.choices[0].message.content == "echo: hello big world"
    for kwargs, param, code in [(dict(top_p=1.5), "top_p", "decimal_above_max_value"),
                                (dict(frequency_penalty=-2.5), "frequency_penalty", "decimal_below_min_value"),
                                (dict(presence_penalty=3), "presence_penalty", "decimal_above_max_value"),
                                (dict(seed="7"), "seed", "invalid_type"),
                                (dict(stop=["a", "b", "c", "d", "e"]), "stop", "array_above_max_length"),
                                (dict(user=5), "user", "invalid_type"),
                                (dict(metadata={"k": 1}), "metadata.k", "invalid_type"),
                                (dict(n=9), "n", "integer_above_max_value")]:
        e = bad_request(sdk, **kwargs)
        assert (e.param, e.code) == (param, code), (kwargs, e.body)
    e = bad_request(sdk, extra_body={"frobnicate": True})  # OpenAI names neither param nor code here
    assert (e.param, e.code) == (None, None) and "Unrecognized request argument supplied: frobnicate" in e.message


def test_logprobs(fake, sdk):
    r = sdk.chat.completions.create(model="gpt-4o-mini", messages=USER, logprobs=True, top_logprobs=3)
    lp = r.choices[0].logprobs
    assert lp.refusal is None and [t.token for t in lp.content] == ["echo: ", "hello ", "big ", "world"]
    assert [t.logprob for t in lp.content] == [-0.01, -0.02, -0.03, -0.04]
    assert lp.content[1].bytes == list(b"hello ") and len(lp.content[1].top_logprobs) == 3
    assert lp.content[1].top_logprobs[0].token == "hello "
    assert sdk.chat.completions.create(model="gpt-4o-mini", messages=USER).choices[0].logprobs is None
    chunks = [c for c in sdk.chat.completions.create(model="gpt-4o-mini", messages=USER, logprobs=True,
                                                     stream=True) if c.choices and c.choices[0].delta.content]
    assert [c.choices[0].logprobs.content[0].token for c in chunks] == ["echo: ", "hello ", "big ", "world"]
    assert all(len(c.choices[0].logprobs.content) == 1 for c in chunks)
    assert bad_request(sdk, logprobs=True, top_logprobs=21).code == "integer_above_max_value"
    assert bad_request(sdk, top_logprobs=2).param == "top_logprobs"  # without logprobs: true


def test_n_choices(fake, sdk):
    r = sdk.chat.completions.create(model="gpt-4o-mini", messages=USER, n=3)
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert {c.message.content for c in r.choices} == {"echo: hello big world"}
    assert r.usage.completion_tokens == 12
    chunks = list(sdk.chat.completions.create(model="gpt-4o-mini", messages=USER, n=2, stream=True))
    order = [c.choices[0].index for c in chunks]
    assert order[:4] == [0, 1, 0, 1] and order.count(0) == order.count(1)  # interleaved, as OpenAI's
    for i in (0, 1):
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices[0].index == i) == \
            "echo: hello big world"


def test_image_parts_are_echoed_and_recorded(fake, sdk):
    url = "https://example.com/cat.png"
    r = sdk.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is"}, {"type": "image_url", "image_url": {"url": url}},
        {"type": "text", "text": "this?"}]}])
    assert r.choices[0].message.content == "echo: What is this?"
    assert fake.requests[-1]["images"] == [url]
    assert fake.requests[0]["images"] == [url] and len(fake.requests) == 1
    e = bad_request(sdk, messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}])
    assert e.param == "messages[0].content[0].image_url.url"
    assert bad_request(sdk, messages=[{"role": "user", "content": [{"type": "video"}]}]).param == \
        "messages[0].content[0].type"


def test_known_models_only(fake, sdk):
    import openai
    fake.known_models_only = True
    with pytest.raises(openai.NotFoundError) as e:
        sdk.chat.completions.create(model="gpt-9", messages=USER)
    assert e.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        sdk.embeddings.create(model="nope", input="x")
    assert sdk.chat.completions.create(model="gpt-4o-mini", messages=USER).choices


def test_azure_tool_calls(fake):
    fake.script(PARIS, PARIS)
    r = json.loads(post(fake, AZ_CHAT, {"messages": CHAT["messages"], "tools": [WEATHER]}, headers=AZURE)[2])
    assert r["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert r["choices"][0]["content_filter_results"]
    _, _, raw = post(fake, AZ_CHAT, {"messages": CHAT["messages"], "tools": [WEATHER], "stream": True},
                     headers=AZURE)
    events = [json.loads(d) for d in sse_data(raw)[:-1]]
    assert events[0]["choices"] == [] and events[1]["choices"][0]["delta"]["tool_calls"][0]["id"].startswith("call_")


# -- the Responses API -----------------------------------------------------------------------

def test_responses_create(fake, sdk):
    r = sdk.responses.create(model="gpt-4o-mini", input="hello big world", instructions="Be brief.")
    assert r.object == "response" and r.status == "completed" and r.id.startswith("resp_")
    assert r.output_text == "echo: hello big world" and r.instructions == "Be brief."
    (msg,) = r.output
    assert msg.type == "message" and msg.role == "assistant" and msg.content[0].type == "output_text"
    assert (r.usage.input_tokens, r.usage.output_tokens) == (5, 4)
    r = sdk.responses.create(model="gpt-4o-mini", input="hello big world", max_output_tokens=16)
    assert r.status == "completed"
    fake.script({"content": " ".join(["w"] * 20)})
    r = sdk.responses.create(model="gpt-4o-mini", input="x", max_output_tokens=16)
    assert r.status == "incomplete" and r.incomplete_details.reason == "max_output_tokens"


def test_responses_stream_events(fake, sdk):
    status, h, raw = post(fake, "/v1/responses", {"model": "gpt-4o-mini", "input": "hello big world", "stream": True})
    assert status == 200 and h["content-type"].startswith("text/event-stream")
    blocks = raw.decode().split("\n\n")[:-1]
    kinds = [b.split("\n")[0].removeprefix("event: ") for b in blocks]
    events = [json.loads(b.split("\n")[1].removeprefix("data: ")) for b in blocks]
    assert [e["type"] for e in events] == kinds
    assert kinds == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.content_part.added"] + ["response.output_text.delta"] * 4 + [
                        "response.output_text.done", "response.content_part.done", "response.output_item.done",
                        "response.completed"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == "echo: hello big world"
    assert events[0]["response"]["status"] == "in_progress" and events[-1]["response"]["status"] == "completed"
    with sdk.responses.stream(model="gpt-4o-mini", input="hello big world") as s:
        assert s.get_final_response().output_text == "echo: hello big world"


def test_responses_function_calls(fake, sdk):
    import openai
    tool = {"type": "function", "name": "get_weather", "parameters": WEATHER["function"]["parameters"], "strict": True}
    fake.script(PARIS, PARIS)
    r = sdk.responses.create(model="gpt-4o-mini", input="weather?", tools=[tool, {"type": "web_search"}])
    (call,) = r.output
    assert call.type == "function_call" and call.name == "get_weather" and call.call_id.startswith("call_")
    assert json.loads(call.arguments) == {"city": "Paris"} and call.id.startswith("fc_")
    with sdk.responses.stream(model="gpt-4o-mini", input="weather?", tools=[tool]) as s:
        kinds = [e.type for e in s]
        final = s.get_final_response()
    assert "response.function_call_arguments.delta" in kinds and final.output[0].arguments == '{"city": "Paris"}'
    items = [{"role": "user", "content": "weather?"},
             {"type": "function_call", "call_id": call.call_id, "name": "get_weather", "arguments": call.arguments},
             {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}]
    assert sdk.responses.create(model="gpt-4o-mini", input=items, tools=[tool]).output_text == "echo: sunny"
    r = sdk.responses.create(model="gpt-4o-mini", input=[{"type": "function_call_output", "call_id": call.call_id,
                                                          "output": "rainy"}], previous_response_id=r.id, tools=[tool])
    assert r.output_text == "echo: rainy"  # the call came from the stored previous response
    for kwargs, param, code in [
        (dict(input=[{"type": "function_call_output", "call_id": "call_x", "output": "?"}]), "input", None),
        (dict(input="x", previous_response_id="resp_nope"), "previous_response_id", "previous_response_not_found"),
        (dict(input="x", extra_body={"frobnicate": 1}), "frobnicate", "unknown_parameter"),
        (dict(input="x", tools=[{"type": "function"}]), "tools[0].name", "missing_required_parameter"),
        (dict(input="x", text={"format": {"type": "json_object"}}), "input", None),
    ]:
        with pytest.raises(openai.BadRequestError) as e:
            sdk.responses.create(model="gpt-4o-mini", **kwargs)
        assert (e.value.param, e.value.code) == (param, code), (kwargs, e.value.body)
    r = sdk.responses.create(model="gpt-4o-mini", input="weather?", text={"format": {
        "type": "json_schema", "name": "w", "schema": WEATHER["function"]["parameters"], "strict": True}})
    assert json.loads(r.output_text) == {"city": "echo"}


def test_azure_responses(fake):
    status, _, raw = post(fake, "/openai/responses?api-version=2025-03-01-preview",
                          {"model": "my-dep", "input": "hello big world"}, headers=AZURE)
    r = json.loads(raw)
    assert status == 200 and r["model"] == "my-dep" and r["output"][0]["content"][0]["text"] == "echo: hello big world"


# -- Ollama and TGI features ----------------------------------------------------------------------

def test_ollama_tools(fake):
    fake.script(PARIS)
    r = json.loads(post(fake, "/api/chat", {**OLLAMA, "stream": False, "tools": [WEATHER]}, headers={})[2])
    assert r["message"]["tool_calls"] == [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]
    assert r["message"]["content"] == "" and r["done_reason"] == "stop"
    fake.script(PARIS)
    lines = [json.loads(x) for x in post(fake, "/api/chat", {**OLLAMA, "tools": [WEATHER]}, headers={})[2].split(b"\n")
             if x]
    assert lines[0]["message"]["tool_calls"][0]["function"]["arguments"] == {"city": "Paris"}
    assert lines[0]["done"] is False and lines[-1]["done"] is True and len(lines) == 2
    convo = [*OLLAMA["messages"], {"role": "assistant", "content": "", "tool_calls": [
        {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]}, {"role": "tool", "content": "sunny"}]
    r = json.loads(post(fake, "/api/chat", {**OLLAMA, "messages": convo, "stream": False}, headers={})[2])
    assert r["message"]["content"] == "echo: sunny"
    convo[-2]["tool_calls"][0]["function"]["arguments"] = '{"city": "Paris"}'  # OpenAI's text: Ollama refuses it
    status, _, raw = post(fake, "/api/chat", {**OLLAMA, "messages": convo, "stream": False}, headers={})
    assert status == 400 and "cannot unmarshal string" in json.loads(raw)["error"]


def test_ollama_format_and_options(fake):
    def chat(**extra):
        return json.loads(post(fake, "/api/chat", {**OLLAMA, "stream": False, **extra}, headers={})[2])

    assert json.loads(chat(format="json")["message"]["content"]) == {"echo": "hello big world"}
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "t": {"type": "number"}}}
    assert json.loads(chat(format=schema)["message"]["content"]) == {"city": "echo", "t": 0}
    fake.script({"content": "one two STOP three"})
    r = chat(options={"stop": ["STOP"], "seed": 1, "top_p": 0.5, "frequency_penalty": 1, "presence_penalty": 1})
    assert r["message"]["content"] == "one two " and r["done_reason"] == "stop"
    assert post(fake, "/api/chat", {**OLLAMA, "format": "yaml"}, headers={})[0] == 400
    fake.reset()
    post(fake, "/api/chat", {**OLLAMA, "stream": False, "messages": [{"role": "user", "content": "x",
                                                                      "images": ["aGVsbG8="]}]}, headers={})
    assert fake.requests[-1]["images"] == ["aGVsbG8="]


def test_tgi_stop_seed_and_grammar(fake):
    fake.script({"content": "one two STOP three"})
    body = {"inputs": "user: count\nassistant:", "parameters": {"stop": ["STOP"], "seed": 5, "details": True,
                                                                "top_p": 0.5, "frequency_penalty": 0.5}}
    r = json.loads(post(fake, "/generate", body, headers=HF)[2])
    assert r["generated_text"] == "one two STOP"  # TGI keeps the stop sequence
    assert r["details"]["finish_reason"] == "stop_sequence" and r["details"]["seed"] == 5
    fake.script({"content": "one two STOP three"})
    events = [json.loads(d) for d in sse_data(post(fake, "/generate_stream", body, headers=HF)[2])]
    assert events[-1]["generated_text"] == "one two STOP" and events[-1]["details"]["finish_reason"] == \
        "stop_sequence"
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    for value in (schema, json.dumps(schema)):
        r = json.loads(post(fake, "/generate", {"inputs": "x", "parameters": {"grammar": {"type": "json",
                                                                                         "value": value}}},
                            headers=HF)[2])
        assert json.loads(r["generated_text"]) == {"ok": False}
    for params in ({"grammar": {"type": "xml", "value": "x"}}, {"stop": ["a", "b", "c", "d", "e"]}, {"seed": -1},
                   {"stop": "STOP"}):
        status, _, raw = post(fake, "/generate", {"inputs": "x", "parameters": params}, headers=HF)
        assert status == 422 and json.loads(raw)["error_type"] == "validation", params


# -- scripting from another process ---------------------------------------------------------------

def test_control_endpoints_script_and_reset(fake):
    status, _, raw = post(fake, "/_fake/script", [{"content": "first"}, {"status": 500}], headers={})
    assert status == 200 and json.loads(raw) == {"queued": 2} and fake.pending_steps() == 2
    assert json.loads(post(fake, "/_fake/script", [{"content": "third"}], headers={})[2]) == {"queued": 3}
    assert fake.requests == []  # control calls are neither recorded nor steps
    assert json.loads(post(fake, "/v1/chat/completions", CHAT)[2])["choices"][0]["message"]["content"] == "first"
    assert post(fake, "/_fake/reset", {}, headers={})[0] == 200 and fake.pending_steps() == 0
    assert post(fake, "/v1/chat/completions", CHAT)[0] == 200 and len(fake.requests) == 2
    for bad in ({"content": "x"}, [1, 2], b"{nope"):
        assert post(fake, "/_fake/script", bad, headers={})[0] == 400
    assert request(fake, "GET", "/_fake/script")[0] == 404
