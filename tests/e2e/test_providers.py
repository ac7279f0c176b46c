"""Model providers end to end: a real aiond calls the loopback fake provider
(tests/e2e/fake_provider/) over HTTP and TLS with its real client code."""
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import openai_env
from fake_provider import FakeProvider, make_self_signed_cert

CHAT = {"messages": [{"role": "user", "content": "hello big world"}], "text": "hello big world"}



def test_openai_chat_streams_deltas_and_meters_cost(make_aiond, fake):
    a = make_aiond(openai_env(fake)).start()
    r = a.submit("chat", CHAT)
    assert r.status == 202, r
    t = a.wait(r.json["taskId"])
    assert t["status"] == "succeeded", t
    assert t["result"]["text"] == "echo: hello big world"
    assert t["result"]["provider"] == "openai" and t["result"]["model"] == "gpt-4o-mini"
    usage = t["result"]["usage"]
    assert usage == {"promptTokens": 3, "completionTokens": 4, "totalTokens": 7, "estimated": False}
    assert t["cost"]["usd"] == pytest.approx((3 * 0.15 + 4 * 0.60) / 1e6, abs=1e-12)
    # what the provider saw: the key, the model, streaming with usage
    req = fake.chat_requests()[-1]
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["authorization"] == "Bearer sk-test"
    assert req["json"]["model"] == "gpt-4o-mini" and req["json"]["stream"] is True
    assert req["json"]["stream_options"] == {"include_usage": True}
    evs, _, _ = a.sse(t["taskId"])
    deltas = [e["json"]["data"]["text"] for e in evs if e["event"] == "delta"]
    assert "".join(deltas) == "echo: hello big world"
    assert [e["event"] for e in evs][-2:] == ["result", "done"]


def test_tokens_reach_sse_one_by_one(make_aiond, fake):
    fake.token_delay = 0.15
    a = make_aiond(openai_env(fake)).start()
    tid = a.submit("chat", {"messages": [{"role": "user", "content": "one two three four"}],
                            "text": "x"}).json["taskId"]
    evs, _, _ = a.sse(tid)
    deltas = [e for e in evs if e["event"] == "delta"]
    assert len(deltas) >= 4, [e["json"]["data"] for e in deltas]  # one event per slow token
    assert [d["json"]["data"]["index"] for d in deltas] == list(range(len(deltas)))


def test_non_streamed_call(make_aiond, fake):
    a = make_aiond(openai_env(fake)).start()
    t = a.wait(a.submit("chat", {**CHAT, "stream": False, "max_tokens": 7}).json["taskId"])
    assert t["status"] == "succeeded" and t["result"]["text"] == "echo: hello big world"
    req = fake.chat_requests()[-1]["json"]
    assert req["stream"] is False and req["max_tokens"] == 7


@pytest.mark.parametrize("kind", ["azure", "huggingface", "vllm", "ollama"])
def test_each_provider_kind(make_aiond, fake, kind):
    env = {
        "azure": {"AZURE_OPENAI_ENDPOINT": fake.url, "AZURE_OPENAI_API_KEY": fake.azure_key,
                  "AZURE_OPENAI_DEPLOYMENT": "my-deployment"},
        "huggingface": {"HF_ENDPOINT": fake.url, "HF_TOKEN": fake.hf_token},
        "vllm": {"VLLM_BASE_URL": fake.url, "VLLM_MODEL": "meta/llama", "VLLM_API_KEY": fake.api_key},
        "ollama": {"OLLAMA_HOST": fake.url.removeprefix("http://")},
    }[kind]
    a = make_aiond(env).start()
    for stream in (True, False):
        t = a.wait(a.submit("chat", {**CHAT, "stream": stream}).json["taskId"])
        assert t["status"] == "succeeded", t
        assert t["result"]["provider"] == kind
        assert t["result"]["text"] == "echo: hello big world"
        req = fake.chat_requests()[-1]
        if kind == "azure":
            assert req["path"] == "/openai/deployments/my-deployment/chat/completions"
            assert req["query"]["api-version"] == ["2024-10-21"]
            assert req["headers"]["api-key"] == fake.azure_key
        elif kind == "huggingface":
            assert req["path"] == ("/generate_stream" if stream else "/generate")
            assert t["result"]["usage"]["estimated"] is True  # TGI reports no prompt tokens
            assert t["result"]["usage"]["completionTokens"] == 4
        elif kind == "vllm":
            assert req["path"] == "/v1/chat/completions" and req["json"]["model"] == "meta/llama"
            assert t["result"]["usage"]["estimated"] is False
        else:
            assert req["path"] == "/api/chat" and req["json"]["stream"] is stream
            assert t["result"]["usage"] == {"promptTokens": 3, "completionTokens": 4, "totalTokens": 7,
                                            "estimated": False}


def test_missing_credentials_explained_and_no_silent_stand_in(make_aiond, fake):
    a = make_aiond({"OPENAI_BASE_URL": fake.url + "/v1"}).start()  # no OPENAI_API_KEY
    d = a.control("POST", "/v1/router/decide", {"intent": "chat", "params": CHAT})
    assert d.status == 422 and d.json["error"]["code"] == "no_route", d
    reasons = {c["target"]: c["reason"] for c in d.json["error"]["details"]["candidates"]}
    assert "OPENAI_API_KEY is not set" in reasons["gpt-4o-mini"]
    assert "AZURE_OPENAI_ENDPOINT is not set" in reasons["azure-gpt-4o-mini"]
    assert "only requests that name it" in reasons["summarize"]
    # No model configured does not look like success: the chat says so.
    r = a.submit("chat", CHAT)
    assert r.status == 422 and r.json["error"]["code"] == "no_route", r
    assert "OPENAI_API_KEY is not set" in r.raw.decode()
    assert fake.chat_requests() == []


def test_429_retry_after_is_honoured(make_aiond, fake):
    a = make_aiond(openai_env(fake)).start()
    fake.script({"status": 429, "retry_after": 1})
    t0 = time.time()
    t = a.wait(a.submit("chat", CHAT).json["taskId"])
    assert t["status"] == "succeeded", t
    reqs = fake.chat_requests()
    assert len(reqs) == 2 and reqs[1]["time"] - reqs[0]["time"] >= 0.95
    evs, _, _ = a.sse(t["taskId"])
    retries = [e["json"]["data"]["retry"] for e in evs if e["event"] == "retry"]
    assert len(retries) == 1 and retries[0]["delayMs"] == 1000
    assert retries[0]["error"]["code"] == "rate_limited"
    assert time.time() - t0 < 10


def test_5xx_retries_then_falls_back_to_the_next_route(make_aiond, fake):
    a = make_aiond(openai_env(fake, OLLAMA_HOST=fake.url)).start()
    fake.script({"status": 500}, {"status": 502}, {"status": 503})  # 1 try + 2 retries
    t = a.wait(a.submit("chat", CHAT).json["taskId"])
    assert t["status"] == "succeeded" and t["result"]["provider"] == "ollama", t  # the next model
    assert len(fake.chat_requests()) == 4
    evs, _, _ = a.sse(t["taskId"])
    kinds = [e["event"] for e in evs]
    assert kinds.count("retry") == 2
    attempt = [e["json"]["data"] for e in evs if e["event"] == "attempt"][0]
    assert attempt["route"] == "model:gpt-4o-mini" and attempt["next"] == "model:ollama-default"
    assert attempt["error"]["details"]["providerStatus"] == 503


def test_circuit_opens_after_consecutive_failures(make_aiond, fake):
    a = make_aiond(openai_env(fake)).start()  # no other model: the failed tasks just fail
    fake.script(*[{"status": 500}] * 6)
    for _ in range(2):  # 3 calls each
        a.wait(a.submit("chat", CHAT).json["taskId"])
    assert len(fake.chat_requests()) == 5  # the 6th was refused by the open circuit
    d = a.control("POST", "/v1/router/decide", {"intent": "chat", "params": CHAT})
    reason = {c["target"]: c["reason"] for c in d.json["error"]["details"]["candidates"]}["gpt-4o-mini"]
    assert "circuit open" in reason
    m = a.request("GET", "/metrics").raw.decode()
    assert 'aion_provider_requests_total{model="gpt-4o-mini",outcome="500",provider="openai"}' in m


def test_stream_cut_mid_answer_fails_the_task_and_bills_what_was_generated(make_aiond, fake):
    a = make_aiond(openai_env(fake)).start()
    fake.script({"cut_after_chunks": 2})
    t = a.wait(a.submit("chat", CHAT).json["taskId"])
    assert t["status"] == "failed", t  # never a clean finish, and no fallback after tokens
    assert t["error"]["code"] == "provider_error"
    assert t["cost"]["estimated"] is True and t["cost"]["usd"] > 0
    evs, _, _ = a.sse(t["taskId"])
    kinds = [e["event"] for e in evs]
    assert "delta" in kinds and kinds[-2:] == ["error", "done"]
    assert len(fake.chat_requests()) == 1


def test_malformed_chunks_before_and_after_the_first_token(make_aiond, fake):
    a = make_aiond(openai_env(fake, OLLAMA_HOST=fake.url)).start()
    fake.script({"content": "a b c", "malformed_chunk": 1})  # after a token: the task fails
    t = a.wait(a.submit("chat", CHAT).json["taskId"])
    assert t["status"] == "failed" and "malformed" in t["error"]["message"], t
    fake.script({"malformed_chunk": 0}, {"malformed_chunk": 0}, {"malformed_chunk": 0})
    t = a.wait(a.submit("chat", CHAT).json["taskId"])  # before any token: retried, then next route
    assert t["status"] == "succeeded" and t["result"]["provider"] == "ollama", t


def test_unreachable_provider_falls_back(make_aiond, fake):
    a = make_aiond({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "k",
                    "OLLAMA_HOST": fake.url}).start()
    t = a.wait(a.submit("chat", CHAT).json["taskId"])
    assert t["status"] == "succeeded" and t["result"]["provider"] == "ollama", t
    attempt = [e["json"]["data"] for e in a.sse(t["taskId"])[0] if e["event"] == "attempt"][0]
    assert "connect" in attempt["error"]["message"]


def test_local_only_never_reaches_a_remote_provider(make_aiond, fake):
    a = make_aiond(openai_env(fake, OLLAMA_HOST=fake.url)).start()
    r = a.submit("chat", CHAT, privacy="local-only")
    t = a.wait(r.json["taskId"])
    assert t["status"] == "succeeded" and t["result"]["provider"] == "ollama"
    assert all(req["path"] == "/api/chat" for req in fake.chat_requests())
    plan = t["route"]
    assert all(rt["local"] for rt in plan["routes"])
    dropped = {c["target"]: c["reason"] for c in plan["candidates"] if not c["kept"]}
    assert "local-only forbids remote provider 'openai'" in dropped["gpt-4o-mini"]


def test_provider_over_tls(make_aiond, tmp_path):
    cert, key = make_self_signed_cert(tmp_path)
    f = FakeProvider(cert, key).start()
    try:
        a = make_aiond(openai_env(f, SSL_CERT_FILE=cert)).start()
        t = a.wait(a.submit("chat", CHAT).json["taskId"])
        assert t["status"] == "succeeded" and t["result"]["provider"] == "openai", t
        # an untrusted certificate is refused, and the task says why
        b = make_aiond(openai_env(f), subdir="untrusted").start()
        t2 = b.wait(b.submit("chat", CHAT).json["taskId"])
        assert t2["status"] == "failed", t2
        msg = t2["error"]["message"]
        assert "certificate verify failed" in msg or "TLS" in msg, msg
    finally:
        f.stop()


def test_embeddings(make_aiond, fake):
    a = make_aiond(openai_env(fake)).start()
    t = a.wait(a.submit("embed", {"input": ["alpha beta", "gamma"]}).json["taskId"])
    assert t["status"] == "succeeded", t
    assert len(t["result"]["embeddings"]) == 2 and len(t["result"]["embeddings"][0]) == 8
    assert t["result"]["usage"]["promptTokens"] == 3
    assert fake.chat_requests()[-1]["path"] == "/v1/embeddings"


def test_openai_sdk_embeddings_route_meter_and_refuse_by_name(make_aiond, fake):
    """POST /v1/embeddings through the official SDK: base64 (its default) and float, metered as embed tasks."""
    openai = pytest.importorskip("openai")
    from fake_provider import _embedding
    a = make_aiond(openai_env(fake)).start()
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{a.gw_port}/v1", api_key="demo-key", max_retries=0)
    r = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input=["alpha beta", "gamma"])
    assert fake.chat_requests()[-1]["path"] == "/v1/embeddings"
    assert r.headers["x-aion-route"] == "model:text-embedding-3-small"
    emb = r.parse()
    assert [d.index for d in emb.data] == [0, 1] and emb.model == "text-embedding-3-small"
    for d, text in zip(emb.data, ["alpha beta", "gamma"]):  # decoded by the SDK from base64 float32
        assert d.embedding == pytest.approx(_embedding(text, 8), abs=1e-6)
    assert emb.usage.prompt_tokens == 3 and emb.usage.total_tokens == 3
    floats = client.embeddings.create(model="auto-embed", input="gamma", encoding_format="float")
    assert floats.data[0].embedding == pytest.approx(_embedding("gamma", 8), abs=1e-6)
    # metered like any task
    task = a.request("GET", f"/v1/tasks/{r.headers['x-aion-task-id']}").json
    assert task["intent"] == "embed" and task["status"] == "succeeded" and task["cost"]["usd"] > 0
    # refused by name, nothing sent upstream
    sent = len(fake.chat_requests())
    for kwargs, param, err in [(dict(model="no-such-model", input="x"), "model", openai.NotFoundError),
                               (dict(model="gpt-4o-mini", input="x"), "model", openai.BadRequestError),
                               (dict(model="text-embedding-3-small", input=""), "input", openai.BadRequestError),
                               (dict(model="text-embedding-3-small", input=[[1, 2, 3]]), "input", openai.BadRequestError),
                               (dict(model="text-embedding-3-small", input="x", dimensions=4), "dimensions",
                                openai.BadRequestError)]:
        with pytest.raises(err) as e:
            client.embeddings.create(**kwargs)
        assert e.value.param == param, (kwargs, e.value.body)
    assert len(fake.chat_requests()) == sent


def test_openai_sdk_streams_provider_tokens_through_the_facade(make_aiond, fake):
    openai = pytest.importorskip("openai")
    a = make_aiond(openai_env(fake)).start()
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{a.gw_port}/v1", api_key="demo-key")
    chunks = list(client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "say hi"}], stream=True,
        stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: say hi"
    assert chunks[-1].usage.prompt_tokens == 2 and chunks[-1].usage.completion_tokens == 3
    full = client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "yo"}])
    assert full.choices[0].message.content == "echo: yo"
    assert full.usage.completion_tokens == 2


PII = "mail alice@example.com, card 4111 1111 1111 1111, call +1 (555) 123-4567 from 10.1.2.3"


def test_hybrid_provider_never_sees_pii_and_answer_is_rehydrated(make_aiond, fake):
    a = make_aiond(openai_env(fake)).start()
    r = a.submit("chat-hybrid", {"messages": [{"role": "system", "content": "be brief"},
                                              {"role": "user", "content": PII}], "text": PII})
    t = a.wait(r.json["taskId"])
    assert t["status"] == "succeeded", t
    sent = json.dumps(fake.chat_requests()[-1]["json"])
    for secret in ("alice@example.com", "4111", "555", "10.1.2.3"):
        assert secret not in sent, sent
    assert "[EMAIL_1]" in sent and "[CARD_1]" in sent and "[PHONE_1]" in sent and "[IP_1]" in sent
    assert t["result"]["text"] == "echo: " + PII  # re-hydrated
    assert t["result"]["redaction"]["counts"] == {"email": 1, "card": 1, "phone": 1, "iban": 0, "ip": 1}
    evs, _, _ = a.sse(t["taskId"])
    kinds = [e["event"] for e in evs]
    assert kinds.index("redacted") < kinds.index("delta")
    assert "".join(e["json"]["data"]["text"] for e in evs if e["event"] == "delta") == "echo: " + PII
    red = [e["json"]["data"] for e in evs if e["event"] == "redacted"][0]
    assert "alice" not in json.dumps(red)  # the event carries counts, not values


def test_hybrid_without_working_redaction_never_calls_the_provider(make_aiond, fake):
    a = make_aiond(openai_env(fake))
    intents = (a.policy_dir / "intents.yml").read_text()
    (a.policy_dir / "intents.yml").write_text(
        intents.replace("redaction: {module: redact, rehydrate: true}", "redaction: {module: hostile}"))
    a.start()
    t = a.wait(a.submit("chat-hybrid", {"messages": [{"role": "user", "content": PII}], "text": PII}).json["taskId"])
    assert t["status"] == "failed", t  # no silent stand-in answers instead
    assert fake.chat_requests() == []
    assert "was not called" in t["error"]["message"], t


def test_cancel_closes_the_upstream_stream_and_bills_what_was_generated(make_aiond, fake):
    fake.token_delay = 0.3
    a = make_aiond(openai_env(fake)).start()
    words = " ".join(f"w{i}" for i in range(40))
    tid = a.submit("chat", {"messages": [{"role": "user", "content": words}], "text": "x"}).json["taskId"]
    deadline = time.time() + 10
    while time.time() < deadline and not fake.inflight:
        time.sleep(0.05)
    time.sleep(0.8)  # a few tokens
    assert a.request("POST", f"/v1/tasks/{tid}/cancel").status == 202
    t = a.wait(tid, timeout=5)
    assert t["status"] == "canceled"
    assert t["cost"]["usd"] > 0 and t["cost"]["estimated"] is True
    deadline = time.time() + 3
    while fake.inflight and time.time() < deadline:
        time.sleep(0.05)
    assert fake.inflight == 0  # the upstream connection was closed, not left streaming


def test_stalled_stream_times_out(make_aiond, fake):
    a = make_aiond(openai_env(fake))
    models = (a.policy_dir / "models.yml").read_text()
    (a.policy_dir / "models.yml").write_text(models.replace(
        "    credential_env: OPENAI_API_KEY\n",
        "    credential_env: OPENAI_API_KEY\n    timeouts_ms: {read: 700}\n    retries: {max: 0}\n", 1))
    a.start()
    fake.script({"stall_after_chunks": 1})
    t0 = time.time()
    t = a.wait(a.submit("chat", CHAT).json["taskId"])
    assert t["status"] == "failed" and "stalled" in t["error"]["message"], t
    assert time.time() - t0 < 5


def test_tokens_reach_grpc_stream_and_websocket(make_aiond, fake):
    import websocket  # websocket-client
    from test_grpc import grpcurl, objects
    fake.token_delay = 0.1
    a = make_aiond(openai_env(fake)).start()
    body = {"intent": "chat", "params": {"messages": [{"role": "user", "content": "a b c"}], "text": "a b c"}}
    rc, out, err = grpcurl(a, "aion.v1.AionTasks/Submit", json.dumps(body))
    assert rc == 0, err
    tid = objects(out)[0]["task_id"]
    ws = websocket.create_connection(f"ws://127.0.0.1:{a.gw_port}/v1/ws", header=["X-API-Key: demo-key"], timeout=10)
    json.loads(ws.recv())
    ws.send(json.dumps({"type": "subscribe", "id": "s", "taskId": tid, "afterSeq": 0}))
    rc, out, err = grpcurl(a, "aion.v1.AionTasks/Stream", json.dumps({"task_id": tid}))
    assert rc == 0, err
    grpc_deltas = [e["data"]["text"] for e in objects(out) if e["type"] == "delta"]
    ws_deltas, done = [], False
    while not done:
        m = json.loads(ws.recv())
        if m["type"] == "event":
            ev = m["event"]
            done = ev["type"] == "done"
            if ev["type"] == "delta":
                ws_deltas.append(ev["data"]["text"])
    ws.close()
    assert len(grpc_deltas) >= 3 and "".join(grpc_deltas) == "echo: a b c"
    assert ws_deltas == grpc_deltas


def test_credential_from_a_secrets_file_is_never_echoed(make_aiond, fake, tmp_path):
    secret = tmp_path / "openai.key"
    secret.write_text(fake.api_key + "\n")
    a = make_aiond({"OPENAI_BASE_URL": fake.url + "/v1"})
    models = (a.policy_dir / "models.yml").read_text()
    (a.policy_dir / "models.yml").write_text(
        models.replace("credential_env: OPENAI_API_KEY", f"credential_file: {secret}", 1))
    a.start()
    t = a.wait(a.submit("chat", CHAT).json["taskId"])
    assert t["status"] == "succeeded" and t["result"]["provider"] == "openai", t
    assert fake.chat_requests()[-1]["headers"]["authorization"] == "Bearer " + fake.api_key
    # a provider error that echoes the key gets it masked before it is stored
    fake.script({"status": 400, "message": f"Incorrect API key provided: {fake.api_key}"})
    t = a.wait(a.submit("chat", CHAT).json["taskId"])
    everything = json.dumps(t) + json.dumps(a.sse(t["taskId"])[0]) + a.log_path.read_text()
    assert fake.api_key not in everything and "[redacted]" in everything
