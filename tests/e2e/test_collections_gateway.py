"""Collections through the gateway (docs/retrieval.md#through-the-gateway): the
same POST /v1/collections/{name}/documents, GET /v1/collections and
DELETE /v1/collections/{name} as the control role's port, behind the gateway's
admission chain, in the embedded profile and with the roles apart (the
gateway reaching the control plane over aion.internal.v1.Control); and a
collection as context for the OpenAI-compatible API (`aion.context`, sent by
the official SDK with extra_body)."""
import functools
import json

import openai
import pytest

import test_retrieve
from conftest import Aiond, Split, openai_env
from test_retrieve import DOCS, retrieve

TENANT_KEYS = ("acme-key:user:acme,acme-viewer:viewer:acme,globex-key:user:globex,"
               "globex-mgr:manager:globex,root:admin")


@pytest.fixture(params=["embedded", "split"])
def make_profile(request, tmp_path):
    """aiond in the embedded profile, or a --role gateway in front of a --role control."""
    started = []

    def make(env=None, subdir="node"):
        tmp = tmp_path / subdir
        tmp.mkdir(parents=True, exist_ok=True)
        a = Aiond(tmp, env) if request.param == "embedded" else Split(tmp, env)
        started.append(a)
        return a

    yield make
    for a in started:
        a.stop()


# Everything here goes through the gateway's port.
index = functools.partial(test_retrieve.index, gateway=True)
collections = functools.partial(test_retrieve.collections, gateway=True)


def test_index_list_query_and_delete_through_the_gateway(make_node):
    """Every topology (embedded, split, split with the module host apart)."""
    a = make_node().start()
    r = index(a, "howto", DOCS)
    assert r.status == 200, r
    assert r.json["documents"] == ["kitchen", "garden", "bike"] and r.json["chunks"] == 3
    assert r.json["dim"] == 256 and r.json["engine"] == "in-process" and r.json["embedModule"] == "embed"
    assert collections(a)["howto"] == {"name": "howto", "dim": 256, "chunks": 3}
    # The control role's port serves the very same collections.
    assert a.control("GET", "/v1/collections").json["items"] == [{"name": "howto", "dim": 256, "chunks": 3}]
    t = retrieve(a, "howto", "flat bicycle tyre")
    assert t["status"] == "succeeded" and t["result"]["matches"][0]["docId"] == "bike", t
    r = a.request("DELETE", "/v1/collections/howto")
    assert r.status == 200 and r.json == {"status": "deleted", "collection": "howto"}, r
    assert collections(a) == {}
    r = a.request("DELETE", "/v1/collections/howto")
    assert r.status == 404 and r.json["error"]["code"] == "not_found", r


def test_roles_and_tenants_through_the_gateway(make_profile, fake):
    a = make_profile({"TENANCY_MODE": "multi", "AION_GATEWAY_API_KEYS": TENANT_KEYS, **openai_env(fake)}).start()
    assert index(a, "docs", DOCS, key="acme-key").status == 200
    # A viewer reads but does not write; a user writes but does not delete.
    assert collections(a, key="acme-viewer").keys() == {"docs"}
    r = index(a, "docs", DOCS[:1], key="acme-viewer")
    assert r.status == 403 and r.json["error"]["code"] == "forbidden", r
    assert "admin|manager|user" in r.json["error"]["message"]
    r = a.request("DELETE", "/v1/collections/docs", key="acme-key")
    assert r.status == 403 and "admin|manager" in r.json["error"]["message"], r
    # Another tenant sees nothing, cannot query, index into or delete acme's collection.
    assert collections(a, key="globex-key") == {}
    t = retrieve(a, "docs", "tomato", key="globex-key")
    assert t["status"] == "failed" and "does not exist" in t["error"]["message"], t
    assert a.request("DELETE", "/v1/collections/docs", key="globex-mgr").status == 404
    assert index(a, "docs", [{"id": "g", "text": "globex tomato figures"}], key="globex-key").status == 200
    assert collections(a, key="globex-key")["docs"]["chunks"] == 1
    assert collections(a, key="acme-key")["docs"]["chunks"] == 3
    t = retrieve(a, "docs", "tomato", key="acme-key")
    assert "g" not in [m["docId"] for m in t["result"]["matches"]]
    assert a.request("DELETE", "/v1/collections/docs", key="globex-mgr").status == 200
    assert collections(a, key="acme-key")["docs"]["chunks"] == 3
    # An admin may act for a tenant with X-Tenant-Id; a tenant key may not pick another tenant.
    assert collections(a, key="root", headers={"X-Tenant-Id": "acme"}).keys() == {"docs"}
    r = a.request("GET", "/v1/collections", key="globex-key", headers={"X-Tenant-Id": "acme"})
    assert r.status == 403, r
    # The OpenAI API's context is the caller's tenant's too: globex's chat cannot read acme's docs.
    c = openai.OpenAI(base_url=f"http://127.0.0.1:{a.gw_port}/v1", api_key="globex-key", max_retries=0)
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "tomato"}],
                                  extra_body={"aion": {"context": {"collection": "docs"}}})
    assert "does not exist" in e.value.message
    assert not any("Tomato plants" in json.dumps(q["json"]) for q in fake.chat_requests())


def bad_input_answers(a):
    """Every refused request of the collection endpoints, checked; returns (status, code, message) of each."""
    assert index(a, "docs", DOCS).status == 200
    before = collections(a)

    def post(name, body, key="demo-key", raw=None, query=""):
        path = f"/v1/collections/{name}/documents{query}"
        if raw is not None:
            return a.request("POST", path, raw, key=key, headers={"Content-Type": "application/json"})
        return a.request("POST", path, body, key=key)

    ok_doc = [{"id": "x", "text": "fine"}]
    cases = [
        (post("Docs", {"documents": ok_doc}), 400, "invalid_request", "collection name must match"),
        (post("a" * 65, {"documents": ok_doc}), 400, "invalid_request", "collection name"),
        (post("docs%2F..", {"documents": ok_doc}), 400, "invalid_request", None),
        (post("docs", {"documents": ok_doc}, query="?x=1"), 400, "invalid_request", "no query parameters"),
        (post("docs", None, raw="{not json"), 400, "invalid_request", "malformed JSON"),
        (post("docs", None, raw="[" * 10000), 400, "invalid_request", "nested deeper"),
        (post("docs", None, raw="[]"), 400, "invalid_request", "must be a JSON object"),
        (post("docs", {}), 400, "invalid_request", "non-empty array"),
        (post("docs", {"documents": []}), 400, "invalid_request", "non-empty array"),
        (post("docs", {"documents": ok_doc, "extra": 1}), 400, "invalid_request", "unknown field"),
        (post("docs", {"documents": [{"text": "t"}]}), 400, "invalid_request", ".id is required"),
        (post("docs", {"documents": [{"id": "x"}]}), 400, "invalid_request", ".text is required"),
        (post("docs", {"documents": [{"id": "../../etc", "text": "t"}]}), 400, "invalid_request", ".id must be"),
        (post("docs", {"documents": [{"id": "x", "text": 7}]}), 400, "invalid_request", ".text must be a string"),
        (post("docs", {"documents": [{"id": "x", "text": "a\u0000b"}]}), 400, "invalid_request", "NUL"),
        (post("docs", {"documents": [{"id": "x", "text": "t", "metadata": [1]}]}), 400, "invalid_request",
         "metadata"),
        (post("docs", {"documents": [{"id": "x", "text": "t", "metadata": {"k": "v" * 5000}}]}), 413,
         "payload_too_large", "metadata"),
        (post("docs", {"documents": [{"id": f"d{i}", "text": "t"} for i in range(101)]}), 413,
         "payload_too_large", "at most 100"),
        (post("docs", {"documents": [{"id": "x", "text": "w " * 30000}]}), 413, "payload_too_large",
         "at most 50000"),
        (post("docs", {"documents": [{"id": "x", "text": "w" * 300000}]}), 413, None, None),  # the body limit
        (post("docs", {"documents": [{"id": "x", "text": "   "}]}), 422, "invalid_params", "is empty"),
        (post("docs", {"documents": [{"id": "x", "text": "a"}, {"id": "x", "text": "b"}]}), 422,
         "invalid_params", "twice"),
        (post("docs", {"documents": ok_doc}, key="viewer-key"), 403, "forbidden", None),
        (post("docs", {"documents": ok_doc}, key="nope"), 401, "unauthenticated", None),
        (post("docs", {"documents": ok_doc}, key=None), 401, "unauthenticated", None),
        (a.request("DELETE", "/v1/collections/Bad!"), 400, "invalid_request", "collection name"),
        (a.request("DELETE", "/v1/collections/docs", key="user-key"), 403, "forbidden", None),
        (a.request("DELETE", "/v1/collections/nothere"), 404, "not_found", "'nothere' does not exist"),
        (a.request("GET", "/v1/collections", key="nope"), 401, "unauthenticated", None),
    ]
    answers = []
    for r, status, code, words in cases:
        assert r.status == status, r
        assert r.json and r.json["error"]["code"] and r.json["requestId"], r
        if code:
            assert r.json["error"]["code"] == code, r
        if words:
            assert words in r.json["error"]["message"], r
        answers.append((r.status, r.json["error"]["code"], r.json["error"]["message"]))
    assert collections(a) == before
    # The control role's port answers the same: one implementation behind both listeners.
    for i, path, body in [(0, "/v1/collections/Docs/documents", {"documents": ok_doc}),
                          (12, "/v1/collections/docs/documents", {"documents": [{"id": "../../etc", "text": "t"}]}),
                          (20, "/v1/collections/docs/documents", {"documents": [{"id": "x", "text": "   "}]})]:
        c = a.control("POST", path, body)
        assert (c.status, c.json["error"]["code"], c.json["error"]["message"]) == answers[i], (c, answers[i])
    return answers


def test_bad_input_is_refused_alike_embedded_and_split_and_changes_nothing(tmp_path):
    env = {"AION_MAX_BODY_BYTES": str(256 * 1024)}
    embedded, split = Aiond(tmp_path / "embedded", env), Split(tmp_path / "split", env)
    try:
        embedded.start()
        split.start()
        assert bad_input_answers(embedded) == bad_input_answers(split)
    finally:
        embedded.stop()
        split.stop()


def test_collection_requests_pass_the_admission_chain(make_profile):
    """Collection calls count against the per-key rate limit like any gateway request."""
    a = make_profile({"AION_RATE_LIMIT_MAX": "3", "AION_RATE_LIMIT_WINDOW_SEC": "60"}).start()
    statuses = [a.request("GET", "/v1/collections").status for _ in range(3)]
    assert statuses == [200, 200, 200]
    r = index(a, "docs", DOCS)
    assert r.status == 429 and r.json["error"]["code"] == "rate_limited", r
    assert r.headers["retry-after"] and r.headers["ratelimit-remaining"] == "0"
    assert collections(a, key="user-key") == {}  # refused before anything was indexed


def test_openai_sdk_chat_uses_a_collection_as_context(make_profile, fake):
    a = make_profile(openai_env(fake)).start()
    assert index(a, "howto", DOCS).status == 200
    c = openai.OpenAI(base_url=f"http://127.0.0.1:{a.gw_port}/v1", api_key="demo-key", max_retries=0, timeout=30)
    r = c.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "My kitchen sink drains slowly, what should I pour in?"}],
        extra_body={"aion": {"context": {"collection": "howto", "top_k": 2}}})
    assert r.choices[0].message.content.startswith("echo: My kitchen sink")
    # The provider got the retrieved chunks before the question, and not the extension itself.
    sent = fake.chat_requests()[-1]["json"]
    assert sent["messages"][0]["role"] == "system"
    assert "baking soda and vinegar" in sent["messages"][0]["content"]
    assert "(document kitchen)" in sent["messages"][0]["content"]
    assert sent["messages"][-1]["content"].startswith("My kitchen sink")
    assert "aion" not in sent and "context" not in sent
    # The answer says which documents it was given; so does the task.
    used = r.model_extra["aion"]["context"]
    assert used["collection"] == "howto" and [m["docId"] for m in used["matches"]][0] == "kitchen"
    assert len(used["matches"]) == 2
    t = a.request("GET", f"/v1/tasks/{r.id.removeprefix('chatcmpl-')}").json
    assert t["result"]["context"]["matches"] == used["matches"], t

    # Streaming, and an explicit query instead of the last user message.
    chunks = list(c.chat.completions.create(
        model="gpt-4o-mini", stream=True, messages=[{"role": "user", "content": "help"}],
        extra_body={"aion": {"context": {"collection": "howto", "top_k": 1, "query": "tomato plants"}}}))
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == "echo: help"
    sent = fake.chat_requests()[-1]["json"]
    assert "(document garden)" in sent["messages"][0]["content"]

    # The Responses API takes the same extension.
    resp = c.responses.create(model="gpt-4o-mini", input="flat bicycle tyre",
                              extra_body={"aion": {"context": {"collection": "howto", "top_k": 1}}})
    assert resp.model_extra["aion"]["context"]["matches"][0]["docId"] == "bike"
    assert "inner tube" in json.dumps(fake.chat_requests()[-1]["json"]["messages"])

    # Refused, naming the parameter, before any provider call.
    n = len(fake.chat_requests())
    msgs = [{"role": "user", "content": "x"}]
    for ext, words in [({"context": {"collection": "Bad/Name"}}, "collection name"),
                       ({"context": {"top_k": 2}}, "collection is required"),
                       ({"context": {"collection": "howto", "top_k": 21}}, "top_k"),
                       ({"context": {"collection": "howto", "extra": 1}}, "unknown"),
                       ({"contexts": {}}, "unknown"),
                       ("howto", "must be an object")]:
        with pytest.raises(openai.BadRequestError) as e:
            c.chat.completions.create(model="gpt-4o-mini", messages=msgs, extra_body={"aion": ext})
        assert e.value.body["param"] == "aion" and words in e.value.message, (ext, e.value.body)
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model="gpt-4o-mini", messages=msgs,
                                  extra_body={"aion": {"context": {"collection": "missing"}}})
    assert "'missing' does not exist" in e.value.message
    assert len(fake.chat_requests()) == n


def test_the_largest_request_indexes_through_a_split_gateway(tmp_path):
    """100 documents of 50 kB (the most one request may carry, about 5 MB) cross the internal
    gRPC API within its message limit and the indexing deadline."""
    s = Split(tmp_path / "split", {"AION_MAX_BODY_BYTES": str(8 << 20)})
    try:
        s.start()
        text = " ".join(f"word{i} alpha beta gamma" for i in range(2000))[:50000]
        docs = [{"id": f"d{i}", "text": text} for i in range(100)]
        r = index(s, "bulk", docs)
        assert r.status == 200, r
        assert len(r.json["documents"]) == 100 and r.json["chunks"] >= 5000, r.json["chunks"]
        assert collections(s)["bulk"]["chunks"] == r.json["chunks"]
    finally:
        s.stop()
