"""Task retention (AION_TASK_RETENTION_DAYS): finished tasks older than it go with their events;
recent tasks, running tasks and the spend stay. The PostgreSQL store and the document store pass the
same purge cases in their conformance suites (tests/unit/*conformance_test.cpp)."""
import sqlite3
import time

import pytest

DAY_MS = 86400000
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def id_created_at(ms, old_id):
    """old_id with its time part (the first 10 characters after tsk_) set to `ms`."""
    t, part = ms, ""
    for _ in range(10):
        part = CROCKFORD[t & 31] + part
        t >>= 5
    return "tsk_" + part + old_id[14:]


def age(data_dir, task_id, days):
    """Makes a stored task look created and finished `days` ago: a new id with that time, the
    same events. aiond must be stopped."""
    new_id = id_created_at(int(time.time() * 1000) - days * DAY_MS, task_id)
    then = int(time.time() * 1000) - days * DAY_MS
    db = sqlite3.connect(data_dir / "aion.db", isolation_level=None)
    db.execute("BEGIN")
    db.execute("UPDATE tasks SET id=?, created_ms=?, started_ms=?, finished_ms=? WHERE id=?",
               (new_id, then, then, then + 10, task_id))
    db.execute("UPDATE events SET task_id=? WHERE task_id=?", (new_id, task_id))
    db.execute("COMMIT")
    db.close()
    return new_id


def finished_tasks(a, n):
    ids = [a.submit("summarize", {"text": f"task {i} to keep or not"}).json["taskId"] for i in range(n)]
    for t in ids:
        assert a.wait(t)["status"] == "succeeded"
    return ids


def test_finished_tasks_older_than_the_retention_go_with_their_events(make_aiond):
    a = make_aiond().start()
    old1, old2, recent = finished_tasks(a, 3)
    a.stop()
    old1, old2 = age(a.data_dir, old1, 3), age(a.data_dir, old2, 2)

    a.start()  # no retention set: everything stays
    for t in (old1, old2, recent):
        assert a.request("GET", f"/v1/tasks/{t}").status == 200
    a.stop()

    a.extra_env.update({"AION_TASK_RETENTION_DAYS": "1", "AION_TASK_RETENTION_EVERY_MS": "1000"})
    a.start()
    deadline = time.time() + 30
    while time.time() < deadline and a.request("GET", f"/v1/tasks/{old2}").status == 200:
        time.sleep(0.2)
    for t in (old1, old2):
        assert a.request("GET", f"/v1/tasks/{t}").status == 404
        assert a.request("GET", f"/v1/tasks/{t}/events").status == 404
    kept = a.request("GET", f"/v1/tasks/{recent}")
    assert kept.status == 200 and kept.json["status"] == "succeeded"
    listed = {t["taskId"] for t in a.request("GET", "/v1/tasks?limit=100").json["items"]}
    assert recent in listed and not listed & {old1, old2}
    db = sqlite3.connect(a.data_dir / "aion.db")
    assert db.execute("SELECT COUNT(*) FROM events WHERE task_id IN (?,?)", (old1, old2)).fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM events WHERE task_id=?", (recent,)).fetchone()[0] > 0
    db.close()
    metrics = a.request("GET", "/metrics").raw.decode()
    assert "aion_store_tasks_purged_total 2" in metrics, [x for x in metrics.splitlines() if "purged" in x]
    assert "retention: deleted 2 finished task(s)" in a.log_path.read_text()
    # New tasks still run and stay.
    assert a.wait(a.submit("summarize", {"text": "after the purge"}).json["taskId"])["status"] == "succeeded"


@pytest.mark.parametrize("var, value", [("AION_TASK_RETENTION_DAYS", "-1"),
                                        ("AION_TASK_RETENTION_DAYS", "a week"),
                                        ("AION_TASK_RETENTION_EVERY_MS", "5")])
def test_a_bad_retention_stops_start_up_naming_the_variable(make_aiond, var, value):
    a = make_aiond({var: value})
    with pytest.raises(RuntimeError) as e:
        a.start(timeout=30)
    assert var in str(e.value)
