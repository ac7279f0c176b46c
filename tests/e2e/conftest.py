"""Black-box harness: starts a real aiond on free ports in a temp dir and
talks HTTP to it, like a user would (STYLE.md §8)."""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("AION_BUILD_DIR", REPO / "build"))
AIOND = BUILD / "aiond"
MODULES = BUILD / "modules"
TEST_MODULES = BUILD / "test-modules"

KEYS = "demo-key:admin|manager,user-key:user,viewer-key:viewer"

# Test guests registered beside the shipped modules in every temp policy set.
TEST_MODULES_YML = """
  spin:
    version: 0.1.0
    kind: wasm
    artifact: {spin}
    intents: [spin, fallback]
    latency_ms: 50
    limits: {{memory_mb: 32, timeout_ms: 20000, output_bytes: 4096}}
  hostile:
    version: 0.1.0
    kind: wasm
    artifact: {hostile}
    intents: [hostile, fallback]
    latency_ms: 50
    limits: {{memory_mb: 16, timeout_ms: 1500, output_bytes: 65536}}
"""
TEST_INTENTS_YML = """
  spin:
    description: test guest that burns CPU for params.ms
    privacy: local-only
    timeout_ms: 60000
    params_schema: {type: object, required: [ms], properties: {ms: {type: integer, minimum: 0, maximum: 20000}}}
    candidates:
      - module: spin
  hostile:
    description: test guest that misbehaves
    privacy: local-only
    timeout_ms: 10000
    candidates:
      - module: hostile
  fallback:
    description: test intent whose first route fails
    privacy: local-only
    timeout_ms: 4000
    candidates:
      - module: hostile
      - module: spin
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.raw = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"<{self.status} {self.raw[:300]!r}>"


class Aiond:
    """One aiond process with its own policy dir, data dir and ports."""

    def __init__(self, tmp: Path, env=None, role=None):
        self.tmp = tmp
        self.role = role  # None: the embedded profile; else aiond --role ROLE
        self.policy_dir = tmp / "policies"
        self.data_dir = tmp / "data"
        if not self.policy_dir.exists():
            shutil.copytree(REPO / "policies", self.policy_dir)
            with open(self.policy_dir / "modules.yml", "a") as f:
                f.write(TEST_MODULES_YML.format(spin=TEST_MODULES / "spin.wasm",
                                                hostile=TEST_MODULES / "hostile.wasm"))
            with open(self.policy_dir / "intents.yml", "a") as f:
                f.write(TEST_INTENTS_YML)
        self.extra_env = dict(env or {})
        self.proc = None
        self.gw_port = None
        self.ctl_port = None
        self.grpc_port = None
        self.internal_port = None  # --role control: aion.internal.v1.Control
        self.log_path = tmp / "aiond.log"

    def env(self):
        # Provider variables of the machine running the tests must never reach a real provider.
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("AION_", "OPENAI_", "AZURE_OPENAI_", "HF_", "VLLM_", "OLLAMA_", "OTEL_"))
             and k != "TENANCY_MODE"}
        e.update({
            "AION_GATEWAY_PORT": str(self.gw_port),
            "AION_CONTROL_PORT": str(self.ctl_port),
            "AION_GATEWAY_GRPC_PORT": str(self.grpc_port or 0),
            "AION_CONTROL_GRPC_PORT": str(self.internal_port or 0),
            "AION_MODHOST_GRPC_PORT": str(self.internal_port or 0),
            "AION_MODHOST_PORT": str(self.ctl_port or 0),
            "AION_BIND_ADDRESS": "127.0.0.1",
            "AION_GATEWAY_API_KEYS": KEYS,
            "AION_POLICY_DIR": str(self.policy_dir),
            "AION_DATA_DIR": str(self.data_dir),
            "AION_MODULE_DIR": str(MODULES),
            # The test guests (spin, hostile) are inline and unsigned; shipped
            # modules are signed by the build's key either way.
            "AION_MODULES_ALLOW_UNSIGNED": "true",
            "AION_LOG_LEVEL": "info",
        })
        e.update(self.extra_env)
        return e

    def start(self, timeout=20):
        for attempt in range(3):
            try:
                return self._start(timeout)
            except RuntimeError as e:
                # A port picked free may be taken by another process before aiond binds it.
                if "cannot listen" not in str(e) or attempt == 2:
                    raise
                self.gw_port = None

    def _start(self, timeout):
        if self.gw_port is None:
            # Four different ports: two picks of a free port can return the same one.
            ports = []
            while len(ports) < 4:
                p = free_port()
                if p not in ports:
                    ports.append(p)
            self.gw_port, self.ctl_port, self.grpc_port, self.internal_port = ports
        log = open(self.log_path, "ab")
        cmd = [str(AIOND)] + (["--role", self.role] if self.role else [])
        self.proc = subprocess.Popen(cmd, env=self.env(), stdout=subprocess.PIPE, stderr=log)
        deadline = time.time() + timeout
        lines = []
        while time.time() < deadline:
            line = self.proc.stdout.readline().decode()
            if not line:
                break
            lines.append(line)
            if line.strip().startswith("health" if self.role == "modhost" else "control"):
                return self
        self.proc.kill()
        raise RuntimeError(f"aiond did not start: {''.join(lines)}\n{self.log_path.read_text()}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def request(self, method, path, body=None, key="demo-key", headers=None, port=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", port or self.gw_port, timeout=timeout)
        h = {}
        if key is not None:
            h["X-API-Key"] = key
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)

    def control(self, method, path, body=None, key="demo-key", headers=None):
        return self.request(method, path, body, key, headers, port=self.ctl_port)

    def submit(self, intent, params, key="demo-key", **extra):
        body = {"schemaVersion": "1.0", "intent": intent, "params": params, **extra}
        return self.request("POST", "/v1/tasks", body, key=key)

    def wait(self, task_id, key="demo-key", timeout=30, statuses=("succeeded", "failed", "canceled", "expired")):
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = self.request("GET", f"/v1/tasks/{task_id}", key=key)
            assert r.status == 200, r
            if r.json["status"] in statuses:
                return r.json
            time.sleep(0.02)
        raise AssertionError(f"task {task_id} not in {statuses} after {timeout}s: {r.json}")

    def sse(self, task_id, key="demo-key", last_event_id=None, timeout=30):
        """Reads an SSE stream to its end; returns (events, comments, headers)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.gw_port, timeout=timeout)
        h = {"X-API-Key": key, "Accept": "text/event-stream"}
        if last_event_id is not None:
            h["Last-Event-ID"] = str(last_event_id)
        conn.request("GET", f"/v1/stream/{task_id}", headers=h)
        r = conn.getresponse()
        if r.status != 200:
            return r.status, r.read(), None
        events, comments, cur = [], [], {}
        while True:
            line = r.fp.readline()
            if not line:
                break
            line = line.decode().rstrip("\n")
            if line == "":
                if "data" in cur:
                    cur["json"] = json.loads(cur["data"])
                    events.append(cur)
                cur = {}
            elif line.startswith(":"):
                comments.append(line)
            else:
                field, _, value = line.partition(": ")
                cur[field] = cur[field] + "\n" + value if field == "data" and field in cur else value
        conn.close()
        return events, comments, {k.lower(): v for k, v in r.getheaders()}


class Split:
    """aiond with its roles apart: one --role control and `gateways` x --role
    gateway that reach it over gRPC (docs/roles.md). Quacks like Aiond: the
    public surfaces are the first gateway's, control() is the control role's."""

    def __init__(self, tmp: Path, env=None, gateways=1, control_env=None, gateway_env=None, modhost=False,
                 modhost_env=None):
        # modhost: modules run in a third process, --role modhost, that the control role reaches
        self.modhost = Aiond(tmp / "modhost", {**(env or {}), **(modhost_env or {})}, role="modhost") \
            if modhost else None
        self.control_node = Aiond(tmp / "control", {**(env or {}), **(control_env or {})}, role="control")
        self.gateways = [Aiond(tmp / f"gateway{i}", {**(env or {}), **(gateway_env or {})}, role="gateway")
                         for i in range(gateways)]

    def start(self, timeout=20):
        if self.modhost:
            self.modhost.tmp.mkdir(parents=True, exist_ok=True)
            self.modhost.start(timeout)
            self.control_node.extra_env.setdefault("AION_MODHOST_GRPC", f"127.0.0.1:{self.modhost.internal_port}")
        self.control_node.start(timeout)
        for g in self.gateways:
            g.tmp.mkdir(parents=True, exist_ok=True)
            g.extra_env.setdefault("AION_CONTROL_GRPC", f"127.0.0.1:{self.control_node.internal_port}")
            g.start(timeout)
        # A gateway serves once its Watch stream has the control plane's first
        # snapshot, which it logs (read the log: the listener may be HTTPS).
        deadline = time.time() + timeout
        for g in self.gateways:
            while "control plane at 127.0.0.1" not in g.log_path.read_text() or \
                    ": connected" not in g.log_path.read_text():
                if time.time() > deadline:
                    raise RuntimeError(f"gateway on :{g.gw_port} not connected: {g.log_path.read_text()[-2000:]}")
                time.sleep(0.05)
        return self

    def stop(self):
        for g in self.gateways:
            g.stop()
        self.control_node.stop()
        if self.modhost:
            self.modhost.stop()

    def kill9(self):
        self.control_node.kill9()

    @property
    def ctl_port(self):
        return self.control_node.ctl_port

    @property
    def policy_dir(self):
        return self.control_node.policy_dir

    @property
    def data_dir(self):
        return self.control_node.data_dir

    def control(self, method, path, body=None, key="demo-key", headers=None):
        return self.control_node.request(method, path, body, key, headers, port=self.ctl_port)

    def __getattr__(self, name):  # gw_port, grpc_port, request, submit, wait, sse, ...
        return getattr(self.gateways[0], name)


def _require_build():
    if not AIOND.exists():
        pytest.exit(f"{AIOND} not built: run ./scripts/build.sh", returncode=2)
    for m in (MODULES / "summarize.wasm", TEST_MODULES / "spin.wasm"):
        if not m.exists():
            pytest.exit(f"{m} not built: run ./scripts/build.sh", returncode=2)


@pytest.fixture
def make_aiond(tmp_path):
    _require_build()
    started = []

    def make(env=None, subdir="node", role=None):
        a = Aiond(tmp_path / subdir, env, role)
        a.tmp.mkdir(parents=True, exist_ok=True)
        started.append(a)
        return a

    yield make
    for a in started:
        a.stop()


@pytest.fixture(params=["embedded", "split", "split3"])
def make_node(request, tmp_path):
    """Like make_aiond, for the embedded profile, with gateway and control
    apart (Split), and with the module host apart too (split3): for the
    properties every topology must keep."""
    _require_build()
    started = []

    def make(env=None, subdir="node"):
        tmp = tmp_path / subdir
        tmp.mkdir(parents=True, exist_ok=True)
        a = Aiond(tmp, env) if request.param == "embedded" else Split(tmp, env, modhost=request.param == "split3")
        started.append(a)
        return a

    yield make
    for a in started:
        a.stop()


@pytest.fixture
def aiond(make_aiond):
    return make_aiond().start()


@pytest.fixture
def fake():
    """The loopback stand-in for paid model providers (tests/e2e/fake_provider/)."""
    from fake_provider import FakeProvider
    f = FakeProvider().start()
    yield f
    f.stop()


def openai_env(fake, **extra):
    """aiond's openai provider pointed at `fake`."""
    return {"OPENAI_BASE_URL": fake.url + "/v1", "OPENAI_API_KEY": fake.api_key, **extra}


@pytest.fixture
def redis_url(tmp_path):
    """A real redis-server on a free loopback port, stopped after the test."""
    exe = shutil.which("redis-server")
    if not exe:
        pytest.fail("redis-server is not installed (scripts/install-deps.sh installs it)")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    url = f"redis://127.0.0.1:{port}/0"
    url_proc = type("RedisServer", (), {"url": url, "proc": proc, "port": port})
    yield url_proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()
