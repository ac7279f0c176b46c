"""The OpenAI-compatible facade, driven by the official openai Python SDK."""
import openai
import pytest

TEXT = ("The gateway authenticates every request. Policies decide where a task may run. "
        "Local modules run inside WebAssembly sandboxes with hard limits. "
        "Every state change is stored before it is acknowledged.")


LOCAL = "module:summarize"  # the local summarizer, named explicitly (never a silent stand-in)


def client(a, key="demo-key"):
    return openai.OpenAI(base_url=f"http://127.0.0.1:{a.gw_port}/v1", api_key=key, max_retries=0, timeout=30)


def test_chat_completion(aiond):
    r = client(aiond).chat.completions.create(
        model=LOCAL, messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": TEXT}])
    assert r.object == "chat.completion"
    answer = r.choices[0].message.content
    assert r.choices[0].message.role == "assistant" and r.choices[0].finish_reason == "stop"
    assert answer and all(s.strip(" .") in TEXT for s in answer.split(". "))
    assert r.usage.prompt_tokens > 0 and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    # it was an ordinary task, visible in the task API
    task_id = r.id.removeprefix("chatcmpl-")
    t = aiond.request("GET", f"/v1/tasks/{task_id}").json
    assert t["intent"] == "chat" and t["status"] == "succeeded"


def test_streaming_chat_completion(aiond):
    stream = client(aiond).chat.completions.create(
        model=LOCAL, stream=True, messages=[{"role": "user", "content": TEXT}])
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    full = client(aiond).chat.completions.create(model=LOCAL, messages=[{"role": "user", "content": TEXT}])
    assert text == full.choices[0].message.content
    assert len([c for c in chunks if c.choices[0].delta.content]) > 1  # delivered as deltas


def test_models_and_bearer_auth(aiond):
    models = {m.id: m for m in client(aiond).models.list()}
    # what models.yml configures for chat and embeddings, plus the policy-routed aliases
    assert {"auto", "gpt-4o-mini", "azure-gpt-4o-mini", "hf-tgi", "vllm-default", "ollama-default",
            LOCAL, "auto-embed", "text-embedding-3-small"} <= set(models)
    assert models["gpt-4o-mini"].owned_by == "openai"
    assert client(aiond).models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
    with pytest.raises(openai.NotFoundError):
        client(aiond).models.retrieve("no-such-model")
    with pytest.raises(openai.AuthenticationError):
        client(aiond, key="wrong").models.list()
    with pytest.raises(openai.PermissionDeniedError):
        client(aiond, key="viewer-key").chat.completions.create(model=LOCAL, messages=[{"role": "user", "content": "x"}])


def test_model_selects_the_route(aiond):
    c = client(aiond)
    with pytest.raises(openai.NotFoundError) as e:
        c.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert e.value.code == "model_not_found" and e.value.body["param"] == "model"
    with pytest.raises(openai.BadRequestError):  # an embedding model cannot chat
        c.chat.completions.create(model="text-embedding-3-small", messages=[{"role": "user", "content": "x"}])
    # No provider is configured here: asking for a model says so; it is not answered by something else.
    for model in ("gpt-4o-mini", "auto", "openai/gpt-4o-mini"):
        with pytest.raises(openai.InternalServerError) as e:
            c.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
        assert e.value.status_code == 503 and "OPENAI_API_KEY is not set" in e.value.message, e.value.message
    r = c.chat.completions.with_raw_response.create(model=LOCAL, messages=[{"role": "user", "content": TEXT}])
    assert r.headers["x-aion-route"] == LOCAL and r.headers["x-aion-cost-usd"] == "0"
    assert r.headers["x-request-id"].startswith("req_")
    assert len(aiond.request("GET", "/v1/tasks").json["items"]) == 1  # only the one that ran


def test_bad_requests_get_openai_errors(aiond):
    c = client(aiond)
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model=LOCAL, messages=[])
    assert "messages" in str(e.value)
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(model=LOCAL, messages=[{"role": "wizard", "content": "x"}])
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(model=LOCAL, messages=[{"role": "system", "content": "only system"}])
    r = aiond.request("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]})
    assert r.status == 400 and r.json["error"]["type"] == "invalid_request_error" and "model" in r.json["error"]["message"]
    assert len(aiond.request("GET", "/v1/tasks").json["items"]) == 0  # nothing stored


def test_what_the_local_route_cannot_honour_is_refused_by_name(aiond):
    """tools, response_format, stop, logprobs, images to a local module: a 400 naming the
    parameter, never a plain answer. (Each provider route: test_openai_golden.py.)"""
    c = client(aiond)
    user = [{"role": "user", "content": "What is the weather in Paris?"}]
    weather = {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                                "parameters": {"type": "object",
                                                               "properties": {"city": {"type": "string"}}}}}
    refused = [
        (dict(tools=[weather]), "tools", "unsupported_parameter"),
        (dict(tools=[weather], tool_choice="required"), "tools", "unsupported_parameter"),
        (dict(response_format={"type": "json_object"}), "response_format", "unsupported_parameter"),
        (dict(stop=["\n"]), "stop", "unsupported_parameter"),
        (dict(n=2), "n", "unsupported_parameter"),
        (dict(logprobs=True, top_logprobs=2), "logprobs", "unsupported_parameter"),
        (dict(top_p=0.5), "top_p", "unsupported_parameter"),
        (dict(extra_body={"frobnicate": True}), "frobnicate", "unknown_parameter"),
    ]
    for kwargs, param, code in refused:
        for stream in (False, True):
            with pytest.raises(openai.BadRequestError) as e:
                c.chat.completions.create(model=LOCAL, messages=user, stream=stream, **kwargs)
            assert e.value.param == param and e.value.code == code, (kwargs, e.value.body)
            assert e.value.type == "invalid_request_error" and param in e.value.message
    image = [{"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                          {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model=LOCAL, messages=image)
    assert e.value.param == "messages" and "image_url" in e.value.message
    assert len(aiond.request("GET", "/v1/tasks").json["items"]) == 0  # nothing ran, nothing stored
    # At their defaults they are honoured.
    r = c.chat.completions.create(model=LOCAL, messages=[{"role": "user", "content": TEXT}], n=1, seed=7,
                                  logprobs=False, user="end-user-1", response_format={"type": "text"},
                                  metadata={"team": "search"})
    assert r.choices[0].message.content and len(r.choices) == 1


def test_a_fallback_is_visible_in_the_response(make_aiond, fake):
    """openai fails (1 try + 2 retries), ollama answers: the answer names both, plain and streamed."""
    from conftest import openai_env
    a = make_aiond(openai_env(fake, OLLAMA_HOST=fake.url)).start()
    c = client(a)
    user = [{"role": "user", "content": "hello big world"}]
    fake.script({"status": 500}, {"status": 502}, {"status": 503})
    r = c.chat.completions.with_raw_response.create(model="auto", messages=user)
    assert r.headers["x-aion-route"] == "model:ollama-default"
    assert r.headers["x-aion-fallback-from"] == "model:gpt-4o-mini"
    assert r.parse().choices[0].message.content == "echo: hello big world"
    fake.script({"status": 500}, {"status": 502}, {"status": 503})
    with c.chat.completions.with_streaming_response.create(model="auto", messages=user, stream=True) as s:
        assert s.headers["x-aion-route"] == "model:ollama-default"  # the head waits for the first token
        assert s.headers["x-aion-fallback-from"] == "model:gpt-4o-mini"
        text = "".join(ch.choices[0].delta.content or "" for ch in s.parse() if ch.choices)
    assert text == "echo: hello big world"
    # six failures opened openai's circuit: the plan now skips it, which is no fallback
    plain = c.chat.completions.with_raw_response.create(model="auto", messages=user)
    assert "x-aion-fallback-from" not in plain.headers and plain.headers["x-aion-route"] == "model:ollama-default"


def test_a_stream_cut_upstream_raises_in_the_sdk_not_a_clean_finish(make_aiond, fake):
    from conftest import openai_env
    a = make_aiond(openai_env(fake)).start()
    fake.script({"cut_after_chunks": 2})
    got = []
    with pytest.raises(openai.APIError) as e:
        for ch in client(a).chat.completions.create(model="gpt-4o-mini", stream=True,
                                                    messages=[{"role": "user", "content": "hello big world"}]):
            got.extend(c.delta.content or "" for c in ch.choices)
    assert "".join(got) == "echo: hello "  # what arrived before the cut, then the error
    assert "cut" in str(e.value) and e.value.code == "provider_error"


def test_an_upstream_refusal_before_the_first_token_is_an_http_error_even_streamed(make_aiond, fake):
    from conftest import openai_env
    a = make_aiond(openai_env(fake)).start()
    for stream in (False, True):
        fake.script({"status": 429, "retry_after": 1}, {"status": 429, "retry_after": 1},
                    {"status": 429, "retry_after": 1})  # more than aiond's own retries
        with pytest.raises(openai.RateLimitError) as e:
            client(a).chat.completions.create(model="gpt-4o-mini", stream=stream,
                                              messages=[{"role": "user", "content": "hi"}])
        assert e.value.response.headers["retry-after"] == "1"
        assert e.value.response.headers["x-request-id"]


def test_the_sdk_honours_retry_after_from_aionos(make_aiond, fake):
    """An upstream 429 outlasting aiond's retries reaches the SDK with Retry-After; the SDK waits
    and retries, and the retry is answered."""
    from conftest import openai_env
    a = make_aiond(openai_env(fake)).start()
    fake.script(*[{"status": 429, "retry_after": 1}] * 3)
    c = openai.OpenAI(base_url=f"http://127.0.0.1:{a.gw_port}/v1", api_key="demo-key", max_retries=1, timeout=30)
    r = c.chat.completions.with_raw_response.create(model="gpt-4o-mini",
                                                    messages=[{"role": "user", "content": "hello big world"}])
    assert r.retries_taken == 1 and r.parse().choices[0].message.content == "echo: hello big world"
    times = [q["time"] for q in fake.chat_requests()]
    assert len(times) == 4 and times[3] - times[2] >= 0.95  # the SDK waited as told


def test_an_oversized_body_is_a_413_in_openais_shape(aiond):
    with pytest.raises(openai.APIStatusError) as e:
        client(aiond).chat.completions.create(model=LOCAL, messages=[{"role": "user", "content": "x" * 2_000_000}])
    assert e.value.status_code == 413 and e.value.code == "payload_too_large"
    assert e.value.type == "invalid_request_error" and e.value.response.headers["x-request-id"]
    assert len(aiond.request("GET", "/v1/tasks").json["items"]) == 0  # nothing stored
