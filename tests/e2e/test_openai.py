"""The OpenAI-compatible facade, driven by the official openai Python SDK."""
import openai
import pytest

TEXT = ("The gateway authenticates every request. Policies decide where a task may run. "
        "Local modules run inside WebAssembly sandboxes with hard limits. "
        "Every state change is stored before it is acknowledged.")


def client(a, key="demo-key"):
    return openai.OpenAI(base_url=f"http://127.0.0.1:{a.gw_port}/v1", api_key=key, max_retries=0, timeout=30)


def test_chat_completion(aiond):
    r = client(aiond).chat.completions.create(
        model="chat", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": TEXT}])
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
        model="chat", stream=True, messages=[{"role": "user", "content": TEXT}])
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    full = client(aiond).chat.completions.create(model="chat", messages=[{"role": "user", "content": TEXT}])
    assert text == full.choices[0].message.content
    assert len([c for c in chunks if c.choices[0].delta.content]) > 1  # delivered as deltas


def test_models_and_bearer_auth(aiond):
    ids = [m.id for m in client(aiond).models.list()]
    assert ids == ["chat"]
    with pytest.raises(openai.AuthenticationError):
        client(aiond, key="wrong").models.list()
    with pytest.raises(openai.PermissionDeniedError):
        client(aiond, key="viewer-key").chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}])


def test_bad_requests_get_openai_errors(aiond):
    c = client(aiond)
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model="chat", messages=[])
    assert "messages" in str(e.value)
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(model="chat", messages=[{"role": "wizard", "content": "x"}])
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(model="chat", messages=[{"role": "system", "content": "only system"}])
    r = aiond.request("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]})
    assert r.status == 400 and r.json["error"]["type"] == "invalid_request_error" and "model" in r.json["error"]["message"]
    assert len(aiond.request("GET", "/v1/tasks").json["items"]) == 0  # nothing stored
