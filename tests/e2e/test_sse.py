"""SSE: before, during and after completion; Last-Event-ID resume; heartbeats."""
import threading
import time


def types(events):
    return [(e["event"], e["json"]["data"].get("status")) for e in events]


def test_stream_after_completion_replays_everything(aiond):
    tid = aiond.submit("summarize", {"text": "One. Two. Three."}).json["taskId"]
    aiond.wait(tid)
    events, _, headers = aiond.sse(tid)
    assert headers["content-type"] == "text/event-stream"
    assert [int(e["id"]) for e in events] == list(range(1, len(events) + 1))
    assert types(events)[0] == ("status", "queued")
    assert events[1]["event"] == "route"
    assert events[1]["json"]["data"]["plan"]["primary"]["target"] == "summarize"
    assert ("status", "running") in types(events)
    assert events[-2]["event"] == "result" and "summary" in events[-2]["json"]["data"]["result"]
    assert events[-1]["event"] == "done" and events[-1]["json"]["data"]["status"] == "succeeded"
    for e in events:
        assert e["json"]["taskId"] == tid and e["json"]["seq"] == int(e["id"])


def test_stream_resumes_after_last_event_id(aiond):
    tid = aiond.submit("summarize", {"text": "Alpha. Beta."}).json["taskId"]
    aiond.wait(tid)
    full, _, _ = aiond.sse(tid)
    rest, _, _ = aiond.sse(tid, last_event_id=2)
    assert [e["id"] for e in rest] == [e["id"] for e in full[2:]]
    none, _, _ = aiond.sse(tid, last_event_id=len(full))
    assert none == []  # nothing after the final event; the stream just ends
    status, body, _ = aiond.sse(tid, last_event_id="abc")
    assert status == 400


def test_stream_opened_before_start_follows_live_with_heartbeats(make_aiond):
    a = make_aiond({"AION_WORKERS": "1", "AION_SSE_HEARTBEAT_MS": "100"}).start()
    blocker = a.submit("spin", {"ms": 600}).json["taskId"]
    tid = a.submit("spin", {"ms": 300}).json["taskId"]
    assert a.request("GET", f"/v1/tasks/{tid}").json["status"] in ("queued", "routed")
    started = time.time()
    events, comments, _ = a.sse(tid)
    assert time.time() - started >= 0.5  # it really waited for the live task
    assert [e["event"] for e in events][-1] == "done"
    assert events[-1]["json"]["data"]["status"] == "succeeded"
    assert [int(e["id"]) for e in events] == list(range(1, len(events) + 1))
    assert any("keep-alive" in c for c in comments)
    assert a.wait(blocker)["status"] == "succeeded"


def test_many_concurrent_streams_all_see_the_same_events(make_aiond):
    a = make_aiond({"AION_WORKERS": "1"}).start()
    a.submit("spin", {"ms": 300})
    tid = a.submit("spin", {"ms": 100}).json["taskId"]
    results = [None] * 20

    def read(i):
        results[i] = a.sse(tid)[0]

    threads = [threading.Thread(target=read, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    ids = [[e["id"] for e in r] for r in results]
    assert all(x == ids[0] for x in ids) and ids[0], ids
    assert results[0][-1]["event"] == "done"


def test_failed_task_stream_ends_with_error_then_done(aiond):
    tid = aiond.submit("hostile", {"do": "trap"}).json["taskId"]
    events, _, _ = aiond.sse(tid)
    assert events[-2]["event"] == "error"
    assert events[-2]["json"]["data"]["error"]["code"] == "module_failed"
    assert events[-1]["json"]["data"]["status"] == "failed"


def test_stream_auth(aiond):
    tid = aiond.submit("summarize", {"text": "x."}).json["taskId"]
    assert aiond.sse(tid, key="nope")[0] == 401
    assert aiond.sse("tsk_missing")[0] == 404
