"""Start-up, configuration errors, health, metrics, and crash recovery."""
import subprocess
import time

from conftest import AIOND


def test_health_ready_and_metrics_on_both_ports(aiond):
    for port in (aiond.gw_port, aiond.ctl_port):
        assert aiond.request("GET", "/healthz", port=port, key=None).json == {"status": "ok"}
        r = aiond.request("GET", "/readyz", port=port, key=None)
        assert r.status == 200 and r.json["status"] == "ready" and r.json["checks"]["store"] == "ok"
    tid = aiond.submit("summarize", {"text": "Count me."}).json["taskId"]
    aiond.wait(tid)
    m = aiond.request("GET", "/metrics", key=None).raw.decode()
    assert 'aion_tasks_submitted_total{intent="summarize"} 1' in m
    assert 'aion_tasks_finished_total{intent="summarize",status="succeeded"} 1' in m
    assert "aion_module_call_duration_seconds_bucket" in m
    assert 'route="/v1/tasks"' in m
    assert "text/plain" in aiond.request("GET", "/metrics", key=None, port=aiond.ctl_port).headers["content-type"]


def run_aiond(env_overrides, tmp_path, args=()):
    from conftest import Aiond
    a = Aiond(tmp_path)
    a.gw_port, a.ctl_port = 0, 0
    env = a.env()
    env.update(env_overrides)
    return subprocess.run([str(AIOND), *args], env=env, capture_output=True, text=True, timeout=30)


def test_bad_configuration_fails_with_one_clear_line(tmp_path):
    for var, value in [("AION_GATEWAY_PORT", "abc"), ("AION_CONTROL_PORT", "70000"), ("TENANCY_MODE", "both"),
                       ("AION_LOG_LEVEL", "loud"), ("AION_GATEWAY_API_KEYS", "demo-key:wizard"),
                       ("AION_WORKERS", "0")]:
        p = run_aiond({var: value}, tmp_path)
        assert p.returncode == 2, (var, p.stderr)
        lines = [line for line in p.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith(f"aiond: {var}:"), (var, p.stderr)
        assert "wizard" in lines[0] or var != "AION_GATEWAY_API_KEYS"


def test_invalid_policies_fail_start_up_with_locations(tmp_path):
    from conftest import Aiond
    a = Aiond(tmp_path)
    (a.policy_dir / "intents.yml").write_text("version: 1\nintents:\n  x:\n    privacy: nowhere\n    candidates: []\n")
    p = run_aiond({}, tmp_path)
    assert p.returncode == 1
    assert "intents.yml:4: intents.x.privacy" in p.stderr, p.stderr
    assert "intents.x.candidates: must be a non-empty list" in p.stderr, p.stderr
    p = run_aiond({}, tmp_path, ["check-policies"])
    assert p.returncode == 1 and "intents.yml:4" in p.stderr


def test_check_policies_accepts_the_shipped_set(tmp_path):
    p = run_aiond({}, tmp_path, ["check-policies"])
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("policies OK")


def test_port_in_use_fails_clearly(make_aiond, tmp_path):
    a = make_aiond().start()
    p = run_aiond({"AION_GATEWAY_PORT": str(a.gw_port), "AION_DATA_DIR": str(tmp_path / "d2")}, tmp_path / "other")
    assert p.returncode == 1 and "AION_GATEWAY_PORT" in p.stderr, p.stderr


def test_kill_9_loses_no_acknowledged_task(make_aiond):
    a = make_aiond({"AION_WORKERS": "2"}).start()
    ids = [a.submit("spin", {"ms": 250}).json["taskId"] for _ in range(8)]
    ids += [a.submit("summarize", {"text": f"Sentence {i}. More."}).json["taskId"] for i in range(8)]
    time.sleep(0.4)  # some running, most queued
    running = [t["taskId"] for t in a.request("GET", "/v1/tasks?status=running").json["items"]]
    assert running, "expected tasks running at the time of the kill"
    a.kill9()
    a.start()
    for tid in ids:
        t = a.wait(tid, timeout=60)
        assert t["status"] == "succeeded", t
        events, _, _ = a.sse(tid)
        assert [int(e["id"]) for e in events] == list(range(1, len(events) + 1))
    for tid in running:
        t = a.request("GET", f"/v1/tasks/{tid}").json
        assert t["attempts"] == 2, t
        events, _, _ = a.sse(tid)
        assert any(e["json"]["data"].get("reason", "").startswith("interrupted by a restart") for e in events)


def test_graceful_stop_then_restart_keeps_history(make_aiond):
    a = make_aiond().start()
    tid = a.submit("summarize", {"text": "Persist me."}).json["taskId"]
    a.wait(tid)
    a.stop()
    assert a.proc.returncode == 0
    a.start()
    t = a.request("GET", f"/v1/tasks/{tid}").json
    assert t["status"] == "succeeded" and t["result"]["summary"] == "Persist me."
