"""deploy/observability against the real tools: promtool checks the scrape config and alert rules
(and runs their unit tests), a real Prometheus scrapes a running aiond, and every query of the
Grafana dashboards and every metric the alerts read returns data after a short workload."""
import http.client
import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import Split, REPO, free_port, openai_env

OBS = REPO / "deploy" / "observability"
DASHBOARDS = sorted((OBS / "grafana" / "dashboards").glob("*.json"))
PANEL_TYPES = {"timeseries", "stat", "table", "bargauge", "piechart", "gauge", "text"}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def tool(name):
    exe = shutil.which(name)
    if not exe:
        pytest.fail(f"{name} is not installed (scripts/install-deps.sh installs the Debian package prometheus)")
    return exe


def promtool(*args):
    r = subprocess.run([tool("promtool"), *args], cwd=OBS, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_scrape_config_and_alert_rules_pass_promtool():
    assert "SUCCESS" in promtool("check", "config", "prometheus.yml")
    assert "SUCCESS" in promtool("check", "config", "prometheus-split.yml")
    out = promtool("check", "rules", "alerts.yml")
    assert "SUCCESS: 8 rules found" in out
    assert "SUCCESS" in promtool("test", "rules", "alerts_test.yml")


def test_promtool_catches_a_broken_rule(tmp_path):
    """The check above can fail: a rule with bad PromQL is refused."""
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n- name: x\n  rules:\n  - alert: X\n    expr: rate(aion_http_requests_total[5m) > 1\n")
    r = subprocess.run([tool("promtool"), "check", "rules", str(bad)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "parse error" in (r.stdout + r.stderr)


def dashboard_targets():
    for path in DASHBOARDS:
        d = json.loads(path.read_text())
        for p in d["panels"]:
            for t in p["targets"]:
                yield path.name, p["title"], t["expr"]


def test_dashboards_follow_grafanas_json_model():
    assert {p.name for p in DASHBOARDS} == {"overview.json", "cost.json", "routing.json", "modules.json",
                                            "engines.json"}
    uids = set()
    for path in DASHBOARDS:
        d = json.loads(path.read_text())
        where = path.name
        assert d["uid"] not in uids and re.fullmatch(r"[a-z0-9-]{1,40}", d["uid"]), where
        uids.add(d["uid"])
        assert d["title"].startswith("aionOS / ") and isinstance(d["schemaVersion"], int) and d["schemaVersion"] >= 36
        variables = {v["name"]: v for v in d["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)), where
        cells = set()
        for p in d["panels"]:
            assert p["type"] in PANEL_TYPES, (where, p["type"])
            g = p["gridPos"]
            assert all(isinstance(g[k], int) for k in "hwxy") and 0 <= g["x"] and g["x"] + g["w"] <= 24, (where, g)
            cell = (g["x"], g["y"])
            assert cell not in cells, (where, p["title"], "overlaps another panel")
            cells.add(cell)
            assert p["datasource"] == DATASOURCE, (where, p["title"])
            assert p["targets"], (where, p["title"])
            refs = [t["refId"] for t in p["targets"]]
            assert len(refs) == len(set(refs))
            for t in p["targets"]:
                assert t["datasource"] == DATASOURCE and t["expr"].strip(), (where, p["title"])
    ds = yaml.safe_load((OBS / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert ds["datasources"][0]["type"] == "prometheus" and ds["datasources"][0]["uid"] == "prometheus"
    prov = yaml.safe_load((OBS / "grafana" / "provisioning" / "dashboards" / "aionos.yml").read_text())
    assert prov["providers"][0]["type"] == "file"


class Prometheus:
    def __init__(self, tmp: Path, targets, config="prometheus.yml"):
        """`targets`: {role: [port, ...]} for the scrape config's static_configs, by their role label."""
        self.port = free_port()
        cfg = yaml.safe_load((OBS / config).read_text())
        cfg["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        cfg["rule_files"] = [str(OBS / "alerts.yml")]
        statics = cfg["scrape_configs"][0]["static_configs"]
        assert {sc["labels"]["role"] for sc in statics} == set(targets), statics
        for sc in statics:
            sc["targets"] = [f"127.0.0.1:{p}" for p in targets[sc["labels"]["role"]]]
        conf = tmp / "prometheus.yml"
        conf.write_text(yaml.safe_dump(cfg))
        self.log = open(tmp / "prometheus.log", "w")
        self.proc = subprocess.Popen([tool("prometheus"), f"--config.file={conf}",
                                      f"--storage.tsdb.path={tmp / 'tsdb'}",
                                      f"--web.listen-address=127.0.0.1:{self.port}"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=1).status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        pytest.fail(f"prometheus did not become ready: {(tmp / 'prometheus.log').read_text()[-2000:]}")

    def api(self, path, **params):
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.loads(r.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr):
        return self.api("query", query=expr)["result"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


BUDGETS = """
budgets:
  tenants:
    "*": {day_usd: 20, month_usd: 100}
"""
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}


def workload(a, fake, round_):
    """One of each thing the dashboards and alerts chart."""
    task = {"schemaVersion": "1.0", "intent": "summarize",
            "params": {"text": "Metrics are scraped. Dashboards read them. Alerts fire."}}
    key = {"Idempotency-Key": f"obs-{round_}"}
    t = a.request("POST", "/v1/tasks", task, headers=key)
    assert t.status == 202, t
    again = a.request("POST", "/v1/tasks", task, headers=key)
    assert again.status == 202 and again.json["taskId"] == t.json["taskId"]  # replayed
    assert a.wait(t.json["taskId"])["status"] == "succeeded"
    r = a.request("POST", "/v1/chat/completions", CHAT)
    assert r.status == 200, r
    fake.script({"status": 500}, {"status": 502}, {"status": 503})  # openai fails: ollama answers
    f = a.wait(a.submit("chat", {"text": "fall back please"}).json["taskId"])
    assert f["status"] == "succeeded" and f["result"]["provider"] == "ollama", f
    assert a.request("POST", "/v1/chat/completions", {**CHAT, "model": "hf-tgi"}).status == 503  # no route
    m = a.wait(a.submit("fallback", {"do": "trap", "ms": 0}).json["taskId"])  # a module traps: spin runs
    assert m["status"] == "succeeded", m
    loop = a.wait(a.submit("hostile", {"do": "loop"}).json["taskId"])  # stopped by its wall-time limit
    assert loop["status"] == "failed", loop
    assert a.request("GET", "/v1/tasks", key="wrong-key").status == 401
    assert a.request("POST", "/v1/router/policy/reload", port=a.ctl_port).status == 200


@pytest.mark.parametrize("topology", ["embedded", "split"])
def test_prometheus_scrapes_aiond_and_every_dashboard_and_alert_query_has_data(make_aiond, fake, tmp_path,
                                                                             topology):
    if topology == "embedded":
        a = make_aiond(openai_env(fake, OLLAMA_HOST=fake.url))
    else:  # every role apart, scraped as deploy/observability/prometheus-split.yml says
        a = Split(tmp_path / "split", openai_env(fake, OLLAMA_HOST=fake.url), gateways=2, modhost=True)
    with open(a.policy_dir / "policies.yml", "a") as f:
        f.write(BUDGETS)
    a.start()
    if topology == "embedded":
        prom = Prometheus(tmp_path, {"all-in-one": [a.ctl_port]})
    else:
        prom = Prometheus(tmp_path, {"gateway": [g.gw_port for g in a.gateways], "control": [a.ctl_port],
                                     "modhost": [a.modhost.ctl_port]}, config="prometheus-split.yml")
    try:
        workload(a, fake, 1)
        time.sleep(2.5)
        workload(a, fake, 2)  # twice, a few scrapes apart: every rate() has an increase to see
        deadline = time.time() + 30
        while time.time() < deadline and not prom.query("aion_route_fallbacks_total >= 2"):
            time.sleep(0.5)
        time.sleep(2)  # a couple more scrapes after the last change

        up = prom.query('up{job="aiond"}')
        assert up and all(u["value"][1] == "1" for u in up), up
        assert len(up) == (1 if topology == "embedded" else 4), up

        # Series of an engine this aiond does not use exist only with it (test_kafka.py checks them).
        engine_only = {"aion_sink_up", "aion_sink_messages_total"}
        empty = []
        for board, title, expr in dashboard_targets():
            if set(re.findall(r"\baion_[a-z_]+", expr)) & engine_only:
                continue
            q = expr.replace("$__rate_interval", "1m").replace("$__range", "5m")
            if not prom.query(q):
                empty.append(f"{board} / {title}: {q}")
        assert not empty, "dashboard queries without data:\n" + "\n".join(empty)

        groups = prom.api("rules")["groups"]
        rules = [r for g in groups for r in g["rules"]]
        assert len(rules) == 8 and all(r["health"] == "ok" for r in rules), rules
        for r in rules:
            for metric in set(re.findall(r"\baion_[a-z_]+", r["query"])) - engine_only:
                assert prom.query(f"count({metric})"), f"alert {r['name']} reads {metric}, which has no series"

        # What the figures say matches what happened.
        spent = prom.query('aion_budget_spent_usd{scope="tenant:default",period="day"}')
        cap = prom.query('aion_budget_cap_usd{scope="tenant:default",period="day"}')
        assert float(spent[0]["value"][1]) > 0 and cap[0]["value"][1] == "20", (spent, cap)
        fb = prom.query('aion_route_fallbacks_total{intent="chat",from="model:gpt-4o-mini",to="model:ollama-default"}')
        assert fb and fb[0]["value"][1] == "2", fb
        idem = prom.query('aion_gateway_idempotency_requests_total{outcome="replayed"}')
        assert idem and idem[0]["value"][1] == "2", idem
        none = prom.query('aion_route_decisions_total{intent="chat",route="none"}')
        assert none and none[0]["value"][1] == "2", none
    finally:
        prom.stop()
        if topology == "split":
            a.stop()


def test_json_logs_one_event_per_request_and_per_task_state(make_aiond):
    a = make_aiond({"AION_LOG_FORMAT": "json"}).start()
    t = a.submit("summarize", {"text": "Logs are JSON. Each line is one object."})
    assert t.status == 202
    assert a.wait(t.json["taskId"])["status"] == "succeeded"
    r = a.request("POST", "/v1/chat/completions",
                  {"model": "module:summarize", "messages": [{"role": "user", "content": "Short. Text."}]})
    assert r.status == 200
    assert a.request("GET", "/v1/tasks", key="wrong-key").status == 401
    time.sleep(0.3)
    a.stop()
    text = a.log_path.read_text()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is one JSON object
    assert all(isinstance(x["ts"], str) and x["ts"].endswith("Z") and x["level"] for x in lines)
    assert "demo-key" not in text and "wrong-key" not in text  # key ids only, never keys
    tasks = [x for x in lines if x.get("event") == "task" and x["taskId"] == t.json["taskId"]]
    assert [x["status"] for x in tasks] == ["routed", "running", "succeeded"], tasks
    assert tasks[0]["route"] == "module:summarize" and tasks[0]["tenant"] == "default" and tasks[0]["keyId"]
    reqs = [x for x in lines if x.get("event") == "request"]
    chat = [x for x in reqs if x["path"] == "/v1/chat/completions"][0]
    assert chat["status"] == 200 and chat["taskRoute"] == "module:summarize" and chat["costUsd"] == 0
    assert chat["taskId"] == r.headers["x-aion-task-id"] and chat["requestId"] == r.headers["x-request-id"]
    denied = [x for x in reqs if x["status"] == 401][0]
    assert "tenant" not in denied and denied["route"] == "/v1/tasks"
    assert any(x.get("msg") for x in lines)  # ordinary log lines are JSON too


def test_log_format_must_be_text_or_json(make_aiond):
    a = make_aiond({"AION_LOG_FORMAT": "yaml"})
    with pytest.raises(RuntimeError) as e:
        a.start()
    assert "AION_LOG_FORMAT: must be text or json (got 'yaml')" in str(e.value)


TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = f"00-{TRACE}-00f067aa0ba902b7-01"
STATE = "congo=t61rcWkgMzE , rojo@vendor=00f067aa0ba902b7"  # blanks around a member are not part of it
STATE_OUT = "congo=t61rcWkgMzE,rojo@vendor=00f067aa0ba902b7"


def test_trace_context_joins_the_callers_trace_on_every_surface(make_aiond, fake):
    """W3C traceparent and tracestate: accepted on REST, OpenAI, WebSocket and gRPC, on the task
    record and the response, passed on to the provider; absent or malformed traceparent starts a
    new trace (and drops tracestate); a malformed tracestate is dropped whole."""
    from test_grpc import grpcurl, objects
    import websocket
    a = make_aiond(openai_env(fake)).start()
    r = a.request("POST", "/v1/chat/completions", CHAT, headers={"traceparent": CALLER, "tracestate": STATE})
    assert r.status == 200 and r.headers["x-aion-trace-id"] == TRACE
    view = a.request("GET", f"/v1/tasks/{r.headers['x-aion-task-id']}").json
    assert view["traceId"] == TRACE and view["traceState"] == STATE_OUT
    assert fake.chat_requests()[-1]["headers"]["tracestate"] == STATE_OUT  # passed on, normalised
    up = fake.chat_requests()[-1]["headers"]["traceparent"]
    version, trace, parent, flags = up.split("-")
    assert (version, trace, flags) == ("00", TRACE, "01")
    assert re.fullmatch(r"[0-9a-f]{16}", parent) and parent != "00f067aa0ba902b7"  # aionOS's own span
    s = a.request("POST", "/v1/chat/completions", {**CHAT, "stream": True}, headers={"traceparent": CALLER})
    assert s.status == 200 and s.headers["x-aion-trace-id"] == TRACE and b"[DONE]" in s.raw

    # tracestate: malformed is dropped whole, and without a valid traceparent it means nothing
    for headers in ({"traceparent": CALLER, "tracestate": "Bad Key=1"}, {"tracestate": STATE}):
        r = a.request("POST", "/v1/chat/completions", CHAT, headers=headers)
        assert r.status == 200 and "tracestate" not in fake.chat_requests()[-1]["headers"]
        assert "traceState" not in a.request("GET", f"/v1/tasks/{r.headers['x-aion-task-id']}").json
    # sent on two header lines: one list, in order
    conn = http.client.HTTPConnection("127.0.0.1", a.gw_port, timeout=10)
    conn.putrequest("POST", "/v1/chat/completions")
    for name, value in (("X-API-Key", "demo-key"), ("Content-Type", "application/json"),
                        ("traceparent", CALLER), ("tracestate", "congo=t61rcWkgMzE"), ("tracestate", "rojo=1")):
        conn.putheader(name, value)
    body = json.dumps(CHAT).encode()
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    assert conn.getresponse().status == 200
    conn.close()
    assert fake.chat_requests()[-1]["headers"]["tracestate"] == "congo=t61rcWkgMzE,rojo=1"

    task = {"schemaVersion": "1.0", "intent": "summarize", "params": {"text": "Traced. Twice."}}
    t = a.request("POST", "/v1/tasks", task, headers={"traceparent": CALLER, "tracestate": STATE})
    assert t.status == 202 and t.headers["x-aion-trace-id"] == TRACE
    done = a.wait(t.json["taskId"])
    assert done["traceId"] == TRACE and done["traceState"] == STATE_OUT
    for header in ({}, {"traceparent": "00-zz-00f067aa0ba902b7-01"}):
        n = a.request("POST", "/v1/tasks", task, headers=header)
        new = a.wait(n.json["taskId"])["traceId"]
        assert re.fullmatch(r"[0-9a-f]{32}", new) and new != TRACE and n.headers["x-aion-trace-id"] == new

    sse = a.request("GET", f"/v1/stream/{t.json['taskId']}", headers={"traceparent": CALLER})
    assert sse.status == 200 and sse.headers["x-aion-trace-id"] == TRACE

    rc, out, err = grpcurl(a, "aion.v1.AionTasks/Submit",
                           '{"schema_version":"1.0","intent":"summarize","params":{"text":"hi"}}',
                           extra=("-H", f"traceparent: {CALLER}", "-H", f"tracestate: {STATE}"))
    assert rc == 0, err
    done = a.wait(objects(out)[0]["task_id"])
    assert done["traceId"] == TRACE and done["traceState"] == STATE_OUT
    rc, out, err = grpcurl(a, "aion.v1.AionTasks/Get", json.dumps({"task_id": done["taskId"]}),
                           extra=("-v", "-H", f"traceparent: {CALLER}"))
    assert rc == 0 and f"x-aion-trace-id: {TRACE}" in out, (out, err)  # response metadata

    ws = websocket.create_connection(f"ws://127.0.0.1:{a.gw_port}/v1/ws",
                                     header=["X-API-Key: demo-key", f"traceparent: {CALLER}",
                                             f"tracestate: {STATE}"], timeout=10)
    assert json.loads(ws.recv())["type"] == "authenticated"
    assert ws.getheaders()["x-aion-trace-id"] == TRACE
    ws.send(json.dumps({"type": "submit", "id": "1", "task": task}))
    sent = json.loads(ws.recv())
    ws.close()
    assert sent["type"] == "submitted", sent
    done = a.wait(sent["taskId"])
    assert done["traceId"] == TRACE and done["traceState"] == STATE_OUT


JAEGER_CONFIG = """
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics: {{level: none}}
    logs: {{level: warn}}
extensions:
  jaeger_query:
    storage: {{traces: mem}}
    http: {{endpoint: "127.0.0.1:{query}"}}
    grpc: {{endpoint: "127.0.0.1:{grpc}"}}
  jaeger_storage:
    backends:
      mem: {{memory: {{max_traces: 10000}}}}
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{otlp}"}}
processors:
  batch: {{timeout: 100ms}}
exporters:
  jaeger_storage_exporter:
    trace_storage: mem
"""


class Jaeger:
    def __init__(self, tmp: Path):
        exe = shutil.which("jaeger") or str(Path.home() / "go" / "bin" / "jaeger")
        if not Path(exe).exists():
            pytest.fail("jaeger is not installed (scripts/install-deps.sh builds it)")
        self.query, self.otlp = free_port(), free_port()
        conf = tmp / "jaeger.yaml"
        conf.write_text(JAEGER_CONFIG.format(query=self.query, otlp=self.otlp, grpc=free_port()))
        self.log = open(tmp / "jaeger.log", "w")
        env = {**os.environ, "OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "none"}  # Jaeger's own traces
        self.proc = subprocess.Popen([exe, "--config", str(conf)], stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.query}/api/services", timeout=1)
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.3)
        self.stop()
        pytest.fail(f"jaeger did not start: {(tmp / 'jaeger.log').read_text()[-3000:]}")

    def trace(self, trace_id, want, timeout=20):
        """The trace's spans by name, once `want` names are all there."""
        deadline = time.time() + timeout
        spans = {}
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.query}/api/traces/{trace_id}", timeout=5) as r:
                    data = json.loads(r.read())["data"]
                spans = {s["operationName"]: s for t in data for s in t["spans"]}
                if want <= set(spans):
                    return spans
            except urllib.error.HTTPError as e:
                if e.code != 404:
                    raise
            time.sleep(0.3)
        raise AssertionError(f"trace {trace_id}: wanted {want}, got {sorted(spans)}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def parent_of(span):
    refs = [r for r in span.get("references", []) if r["refType"] == "CHILD_OF"]
    return refs[0]["spanID"] if refs else None


def tags(span):
    return {t["key"]: t["value"] for t in span["tags"]}


def test_spans_reach_jaeger_as_one_tree_under_the_callers_span(make_aiond, fake, tmp_path):
    jaeger = Jaeger(tmp_path)
    try:
        a = make_aiond(openai_env(fake, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{jaeger.otlp}",
                                  OTEL_SERVICE_NAME="aiond-e2e", AION_WORKERS="1")).start()
        r = a.request("POST", "/v1/chat/completions", CHAT, headers={"traceparent": CALLER})
        assert r.status == 200
        names = ("POST /v1/chat/completions", "admission", "task chat", "route chat", "chat gpt-4o-mini")
        spans = jaeger.trace(TRACE, set(names))
        server, admission, task, route, call = (spans[n] for n in names)
        assert parent_of(server) == "00f067aa0ba902b7"  # the caller's span
        # surface -> admission, and surface -> task -> route decision, provider call
        assert parent_of(admission) == server["spanID"] and parent_of(task) == server["spanID"]
        assert parent_of(route) == task["spanID"] and parent_of(call) == task["spanID"]
        assert tags(admission)["aion.tenant"] == "default" and tags(admission)["aion.key_id"]
        assert tags(route)["aion.route"] == "model:gpt-4o-mini" and "aion.route.why" in tags(route)
        assert tags(route)["aion.privacy"] == "allow-api"
        assert int(route["startTime"]) <= int(call["startTime"])
        t = tags(call)
        assert t["gen_ai.system"] == "openai" and t["gen_ai.request.model"] == "gpt-4o-mini"
        assert t["gen_ai.usage.input_tokens"] == 2 and t["gen_ai.usage.output_tokens"] == 3
        assert tags(server)["http.response.status_code"] == 200
        assert tags(task)["aion.task_id"] == r.headers["x-aion-task-id"]
        # The provider saw aionOS's call span as its parent.
        assert fake.chat_requests()[-1]["headers"]["traceparent"] == f"00-{TRACE}-{call['spanID']}-01"

        other = "5bf92f3577b34da6a3ce929d0e0e4737"
        t2 = a.request("POST", "/v1/tasks", {"schemaVersion": "1.0", "intent": "fallback",
                                             "params": {"do": "trap", "ms": 0}},
                       headers={"traceparent": f"00-{other}-00f067aa0ba902b7-01"})
        a.wait(t2.json["taskId"])
        spans = jaeger.trace(other, {"POST /v1/tasks", "task fallback", "module hostile", "module spin"})
        assert parent_of(spans["module spin"]) == spans["task fallback"]["spanID"]
        assert tags(spans["module hostile"])["error"] is True  # the trap, with its status

        # gRPC: the RPC's server span under the caller's, admission and the task under it.
        from test_grpc import grpcurl, objects
        third = "7bf92f3577b34da6a3ce929d0e0e4739"
        rc, out, err = grpcurl(a, "aion.v1.AionTasks/Submit",
                               '{"schema_version":"1.0","intent":"summarize","params":{"text":"hi"}}',
                               extra=("-H", f"traceparent: 00-{third}-00f067aa0ba902b7-01"))
        assert rc == 0, err
        names = ("aion.v1.AionTasks/Submit", "admission", "task summarize", "route summarize",
                 "module summarize")
        spans = jaeger.trace(third, set(names))
        rpc, admission, task, route, module = (spans[n] for n in names)
        assert parent_of(rpc) == "00f067aa0ba902b7"
        assert parent_of(admission) == rpc["spanID"] and parent_of(task) == rpc["spanID"]
        assert parent_of(route) == task["spanID"] and parent_of(module) == task["spanID"]
        assert tags(rpc)["rpc.system"] == "grpc" and tags(rpc)["rpc.grpc.status_code"] == 0

        # A task that waited for a slot (AION_WORKERS=1) shows the wait.
        busy = a.submit("spin", {"ms": 600}).json["taskId"]
        fourth = "8bf92f3577b34da6a3ce929d0e0e473a"
        queued = a.request("POST", "/v1/tasks", {"schemaVersion": "1.0", "intent": "spin", "params": {"ms": 1}},
                           headers={"traceparent": f"00-{fourth}-00f067aa0ba902b7-01"})
        a.wait(queued.json["taskId"])
        a.wait(busy)
        spans = jaeger.trace(fourth, {"task spin", "queue wait", "module spin"})
        wait = spans["queue wait"]
        assert parent_of(wait) == spans["task spin"]["spanID"] and wait["duration"] >= 100_000  # µs

        # A caller that did not sample: nothing recorded (parent-based sampling).
        unsampled = "6bf92f3577b34da6a3ce929d0e0e4738"
        a.request("POST", "/v1/chat/completions", CHAT, headers={"traceparent": f"00-{unsampled}-00f067aa0ba902b7-00"})
        assert fake.chat_requests()[-1]["headers"]["traceparent"].endswith("-00")
        time.sleep(1.5)
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"http://127.0.0.1:{jaeger.query}/api/traces/{unsampled}", timeout=5)
        exported = [l for l in a.request("GET", "/metrics").raw.decode().splitlines()
                    if l.startswith('aion_trace_spans_total{outcome="exported"}')]
        assert exported and float(exported[0].split()[-1]) >= 7, exported
    finally:
        jaeger.stop()


def test_bad_tracing_variables_stop_start_up(make_aiond):
    for env, needle in [({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
                        ({"OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER"),
                        ({"OTEL_TRACES_SAMPLER_ARG": "2"}, "OTEL_TRACES_SAMPLER_ARG")]:
        a = make_aiond(env, subdir=needle + env[next(iter(env))][:3])
        with pytest.raises(RuntimeError) as e:
            a.start()
        assert needle in str(e.value), e.value
