"""The local embedding module (issue 17): `POST /v1/embeddings` with model "module:embed",
driven by the official openai Python SDK through a real aiond. The module is a lexical hashed
embedding (modules/README.md), named explicitly; it never stands in for a provider's model."""
import math

import openai
import pytest

from test_openai import client

EMBED = "module:embed"
DIMS = 256

CAT = "the cat sat on the mat"
NEAR = "a cat on a mat"
FAR = "quarterly revenue grew"


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def norm(v):
    return math.sqrt(sum(x * x for x in v))


def tokens(text):
    """The module's estimate: UTF-8 bytes / 4, rounded up, at least 1 per input."""
    return max(1, -(-len(text.encode()) // 4))


def test_listed_as_a_model_of_the_embed_intent(aiond):
    models = {m.id: m for m in client(aiond).models.list()}
    m = models[EMBED]
    assert m.owned_by == "aionos"
    assert m.model_extra["aion"]["intent"] == "embed" and m.model_extra["aion"]["route"] == EMBED
    assert client(aiond).models.retrieve(EMBED).id == EMBED
    with pytest.raises(openai.BadRequestError) as e:  # an embedding module cannot chat
        client(aiond).chat.completions.create(model=EMBED, messages=[{"role": "user", "content": "x"}])
    assert e.value.body["param"] == "model"


def test_embeddings_float_and_base64(aiond):
    c = client(aiond)
    texts = [CAT, NEAR, FAR, "北京 café naïve 😀", "!!!"]
    r = c.embeddings.with_raw_response.create(model=EMBED, input=texts)  # base64: the SDK's default
    assert r.headers["x-aion-route"] == EMBED and r.headers["x-aion-cost-usd"] == "0"
    emb = r.parse()
    assert emb.model == EMBED and [d.index for d in emb.data] == list(range(len(texts)))
    vecs = [d.embedding for d in emb.data]
    for v in vecs:
        assert len(v) == DIMS and norm(v) == pytest.approx(1.0, abs=1e-5)
    assert emb.usage.prompt_tokens == sum(tokens(t) for t in texts) > 0
    assert emb.usage.total_tokens == emb.usage.prompt_tokens

    floats = c.embeddings.create(model=EMBED, input=texts, encoding_format="float")
    for a, b in zip(floats.data, vecs):  # float32 on the wire vs the float32's shortest decimal
        assert a.embedding == pytest.approx(b, abs=1e-7)
    # deterministic across calls, and a text's vector does not depend on its batch
    again = c.embeddings.create(model=EMBED, input=texts, encoding_format="float")
    assert [d.embedding for d in again.data] == [d.embedding for d in floats.data]
    alone = c.embeddings.create(model=EMBED, input=FAR, encoding_format="float")
    assert alone.data[0].embedding == floats.data[2].embedding
    assert alone.usage.prompt_tokens == tokens(FAR)

    # lexical similarity: shared words score higher than unrelated text
    cat, near, far = vecs[0], vecs[1], vecs[2]
    assert cosine(cat, near) > cosine(cat, far) + 0.3, (cosine(cat, near), cosine(cat, far))
    assert abs(cosine(cat, far)) < 0.2

    # an ordinary task: visible, routed to the module, free
    task = aiond.request("GET", f"/v1/tasks/{r.headers['x-aion-task-id']}").json
    assert task["intent"] == "embed" and task["status"] == "succeeded", task
    assert task["route"]["primary"]["kind"] == "module" and task["route"]["primary"]["target"] == "embed"
    assert task["cost"]["usd"] == 0
    assert task["result"]["model"] == "aion-hash-embed-256"
    assert task["result"]["usage"] == {"promptTokens": emb.usage.prompt_tokens, "completionTokens": 0,
                                       "totalTokens": emb.usage.prompt_tokens, "estimated": True}
    assert len(task["result"]["embeddings"]) == len(texts)


def test_only_when_named(aiond):
    """No provider is configured here: `auto-embed` and a plain embed task fail with no_route
    and say why; the module is never a silent stand-in for an embedding model."""
    c = client(aiond)
    with pytest.raises(openai.InternalServerError) as e:
        c.embeddings.create(model="auto-embed", input="x")
    assert e.value.status_code == 503 and "OPENAI_API_KEY is not set" in e.value.message, e.value.message
    r = aiond.submit("embed", {"input": "x"})
    assert r.status == 422 and r.json["error"]["code"] == "no_route", r
    assert "serves only requests that name it ('module:embed')" in r.raw.decode()


def test_bad_input_is_refused_naming_input(aiond):
    c = client(aiond)
    for bad in ["", [], [CAT] * 257, [[1, 2, 3]], [1, 2, 3], [CAT, ""]]:
        with pytest.raises(openai.BadRequestError) as e:
            c.embeddings.create(model=EMBED, input=bad)
        assert e.value.body["param"] == "input", (bad, e.value.body)
    # a text past the module's limit reaches the module, which refuses it (invalid_params)
    with pytest.raises(openai.BadRequestError) as e:
        c.embeddings.create(model=EMBED, input=[CAT, "x" * 100_001])
    assert "'input[1]' has 100001 characters; at most 100000" in e.value.message, e.value.message
    # the REST task API checks the intent's schema first
    r = aiond.submit("embed", {"input": ["a", 5]})
    assert r.status == 422 and r.json["error"]["code"] == "invalid_params", r
    assert "input[1]" in r.json["error"]["message"]


def test_largest_call_fits_the_module_limits(make_aiond):
    """2 million characters (the module's cap per call) run within its fuel, memory and time
    limits; one character more is refused by the module with a clear message."""
    a = make_aiond(env={"AION_MAX_BODY_BYTES": str(8 << 20)}).start()
    c = client(a)
    words = " ".join(f"w{i % 9973}x{i % 31}" for i in range(20_000))[:100_000]
    r = c.embeddings.with_raw_response.create(model=EMBED, input=[words] * 20, encoding_format="float")
    emb = r.parse()
    assert len(emb.data) == 20 and all(norm(d.embedding) == pytest.approx(1.0, abs=1e-5) for d in emb.data)
    assert emb.usage.prompt_tokens == 20 * tokens(words)
    with pytest.raises(openai.BadRequestError) as e:
        c.embeddings.create(model=EMBED, input=[words] * 20 + ["x"])
    assert "'input' totals 2000001 characters; at most 2000000" in e.value.message, e.value.message
