"""aiond's roles apart (docs/roles.md): gateways reach one control plane over
gRPC (aion.internal.v1.Control). A task submitted through any gateway is
followed, resumed and canceled through any other; a control plane that goes
away makes gateways unready and their calls fail clearly, and they recover
when it is back; mutual TLS between roles refuses a gateway with the wrong
certificate; bad role settings fail start-up with one clear line."""
import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import AIOND, Aiond, Split
from test_grpc import GRPCURL, objects
from test_hot_path import wait_until
from test_tls import openssl

SUMMARY = {"text": "Roles apart. Gateways in front. One control plane behind them."}


@pytest.fixture
def make_split(tmp_path):
    started = []

    def make(env=None, **kw):
        s = Split(tmp_path / f"split{len(started)}", env, **kw)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


def test_a_task_submitted_through_one_gateway_is_followed_resumed_and_canceled_through_another(make_split):
    s = make_split(gateways=2).start()
    g1, g2 = s.gateways
    # submit on g1, read and stream on g2
    tid = g1.submit("summarize", SUMMARY).json["taskId"]
    t = g2.wait(tid)
    assert t["status"] == "succeeded" and t["result"]["summary"], t
    events, _, headers = g2.sse(tid)
    assert [e["json"]["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["event"] == "done"
    # resume after Last-Event-ID on the other gateway: only what follows
    again, _, _ = g1.sse(tid, last_event_id=2)
    assert [e["json"]["seq"] for e in again] == [e["json"]["seq"] for e in events[2:]]
    # a running task canceled through the gateway that did not submit it
    long = g1.submit("spin", {"ms": 15000}).json["taskId"]
    g1.wait(long, statuses=("running",))
    assert g2.request("POST", f"/v1/tasks/{long}/cancel").status == 202
    assert g1.wait(long, timeout=10)["status"] == "canceled"
    # both gateways list the same tasks, newest first
    ids = [x["taskId"] for x in g2.request("GET", "/v1/tasks?limit=5").json["items"]]
    assert ids[:2] == [long, tid]
    # errors come back exactly as in the embedded profile
    r = g2.request("GET", "/v1/tasks/tsk_nope")
    assert r.status == 404 and r.json["error"]["code"] == "not_found", r
    r = g1.submit("no-such-intent", {})
    assert r.status == 422 and r.json["error"]["code"] == "unknown_intent", r
    r = g1.submit("spin", {"ms": "soon"})
    assert r.status == 422 and r.json["error"]["code"] == "invalid_params", r


def internal_call(split, method, message):
    """grpcurl straight to the control role's internal API (aion.internal.v1.Control)."""
    repo = Path(__file__).resolve().parents[2]
    p = subprocess.run([GRPCURL, "-plaintext", "-import-path", str(repo / "proto"),
                        "-proto", "aion/internal/v1/control.proto", "-d", json.dumps(message),
                        f"127.0.0.1:{split.control_node.internal_port}", f"aion.internal.v1.Control/{method}"],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, objects(p.stdout) if p.returncode == 0 else [], p.stderr


def test_submit_follow_is_one_internal_call_from_submission_to_done(make_split):
    """What a gateway does for every submission it waits for (SSE, WebSocket, gRPC Run, the OpenAI
    API): one SubmitFollow call whose first message is the task and whose last holds "done"."""
    s = make_split().start()
    user = {"keyId": "k1", "roles": 4, "tenant": "default"}
    rc, msgs, err = internal_call(s, "SubmitFollow", {"principal": user, "intent": "summarize",
                                                      "paramsJson": json.dumps(SUMMARY), "surface": "rest"})
    assert rc == 0, err
    tid = msgs[0]["task"]["id"]
    assert tid.startswith("tsk_") and not any("task" in m for m in msgs[1:]), msgs
    events = [e for m in msgs for e in m.get("events", [])]
    assert [int(e["seq"]) for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "done" and all(e["taskId"] == tid for e in events), events
    assert s.wait(tid)["status"] == "succeeded"
    # A refused submission ends the call with the control plane's error and stores nothing.
    before = s.request("GET", "/v1/tasks?limit=100").json["items"]
    rc, msgs, err = internal_call(s, "SubmitFollow", {"principal": user, "intent": "no-such-intent",
                                                      "paramsJson": "{}"})
    assert rc != 0 and "no-such-intent" in err and not msgs, err
    viewer = {"keyId": "k2", "roles": 8, "tenant": "default"}
    rc, msgs, err = internal_call(s, "SubmitFollow", {"principal": viewer, "intent": "summarize",
                                                      "paramsJson": json.dumps(SUMMARY)})
    assert rc != 0 and "role not allowed" in err and not msgs, err
    assert s.request("GET", "/v1/tasks?limit=100").json["items"] == before


def test_grpc_and_openai_surfaces_of_a_gateway_role(make_split, fake):
    from conftest import openai_env
    import openai
    s = make_split(openai_env(fake), gateways=2).start()
    g1, g2 = s.gateways
    p = subprocess.run([GRPCURL, "-plaintext", "-H", "x-api-key: demo-key", "-d",
                        json.dumps({"intent": "summarize", "params": SUMMARY}),
                        f"localhost:{g1.grpc_port}", "aion.v1.AionTasks/Run"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    evs = objects(p.stdout)
    assert evs[-1]["type"] == "done" and evs[-1]["data"]["status"] == "succeeded"
    p = subprocess.run([GRPCURL, "-plaintext", "-H", "x-api-key: demo-key", "-d",
                        json.dumps({"task_id": evs[0]["task_id"]}),
                        f"localhost:{g2.grpc_port}", "aion.v1.AionTasks/Get"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and json.loads(p.stdout)["status"] == "succeeded", p.stderr
    c = openai.OpenAI(base_url=f"http://127.0.0.1:{g2.gw_port}/v1", api_key="demo-key", max_retries=0)
    ids = {m.id for m in c.models.list()}
    assert {"auto", "gpt-4o-mini"} <= ids  # the control plane's catalog, through the Watch stream
    r = c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "a b c"}])
    assert r.choices[0].message.content == "echo: a b c" and r.usage.total_tokens > 0
    chunks = list(c.chat.completions.create(model="gpt-4o-mini", stream=True,
                                            messages=[{"role": "user", "content": "x y"}]))
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == "echo: x y"
    with pytest.raises(openai.NotFoundError) as e:
        c.chat.completions.create(model="nope", messages=[{"role": "user", "content": "a"}])
    assert e.value.body["code"] == "model_not_found"
    # usage is the control plane's, whichever gateway served the calls
    u = s.control("GET", "/v1/usage?groupBy=model").json
    assert u["total"]["calls"] >= 2, u


def test_multi_tenancy_holds_across_gateways(make_split):
    keys = "acme-key:user:acme,globex-key:user:globex"
    s = make_split({"TENANCY_MODE": "multi", "AION_GATEWAY_API_KEYS": keys}, gateways=2).start()
    g1, g2 = s.gateways
    tid = g1.submit("summarize", SUMMARY, key="acme-key").json["taskId"]
    g1.wait(tid, key="acme-key")
    assert g2.request("GET", f"/v1/tasks/{tid}", key="acme-key").status == 200
    assert g2.request("GET", f"/v1/tasks/{tid}", key="globex-key").status == 404
    assert g2.request("POST", f"/v1/tasks/{tid}/cancel", key="globex-key").status == 404
    assert g2.sse(tid, key="globex-key")[0] == 404
    assert all(t["taskId"] != tid for t in g2.request("GET", "/v1/tasks", key="globex-key").json["items"])


def test_gateways_follow_the_control_plane_down_and_back(make_split):
    s = make_split().start()
    g = s.gateways[0]
    assert g.request("GET", "/readyz").status == 200
    s.control_node.stop()
    wait_until(lambda: g.request("GET", "/readyz").status == 503, what="the gateway to turn unready")
    r = g.request("GET", "/readyz")
    assert "unreachable" in r.json["checks"]["control"]["status"], r
    t0 = time.time()
    r = g.submit("summarize", SUMMARY)
    assert r.status == 503 and r.json["error"]["code"] == "unavailable", r
    assert "control plane" in r.json["error"]["message"]
    assert time.time() - t0 < 12  # bounded by the call deadline, not a hang
    assert g.request("GET", "/healthz").status == 200  # alive, just not ready
    s.control_node.start()  # same ports: the gateway reconnects by itself
    wait_until(lambda: g.request("GET", "/readyz").status == 200, timeout=30, what="the gateway to reconnect")
    tid = g.submit("summarize", SUMMARY).json["taskId"]
    assert g.wait(tid)["status"] == "succeeded"


def test_a_stream_through_a_gateway_ends_with_an_error_when_the_control_plane_dies(make_split):
    s = make_split(env={"AION_WORKERS": "1"}).start()
    g = s.gateways[0]
    tid = g.submit("spin", {"ms": 15000}).json["taskId"]
    g.wait(tid, statuses=("running",))
    out = {}

    def follow():
        out["sse"] = g.sse(tid, timeout=30)

    th = threading.Thread(target=follow)
    th.start()
    time.sleep(0.5)
    s.control_node.kill9()
    th.join(30)
    assert not th.is_alive()
    events, _, _ = out["sse"]
    assert events[-1]["event"] == "error", events[-1]
    err = events[-1]["json"]["error"]
    assert err["code"] == "unavailable" and "control plane" in err["message"], err


@pytest.fixture(scope="module")
def internal_pki(tmp_path_factory):
    """A CA with a server certificate for 127.0.0.1 and a client certificate,
    and a second, unrelated CA with its own client certificate."""
    d = tmp_path_factory.mktemp("internal-pki")
    for ca in ("ca", "rogue-ca"):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-subj", f"/CN={ca}", "-days", "2", cwd=d)
    for name, ca, ext in (("control", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
                          ("gateway", "ca", "extendedKeyUsage=clientAuth"),
                          ("rogue", "rogue-ca", "extendedKeyUsage=clientAuth")):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        (d / f"{name}.ext").write_text(ext + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    return d


def tls(d, name, ca="ca"):
    return {"AION_INTERNAL_TLS_CERT": str(d / f"{name}.pem"), "AION_INTERNAL_TLS_KEY": str(d / f"{name}.key"),
            "AION_INTERNAL_TLS_CA": str(d / f"{ca}.pem")}


def test_mutual_tls_between_roles_refuses_a_gateway_with_the_wrong_certificate(make_split, tmp_path,
                                                                              internal_pki):
    s = make_split(control_env=tls(internal_pki, "control"), gateway_env=tls(internal_pki, "gateway")).start()
    g = s.gateways[0]
    tid = g.submit("summarize", SUMMARY).json["taskId"]
    assert g.wait(tid)["status"] == "succeeded"
    target = f"127.0.0.1:{s.control_node.internal_port}"
    # a gateway whose certificate another CA signed, and one without TLS
    for name, env in (("rogue", {**tls(internal_pki, "rogue", ca="ca"), "AION_CONTROL_GRPC": target}),
                      ("plain", {"AION_CONTROL_GRPC": target})):
        bad = Aiond(tmp_path / name, env, role="gateway")
        bad.tmp.mkdir(parents=True, exist_ok=True)
        try:
            bad.start()
            time.sleep(1.0)
            r = bad.request("GET", "/readyz")
            assert r.status == 503 and "unreachable" in r.json["checks"]["control"]["status"], (name, r)
            r = bad.submit("summarize", SUMMARY)
            assert r.status == 503 and r.json["error"]["code"] == "unavailable", (name, r)
        finally:
            bad.stop()
    # the refused gateways changed nothing: still one task
    assert len(g.request("GET", "/v1/tasks").json["items"]) == 1


@pytest.mark.parametrize("role,env,message", [
    ("gateway", {}, "AION_CONTROL_GRPC: --role gateway needs"),
    ("gateway", {"AION_CONTROL_GRPC": "localhost"}, "AION_CONTROL_GRPC: must be host:port"),
    ("gateway", {"AION_CONTROL_GRPC": "localhost:99999"}, "AION_CONTROL_GRPC: must be host:port"),
    ("control", {"AION_INTERNAL_TLS_CERT": "/etc/hostname"}, "set all three"),
    ("control", {"AION_INTERNAL_TLS_CERT": "/nonexistent", "AION_INTERNAL_TLS_KEY": "/nonexistent",
                 "AION_INTERNAL_TLS_CA": "/nonexistent"}, "AION_INTERNAL_TLS_CERT: cannot read"),
    ("control", {"AION_CONTROL_GRPC_PORT": "http"}, "AION_CONTROL_GRPC_PORT"),
    ("control", {"AION_MODHOST_GRPC": "modhost"}, "AION_MODHOST_GRPC: must be host:port"),
    ("modhost", {"AION_MODHOST_PORT": "-1"}, "AION_MODHOST_PORT"),
])
def test_bad_role_settings_fail_start_up_with_one_clear_line(tmp_path, role, env, message):
    a = Aiond(tmp_path, env, role=role)
    a.gw_port, a.ctl_port, a.grpc_port, a.internal_port = 0, 0, 0, 0
    p = subprocess.run([str(AIOND), "--role", role], env=a.env(), capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert message in p.stderr, p.stderr
    assert "aiond ready" not in p.stdout


def test_one_trace_spans_gateway_control_plane_and_module_host(make_split, fake, tmp_path):
    import urllib.request
    from conftest import openai_env
    from test_observability import CALLER, CHAT, STATE, STATE_OUT, TRACE, Jaeger, parent_of
    jaeger = Jaeger(tmp_path)
    try:
        otlp = f"http://127.0.0.1:{jaeger.otlp}"
        s = make_split(openai_env(fake, OTEL_EXPORTER_OTLP_ENDPOINT=otlp), modhost=True,
                       control_env={"OTEL_SERVICE_NAME": "aion-control"},
                       gateway_env={"OTEL_SERVICE_NAME": "aion-gateway"},
                       modhost_env={"OTEL_SERVICE_NAME": "aion-modhost"}).start()
        r = s.request("POST", "/v1/chat/completions", CHAT, headers={"traceparent": CALLER, "tracestate": STATE})
        assert r.status == 200, r
        assert r.headers["x-aion-trace-id"] == TRACE
        names = ("POST /v1/chat/completions", "admission", "task chat", "route chat", "chat gpt-4o-mini")
        spans = jaeger.trace(TRACE, set(names))
        server, admission, task, route, call = (spans[n] for n in names)
        # the tree crosses the process boundary: surface (gateway) -> task (control)
        assert parent_of(server) == "00f067aa0ba902b7"
        assert parent_of(admission) == server["spanID"] and parent_of(task) == server["spanID"]
        assert parent_of(route) == task["spanID"] and parent_of(call) == task["spanID"]
        with urllib.request.urlopen(f"http://127.0.0.1:{jaeger.query}/api/traces/{TRACE}", timeout=5) as resp:
            data = json.loads(resp.read())["data"][0]
        service = {sp["operationName"]: data["processes"][sp["processID"]]["serviceName"] for sp in data["spans"]}
        assert service["POST /v1/chat/completions"] == service["admission"] == "aion-gateway", service
        assert service["task chat"] == service["route chat"] == service["chat gpt-4o-mini"] == "aion-control"
        assert fake.chat_requests()[-1]["headers"]["traceparent"] == f"00-{TRACE}-{call['spanID']}-01"
        assert fake.chat_requests()[-1]["headers"]["tracestate"] == STATE_OUT  # through the control plane
        # a module task: the module host's run hangs under the control plane's module span
        other = "5bf92f3577b34da6a3ce929d0e0e4737"
        t = s.request("POST", "/v1/tasks", {"schemaVersion": "1.0", "intent": "summarize", "params": SUMMARY},
                      headers={"traceparent": f"00-{other}-00f067aa0ba902b7-01", "tracestate": STATE})
        assert s.wait(t.json["taskId"])["status"] == "succeeded"
        names = ("POST /v1/tasks", "task summarize", "module summarize", "module run summarize")
        spans = jaeger.trace(other, set(names))
        server, task, module, run = (spans[n] for n in names)
        assert parent_of(task) == server["spanID"] and parent_of(module) == task["spanID"]
        assert parent_of(run) == module["spanID"]
        with urllib.request.urlopen(f"http://127.0.0.1:{jaeger.query}/api/traces/{other}", timeout=5) as resp:
            data = json.loads(resp.read())["data"][0]
        service = {sp["operationName"]: data["processes"][sp["processID"]]["serviceName"] for sp in data["spans"]}
        assert service["module run summarize"] == "aion-modhost" and service["module summarize"] == "aion-control"
        # tracestate crossed both hops: the module host's span carries it (OTLP, Jaeger's api/v3)
        with urllib.request.urlopen(f"http://127.0.0.1:{jaeger.query}/api/v3/traces/{other}", timeout=5) as resp:
            otlp_spans = [sp for rs in json.loads(resp.read())["result"]["resourceSpans"]
                          for ss in rs["scopeSpans"] for sp in ss["spans"]]
        states = {sp["name"]: sp.get("traceState", "") for sp in otlp_spans}
        assert states["module run summarize"] == states["task summarize"] == STATE_OUT, states
    finally:
        jaeger.stop()


def test_dev_up_cluster_starts_the_roles_on_real_engines_and_stops_them(tmp_path):
    import os
    import signal
    from conftest import REPO, free_port
    import socket

    def free_pair():  # dev-up.sh --cluster gives gateway 2 gateway 1's ports + 1
        while True:
            p = free_port()
            try:
                with socket.socket() as s2:
                    s2.bind(("127.0.0.1", p + 1))
                return p
            except OSError:
                continue

    ports = {k: str(free_pair()) for k in ("AION_GATEWAY_PORT", "AION_GATEWAY_GRPC_PORT")}
    ports.update({k: str(free_port()) for k in ("AION_CONTROL_PORT", "AION_CONTROL_GRPC_PORT",
                                                "AION_CLUSTER_PG_PORT", "AION_CLUSTER_REDIS_PORT")})
    taken = [int(v) for v in ports.values()] + [int(ports["AION_GATEWAY_PORT"]) + 1,
                                                int(ports["AION_GATEWAY_GRPC_PORT"]) + 1]
    assert len(set(taken)) == len(taken), ports
    # dev-up.sh --cluster picks gateway 2's ports as gateway 1's + 1
    g2 = str(int(ports["AION_GATEWAY_PORT"]) + 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AION_")}
    env.update(ports, AION_DATA_DIR=str(tmp_path / "data"), AION_GATEWAY_API_KEYS="demo-key:admin|manager")
    p = subprocess.Popen([str(REPO / "scripts" / "dev-up.sh"), "--cluster"], env=env, cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out = []
        deadline = time.time() + 300  # install-deps and build are no-ops here; initdb is not
        while time.time() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            out.append(line)
            if line.startswith("  control"):
                break
        text = "".join(out)
        assert "aiond cluster ready" in text, text
        gw2 = Aiond(tmp_path, role="gateway")
        gw2.gw_port = int(g2)
        tid = gw2.submit("summarize", SUMMARY).json["taskId"]
        assert gw2.wait(tid)["status"] == "succeeded"
        gw1 = Aiond(tmp_path, role="gateway")
        gw1.gw_port = int(ports["AION_GATEWAY_PORT"])
        assert gw1.request("GET", f"/v1/tasks/{tid}").json["status"] == "succeeded"
    finally:
        os.killpg(p.pid, signal.SIGINT)
        p.wait(60)
        import hashlib
        import shutil
        tmp_pg = f"/tmp/aionos-cluster-pg-{hashlib.sha256(str(tmp_path / 'data' / 'cluster').encode()).hexdigest()[:12]}"
        shutil.rmtree(tmp_pg, ignore_errors=True)  # where root's cluster went (the pytest dir is 0700)
    # everything it started is gone: no aiond, postgres or redis on its ports
    for port in ports.values():
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()


# ---- the module host apart (--role modhost) ------------------------------------------

def test_modules_run_on_the_module_host_and_survive_its_restart(make_split):
    s = make_split(env={"AION_WORKERS": "1"}, modhost=True).start()
    m = s.modhost
    r = m.request("GET", "/readyz", port=m.ctl_port)
    assert r.status == 200 and r.json["checks"]["loaded"] is True and r.json["checks"]["modules"] >= 5, r
    tid = s.submit("summarize", SUMMARY).json["taskId"]
    t = s.wait(tid)
    assert t["status"] == "succeeded" and t["result"]["summary"], t
    assert "module host: serving" in m.log_path.read_text()
    # the control plane ran no module itself: its readiness names the module host's sandbox
    ready = s.control("GET", "/readyz").json
    assert ready["checks"]["modules"] >= 5 and ready["checks"]["sandbox"]["layers"], ready
    # a canceled task stops its module on the module host at once
    long = s.submit("spin", {"ms": 15000}).json["taskId"]
    s.wait(long, statuses=("running",))
    t0 = time.time()
    assert s.request("POST", f"/v1/tasks/{long}/cancel").status == 202
    assert s.wait(long, timeout=10)["status"] == "canceled"
    assert time.time() - t0 < 5
    after = s.submit("spin", {"ms": 10}).json["taskId"]  # the one module slot is free again
    assert s.wait(after, timeout=10)["status"] == "succeeded"
    # the module host goes away: a module task waits for it within its deadline, then fails clearly
    m.stop()
    gone = s.wait(s.submit("summarize", SUMMARY).json["taskId"], timeout=30)
    assert gone["status"] == "failed" and gone["error"]["code"] in ("timeout", "unavailable"), gone
    assert "module host" in json.dumps(gone["error"])
    # back with nothing loaded: the control plane loads it again on the next call
    m.start()
    again = s.wait(s.submit("summarize", SUMMARY).json["taskId"], timeout=30)
    assert again["status"] == "succeeded", again
    assert "loading them again" in s.control_node.log_path.read_text()


def test_mutual_tls_to_the_module_host(make_split, internal_pki, tmp_path):
    # The control role's one certificate (SAN 127.0.0.1, no usage restriction)
    # is its server certificate for gateways and its client certificate for the
    # module host; the module host serves the same CA-signed certificate.
    s = make_split(modhost=True, modhost_env=tls(internal_pki, "control"),
                   control_env=tls(internal_pki, "control"), gateway_env=tls(internal_pki, "gateway"))
    s.start()
    tid = s.submit("summarize", SUMMARY).json["taskId"]
    assert s.wait(tid)["status"] == "succeeded"
    # a control plane with a certificate from another CA cannot reach the module host: start-up fails
    bad = Aiond(tmp_path / "bad-control", {**tls(internal_pki, "rogue"),
                                           "AION_MODHOST_GRPC": f"127.0.0.1:{s.modhost.internal_port}"},
                role="control")
    bad.tmp.mkdir(parents=True, exist_ok=True)
    with pytest.raises(RuntimeError) as e:
        bad.start(timeout=60)
    assert "AION_MODHOST_GRPC" in str(e.value), str(e.value)[-800:]


def test_a_streamed_submission_to_a_control_plane_that_never_answers_fails_fast_and_clearly(make_aiond):
    """A control plane that accepts the connection and then says nothing: a streamed submission
    (one SubmitFollow call) ends with a clear 503/504 in seconds, never a hang."""
    import socket
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts (the kernel does), never reads or writes
    try:
        g = make_aiond({"AION_CONTROL_GRPC": f"127.0.0.1:{silent.getsockname()[1]}",
                        "AION_CONTROL_GRPC_TIMEOUT_MS": "700"}, role="gateway")
        g.start()
        t0 = time.monotonic()
        r = g.request("POST", "/v1/tasks", {"schemaVersion": "1.0", "intent": "summarize", "params": SUMMARY},
                      headers={"Accept": "text/event-stream"})
        took = time.monotonic() - t0
        assert r.status in (503, 504) and r.json["error"]["code"] in ("timeout", "unavailable"), r
        assert took < 5, took
    finally:
        silent.close()
