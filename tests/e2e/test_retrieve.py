"""Retrieval (docs/retrieval.md): collections of documents on the control plane,
the `retrieve` intent and chat with params.context, on both vector engines —
the in-process index (the embedded default) and Qdrant's REST API
(AION_CONTROL_QDRANT_URL). No Qdrant server can be installed on these
machines: the Qdrant runs talk to tests/e2e/qdrant_standin.py, a loopback
stand-in speaking Qdrant's REST API (collections, upsert, search, errors).

Also runs the VectorIndex conformance suite (tests/unit/
vector_index_conformance_test.cpp) against the stand-in."""
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import free_port, openai_env
from qdrant_standin import QdrantStandin

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("AION_BUILD_DIR", REPO / "build"))
SUITE = BUILD / "tests" / "unit" / "unit_vector_conformance"

DOCS = [
    {"id": "kitchen", "text": "The kitchen sink drains slowly. Pour baking soda and vinegar into the "
                              "drain, wait ten minutes, then flush the pipe with hot water.",
     "metadata": {"topic": "plumbing"}},
    {"id": "garden", "text": "Tomato plants need full sun, deep watering twice a week and a stake "
                             "to climb. Pinch the side shoots of the tomato plants.",
     "metadata": {"topic": "garden"}},
    {"id": "bike", "text": "To fix a flat bicycle tyre, remove the wheel, find the puncture in the "
                           "inner tube, patch it and pump the tyre to the pressure on its sidewall."},
]


@pytest.fixture
def standin():
    s = QdrantStandin().start()
    yield s
    s.stop()
    assert not s.errors, s.errors


@pytest.fixture(params=["in-process", "qdrant"])
def engine(request):
    """Environment for aiond on each vector engine, and the stand-in when there is one."""
    if request.param == "in-process":
        yield {}, None
        return
    s = QdrantStandin().start()
    yield {"AION_CONTROL_QDRANT_URL": s.url}, s
    s.stop()
    assert not s.errors, s.errors


def index(a, name, docs, key="demo-key", headers=None, gateway=False):
    """On the control role's port, or the gateway's (test_collections_gateway.py)."""
    send = a.request if gateway else a.control
    return send("POST", f"/v1/collections/{name}/documents", {"documents": docs}, key=key, headers=headers)


def collections(a, key="demo-key", headers=None, gateway=False):
    r = (a.request if gateway else a.control)("GET", "/v1/collections", key=key, headers=headers)
    assert r.status == 200, r
    return {c["name"]: c for c in r.json["items"]}


def retrieve(a, collection, query, key="demo-key", top_k=None, headers=None):
    params = {"collection": collection, "query": query}
    if top_k is not None:
        params["top_k"] = top_k
    body = {"intent": "retrieve", "params": params}
    r = a.request("POST", "/v1/tasks", body, key=key, headers=headers)
    assert r.status == 202, r
    return a.wait(r.json["taskId"], key=key)


# ---- the suite against the stand-in --------------------------------------------------

def run_suite(env, gtest_filter="*"):
    assert SUITE.exists(), f"{SUITE} missing: build first (scripts/build.sh)"
    return subprocess.run([str(SUITE), f"--gtest_filter={gtest_filter}", "--gtest_color=no"],
                          env=dict(os.environ, **env), capture_output=True, text=True, timeout=300)


def test_conformance_suite_passes_against_the_qdrant_standin(standin):
    r = run_suite({"AION_TEST_QDRANT_URL": standin.url}, "VectorIndexConformance/*")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    assert "[  SKIPPED ]" not in out, out[-6000:]
    assert "VectorIndexConformance/Qdrant." in out and "VectorIndexConformance/InProcess." in out
    passed = re.search(r"\[  PASSED  \] (\d+) tests?", out)
    assert passed and int(passed.group(1)) >= 20, out[-3000:]
    # The suite cleans up after itself.
    assert standin.collections == {}


def test_conformance_suite_sends_the_api_key():
    s = QdrantStandin(api_key="qd-secret").start()
    try:
        r = run_suite({"AION_TEST_QDRANT_URL": s.url, "AION_TEST_QDRANT_API_KEY": "qd-secret"},
                      "VectorIndexConformance/Qdrant.*")
        assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
        assert all(h.get("api-key") == "qd-secret" for _, _, h, _ in s.requests)
    finally:
        s.stop()


# ---- aiond on each engine --------------------------------------------------------------

def test_index_then_retrieve_the_right_document(make_aiond, engine):
    env, s = engine
    a = make_aiond(env).start()
    r = index(a, "howto", DOCS)
    assert r.status == 200, r
    assert r.json["chunks"] == 3 and r.json["documents"] == ["kitchen", "garden", "bike"]
    assert r.json["dim"] == 256 and r.json["embedModule"] == "embed"
    assert r.json["engine"] == ("qdrant" if s else "in-process")
    cs = collections(a)
    assert cs["howto"]["chunks"] == 3 and cs["howto"]["dim"] == 256

    t = retrieve(a, "howto", "how do I patch a flat tyre on my bicycle?", top_k=2)
    assert t["status"] == "succeeded", t
    res = t["result"]
    assert [m["docId"] for m in res["matches"]][0] == "bike"
    assert len(res["matches"]) == 2
    assert res["matches"][0]["score"] > res["matches"][1]["score"] > -1
    assert "inner tube" in res["matches"][0]["text"]
    assert t["route"]["primary"]["target"] == "embed"

    t = retrieve(a, "howto", "tomato plants in the sun")
    top = t["result"]["matches"][0]
    assert top["docId"] == "garden" and top["metadata"] == {"topic": "garden"}
    assert len(t["result"]["matches"]) == 3  # top_k defaults to 5: every chunk there is
    m = a.control("GET", "/metrics").raw.decode()
    eng = "qdrant" if s else "in-process"
    assert f'aion_vector_requests_total{{engine="{eng}",op="search",outcome="ok"}} 2' in m
    assert f'aion_vector_request_duration_seconds_count{{engine="{eng}",op="upsert"}} 1' in m
    if s:  # the vectors really are in (the stand-in of) Qdrant
        names = list(s.collections)
        assert len(names) == 1 and names[0].endswith("-howto")
        assert len(s.collections[names[0]].points) == 3


def test_reindexing_a_document_replaces_its_chunks(make_aiond, engine):
    env, _ = engine
    a = make_aiond(env).start()
    long_text = " ".join(f"sentence {i} about pipes and drains." for i in range(200))  # > 1000 bytes
    r = index(a, "docs", [{"id": "long", "text": long_text}])
    assert r.status == 200 and r.json["chunks"] > 3, r
    assert index(a, "docs", [{"id": "long", "text": "now a short note about bicycles"}]).status == 200
    assert collections(a)["docs"]["chunks"] == 1
    t = retrieve(a, "docs", "pipes and drains")
    assert [m["text"] for m in t["result"]["matches"]] == ["now a short note about bicycles"]


def test_chat_with_context_reaches_the_provider(make_aiond, engine, fake):
    env, _ = engine
    a = make_aiond({**env, **openai_env(fake)}).start()
    assert index(a, "howto", DOCS).status == 200
    body = {"intent": "chat", "params": {
        "messages": [{"role": "user", "content": "My kitchen sink drains slowly, what should I pour in the drain?"}],
        "context": {"collection": "howto", "top_k": 2}}}
    r = a.request("POST", "/v1/tasks", body)
    assert r.status == 202, r
    t = a.wait(r.json["taskId"])
    assert t["status"] == "succeeded", t
    used = t["result"]["context"]
    assert used["collection"] == "howto" and used["matches"][0]["docId"] == "kitchen"
    assert len(used["matches"]) == 2
    # The provider saw the retrieved text before the question, as a system message.
    sent = fake.chat_requests()[-1]["json"]
    assert sent["messages"][0]["role"] == "system"
    assert "baking soda and vinegar" in sent["messages"][0]["content"]
    assert "(document kitchen)" in sent["messages"][0]["content"]
    assert sent["messages"][-1]["content"].startswith("My kitchen sink")
    assert "context" not in sent  # the parameter itself is not forwarded
    events, _, _ = a.sse(t["taskId"])
    ctx = [e for e in events if e["event"] == "context"]
    assert len(ctx) == 1 and ctx[0]["json"]["data"]["matches"][0]["docId"] == "kitchen"

    # text instead of messages: the context goes before it.
    r = a.submit("chat", {"text": "flat bicycle tyre", "context": {"collection": "howto", "top_k": 1}})
    t = a.wait(r.json["taskId"])
    assert t["status"] == "succeeded", t
    sent = fake.chat_requests()[-1]["json"]
    assert "inner tube" in json.dumps(sent["messages"])

    # A context from a collection that does not exist fails the task, before any provider call.
    n = len(fake.chat_requests())
    r = a.submit("chat", {"text": "hi", "context": {"collection": "missing"}})
    t = a.wait(r.json["taskId"])
    assert t["status"] == "failed" and t["error"]["code"] == "invalid_params", t
    assert "'missing' does not exist" in t["error"]["message"]
    assert len(fake.chat_requests()) == n


def test_tenants_are_isolated(make_aiond, engine, fake):
    env, s = engine
    a = make_aiond({**env, **openai_env(fake), "TENANCY_MODE": "multi",
                    "AION_GATEWAY_API_KEYS": "acme-key:user:acme,globex-key:user:globex,"
                                             "globex-mgr:manager:globex,root:admin"}).start()
    assert index(a, "docs", DOCS, key="acme-key").status == 200
    assert collections(a, key="globex-key") == {}
    assert "docs" in collections(a, key="acme-key")
    assert collections(a, key="root", headers={"X-Tenant-Id": "acme"}).keys() == {"docs"}
    t = retrieve(a, "docs", "tomato", key="globex-key")
    assert t["status"] == "failed" and t["error"]["code"] == "invalid_params", t
    # Globex's own "docs" is another collection.
    assert index(a, "docs", [{"id": "g", "text": "globex quarterly tomato numbers"}], key="globex-key").status == 200
    t = retrieve(a, "docs", "tomato", key="globex-key")
    assert [m["docId"] for m in t["result"]["matches"]] == ["g"]
    t = retrieve(a, "docs", "tomato", key="acme-key")
    assert "g" not in [m["docId"] for m in t["result"]["matches"]]
    # Users may not delete; a manager deletes their own tenant's only.
    assert a.control("DELETE", "/v1/collections/docs", key="globex-key").status == 403
    assert a.control("DELETE", "/v1/collections/docs", key="globex-mgr").status == 200
    assert a.control("DELETE", "/v1/collections/docs", key="globex-mgr").status == 404
    assert collections(a, key="acme-key")["docs"]["chunks"] == 3
    # Chat context is the caller's tenant's too.
    r = a.submit("chat", {"text": "tomato", "context": {"collection": "docs"}}, key="globex-key")
    t = a.wait(r.json["taskId"], key="globex-key")
    assert t["status"] == "failed" and "does not exist" in t["error"]["message"]
    if s:
        assert all("tenant" in json.dumps(p) for c in s.collections.values() for p in c.points.values())


def test_hostile_and_malformed_input_is_refused_and_changes_nothing(make_aiond, engine):
    env, s = engine
    a = make_aiond({**env, "AION_MAX_BODY_BYTES": str(256 * 1024)}).start()
    assert index(a, "docs", DOCS).status == 200
    before = collections(a)

    def post(name, body, key="demo-key", raw=None):
        path = f"/v1/collections/{name}/documents"
        if raw is not None:
            return a.control("POST", path, raw, key=key, headers={"Content-Type": "application/json"})
        return a.control("POST", path, body, key=key)

    ok_doc = [{"id": "x", "text": "fine"}]
    cases = [
        (post("Docs", {"documents": ok_doc}), 400, "collection name"),
        (post("a" * 65, {"documents": ok_doc}), 400, "collection name"),
        (post("..", {"documents": ok_doc}), 400, None),
        (post("docs%2F..", {"documents": ok_doc}), 400, None),
        (post("docs", None, raw="{not json"), 400, "malformed JSON"),
        (post("docs", None, raw="[" * 10000), 400, "nested deeper"),
        (post("docs", {"documents": "x"}), 400, "non-empty array"),
        (post("docs", {"documents": []}), 400, "non-empty array"),
        (post("docs", {"documents": ok_doc, "extra": 1}), 400, "unknown field"),
        (post("docs", {"documents": [{"id": "../../etc", "text": "t"}]}), 400, ".id must be"),
        (post("docs", {"documents": [{"id": "x", "text": 7}]}), 400, ".text must be a string"),
        (post("docs", {"documents": [{"id": "x", "text": "t", "metadata": [1]}]}), 400, "metadata"),
        (post("docs", {"documents": [{"id": "x", "text": "t", "metadata": {"k": "v" * 5000}}]}), 413, "metadata"),
        (post("docs", {"documents": [{"id": f"d{i}", "text": "t"} for i in range(101)]}), 413, "at most 100"),
        (post("docs", {"documents": [{"id": "x", "text": "w " * 30000}]}), 413, "at most 50000"),
        (post("docs", {"documents": [{"id": "x", "text": "w" * 300000}]}), 413, None),  # the body limit
        (post("docs", {"documents": [{"id": "x", "text": "   "}]}), 422, "is empty"),
        (post("docs", {"documents": [{"id": "x", "text": "a"}, {"id": "x", "text": "b"}]}), 422, "twice"),
        (post("docs", {"documents": ok_doc}, key="viewer-key"), 403, None),
        (post("docs", {"documents": ok_doc}, key="nope"), 401, None),
        (post("docs", {"documents": ok_doc}, key=None), 401, None),
    ]
    for r, status, words in cases:
        assert r.status == status, r
        assert r.json and r.json["error"]["code"] and r.json["requestId"], r
        if words:
            assert words in r.json["error"]["message"], r
    assert a.control("DELETE", "/v1/collections/Bad!").status in (400, 404)
    assert a.control("DELETE", "/v1/collections/docs", key="user-key").status == 403
    assert a.control("DELETE", "/v1/collections/nothere").status == 404
    # The retrieve intent's params are checked at submission (422, nothing stored) ...
    for params in ({"collection": "docs"}, {"collection": "docs", "query": "q", "top_k": 0},
                   {"collection": "docs", "query": "q", "top_k": 51}, {"collection": "docs", "query": ""},
                   {"collection": "docs", "query": "q", "other": 1}):
        r = a.submit("retrieve", params)
        assert r.status == 422 and r.json["error"]["code"] == "invalid_params", (params, r)
    # ... and a bad collection name fails the task, saying why.
    t = retrieve(a, "no/such", "q")
    assert t["status"] == "failed" and t["error"]["code"] == "invalid_params"
    assert collections(a) == before
    if s:
        assert len(s.collections) == 1


def test_qdrant_unreachable_or_malformed_fails_start_up_with_one_line(make_aiond):
    port = free_port()
    for i, (env, words) in enumerate([
        ({"AION_CONTROL_QDRANT_URL": f"http://127.0.0.1:{port}"}, "AION_CONTROL_QDRANT_URL: qdrant at"),
        ({"AION_CONTROL_QDRANT_URL": "somewhere:6333"}, "AION_CONTROL_QDRANT_URL: must be http(s)://"),
        ({"AION_CONTROL_QDRANT_URL": "http://"}, "AION_CONTROL_QDRANT_URL: must be http(s)://"),
        ({"AION_CONTROL_QDRANT_API_KEY": "k"}, "AION_CONTROL_QDRANT_API_KEY: set only with"),
    ]):
        a = make_aiond(env, subdir=f"n{i}")
        with pytest.raises(RuntimeError) as e:
            a.start(timeout=15)
        text = str(e.value)
        assert words in text, text
        lines = [l for l in a.log_path.read_text().splitlines() if "AION_CONTROL_QDRANT" in l]
        assert len(lines) == 1, lines
        assert a.proc.wait(5) != 0


def test_qdrant_api_key_is_sent_and_a_wrong_one_stops_start_up(make_aiond):
    s = QdrantStandin(api_key="qd-secret").start()
    try:
        a = make_aiond({"AION_CONTROL_QDRANT_URL": s.url, "AION_CONTROL_QDRANT_API_KEY": "qd-secret"}).start()
        assert index(a, "docs", DOCS).status == 200
        assert retrieve(a, "docs", "tomato")["result"]["matches"][0]["docId"] == "garden"
        assert s.requests and all(h.get("api-key") == "qd-secret" for _, _, h, _ in s.requests)
        a.stop()
        assert "qd-secret" not in a.log_path.read_text()
        b = make_aiond({"AION_CONTROL_QDRANT_URL": s.url, "AION_CONTROL_QDRANT_API_KEY": "wrong-key"},
                       subdir="wrong")
        with pytest.raises(RuntimeError) as e:
            b.start(timeout=15)
        assert "AION_CONTROL_QDRANT_URL" in str(e.value) and "api key" in str(e.value)
        assert "wrong-key" not in str(e.value)
    finally:
        s.stop()


def test_vectors_survive_restarts_and_kill_9_on_both_engines(make_aiond, engine):
    env, _ = engine
    a = make_aiond(env).start()
    assert index(a, "docs", DOCS).status == 200
    assert index(a, "docs", [{"id": "garden", "text": "now about roses and tulips only"}]).status == 200
    assert index(a, "other", DOCS[:1]).status == 200
    assert a.control("DELETE", "/v1/collections/other").status == 200
    a.stop()
    a.start()
    assert retrieve(a, "docs", "bicycle tyre")["result"]["matches"][0]["docId"] == "bike"
    assert collections(a).keys() == {"docs"} and collections(a)["docs"]["chunks"] == 3
    # Acknowledged is durable: a kill -9 right after the answer loses nothing.
    assert index(a, "docs", [{"id": "late", "text": "a late note about sailing boats"}]).status == 200
    a.kill9()
    a.start()
    t = retrieve(a, "docs", "roses and tulips")
    assert t["result"]["matches"][0]["docId"] == "garden"
    assert "tomato" not in t["result"]["matches"][0]["text"]  # the replaced text is gone
    assert retrieve(a, "docs", "sailing boats")["result"]["matches"][0]["docId"] == "late"


def test_an_unreadable_vector_folder_stops_start_up_naming_the_variable(make_aiond):
    a = make_aiond()
    a.data_dir.mkdir(parents=True, exist_ok=True)
    (a.data_dir / "vectors").write_text("a file where the folder should be")
    with pytest.raises(RuntimeError) as e:
        a.start(timeout=15)
    assert "AION_DATA_DIR" in str(e.value) and "vectors" in str(e.value)


def test_qdrant_going_away_later_fails_requests_with_503_not_a_fake_answer(make_aiond):
    s = QdrantStandin().start()
    a = make_aiond({"AION_CONTROL_QDRANT_URL": s.url}).start()
    assert index(a, "docs", DOCS).status == 200
    s.stop()
    r = index(a, "docs", DOCS)
    assert r.status == 503 and "qdrant at" in r.json["error"]["message"], r
    assert a.control("GET", "/v1/collections").status == 503
    t = retrieve(a, "docs", "tomato")
    assert t["status"] == "failed" and t["error"]["code"] == "unavailable", t


def test_retrieval_works_with_the_roles_apart(make_node):
    """Collections live on the control role; the embedding runs where modules run
    (in-process, or on the module host with --role modhost)."""
    a = make_node().start()
    r = index(a, "howto", DOCS)
    assert r.status == 200, r
    t = retrieve(a, "howto", "flat bicycle tyre")
    assert t["status"] == "succeeded", t
    assert t["result"]["matches"][0]["docId"] == "bike"


def test_indexing_at_once_is_bounded_with_503_and_retry_after(make_aiond):
    """Embedding shares the module pool with tasks: beyond 4 indexing requests at once the
    answer is 503 with Retry-After, not an unbounded queue."""
    import threading
    a = make_aiond({"AION_MAX_BODY_BYTES": str(8 << 20)}).start()
    text = " ".join(f"word{i} alpha beta gamma" for i in range(2000))[:50000]
    docs = [{"id": f"d{i}", "text": text} for i in range(100)]
    results = []

    def send(n):
        results.append(index(a, f"bulk{n}", docs))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    statuses = sorted(r.status for r in results)
    assert set(statuses) <= {200, 503} and 200 in statuses and 503 in statuses, statuses
    for r in results:
        if r.status == 503:
            assert r.headers.get("retry-after") == "1" and "too many indexing" in r.json["error"]["message"]
    assert len(collections(a)) == statuses.count(200)
