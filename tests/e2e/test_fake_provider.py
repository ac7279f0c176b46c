"""Tests of the fake provider itself (tests/e2e/fake_provider.py), with plain
http.client / urllib / sockets, so a protocol mistake in the fake is caught
here rather than blamed on aionOS's clients. Needs no aiond build."""
import base64
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
