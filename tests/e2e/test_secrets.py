"""No configured secret reaches aiond's logs, its stdout, its data directory
or Redis: API keys (and a wrong key a client presents), provider keys, the
Redis password, TLS private keys and a PostgreSQL password. A representative
workload runs against aiond with all of them set (REST submit with
Idempotency-Key, SSE, WebSocket, gRPC, the OpenAI API with a provider error and
a provider 401, a 401 for a wrong key on every surface, the control plane),
then restarts with bad configurations that mention the secrets; everything
aiond wrote is then searched for each secret. Text and JSON logs at debug
level; the embedded profile and the roles apart."""
import http.client
import json
import secrets as pysecrets
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
import websocket  # websocket-client

import conftest
from conftest import AIOND, Split, free_port, openai_env
from test_grpc import GRPCURL
from test_tls import pki  # noqa: F401  (the fixture: a CA, server and client certificates, another key)

SUMMARY_TEXT = "Secrets stay out of logs. Keys are digests. Nothing else is kept."


def secret(prefix):
    """A distinctive value that can be searched for (API key alphabet)."""
    return prefix + pysecrets.token_hex(16)


class _Tee:
    """aiond's stdout as conftest reads it, with a copy of every line kept."""

    def __init__(self, f, sink):
        self._f, self._sink = f, sink

    def readline(self, *a):
        line = self._f.readline(*a)
        self._sink.append(line.decode(errors="replace"))
        return line

    def read(self, *a):
        data = self._f.read(*a)
        self._sink.append(data.decode(errors="replace"))
        return data

    def __getattr__(self, name):
        return getattr(self._f, name)


@pytest.fixture
def stdout_of_aiond(monkeypatch):
    """Everything every aiond started by this test printed on stdout. conftest
    reads stdout to see that aiond is ready; Popen is wrapped to keep a copy."""
    sink = []
    real = subprocess.Popen

    class TeePopen(real):
        def __init__(self, args, *a, **kw):
            super().__init__(args, *a, **kw)
            if isinstance(args, list) and args and args[0] == str(AIOND) and self.stdout is not None:
                self.stdout = _Tee(self.stdout, sink)

    monkeypatch.setattr(conftest.subprocess, "Popen", TeePopen)
    return sink


@pytest.fixture
def redis_pw(tmp_path):
    """redis-server with --requirepass on a free port; yields (url, password, port)."""
    exe = shutil.which("redis-server")
    if not exe:
        pytest.fail("redis-server is not installed (scripts/install-deps.sh installs it)")
    password, port = secret("redispw"), free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path), "--requirepass", password],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://:{password}@127.0.0.1:{port}/0", password, port
    proc.kill()
    proc.wait()


def pem_secrets(path):
    """The base64 lines of a PEM private key: any one of them in a log is a leak."""
    return [ln for ln in Path(path).read_text().splitlines() if ln and not ln.startswith("-----")]


class Secrets:
    def __init__(self, fake, redis, pki):
        self.admin_key, self.user_key = secret("adminkey"), secret("userkey")
        self.wrong_key = secret("wrongkey")  # presented by a client, configured nowhere
        self.provider_key = secret("sk-prov")
        self.azure_key, self.hf_token, self.vllm_key = secret("azkey"), secret("hf_tok"), secret("vllmkey")
        self.pg_password = secret("pgpw")
        self.wrong_redis_password = secret("redisbad")
        self.redis_url, self.redis_password, self.redis_port = redis
        fake.api_key = self.provider_key
        self.pki = pki

    def env(self, fake):
        return {**openai_env(fake),
                "AION_GATEWAY_API_KEYS": f"{self.admin_key}:admin|manager,{self.user_key}:user",
                "AZURE_OPENAI_API_KEY": self.azure_key, "HF_TOKEN": self.hf_token, "VLLM_API_KEY": self.vllm_key,
                "AION_CONTROL_REDIS_URL": self.redis_url,
                "AION_RATE_LIMIT_MAX": "100000",  # counted in Redis
                "AION_TLS_CERT": str(self.pki / "server.pem"), "AION_TLS_KEY": str(self.pki / "server.key"),
                "AION_LOG_LEVEL": "debug"}

    def values(self):
        """(kind, value) of every secret, and of its middle third (a truncated
        copy is a leak too)."""
        whole = [("admin API key", self.admin_key), ("user API key", self.user_key),
                 ("presented wrong key", self.wrong_key), ("OPENAI_API_KEY", self.provider_key),
                 ("AZURE_OPENAI_API_KEY", self.azure_key), ("HF_TOKEN", self.hf_token),
                 ("VLLM_API_KEY", self.vllm_key), ("PostgreSQL password", self.pg_password),
                 ("Redis password", self.redis_password), ("wrong Redis password", self.wrong_redis_password)]
        whole += [("server TLS key", ln) for ln in pem_secrets(self.pki / "server.key")]
        whole += [("client TLS key", ln) for ln in pem_secrets(self.pki / "client.key")]
        return whole + [(kind + " (part)", v[len(v) // 3: 2 * len(v) // 3]) for kind, v in whole if len(v) >= 30]


# -- the workload, over TLS ------------------------------------------------------------

def tls_ctx(pki):
    return ssl.create_default_context(cafile=str(pki / "ca.pem"))


def call(node, pki, method, path, body=None, key=None, port=None, headers=None):
    conn = http.client.HTTPSConnection("127.0.0.1", port or node.gw_port, timeout=30, context=tls_ctx(pki))
    h = dict(headers or {})
    if key is not None:
        h["X-API-Key"] = key
    if body is not None:
        body = json.dumps(body)
        h["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data


def grpcurl(node, pki, key, data, method="aion.v1.AionTasks/Submit"):
    p = subprocess.run([GRPCURL, "-cacert", str(pki / "ca.pem"), "-H", f"x-api-key: {key}", "-d", data,
                        f"127.0.0.1:{node.grpc_port}", method], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def run_workload(node, s, fake):
    pki = s.pki
    task = {"schemaVersion": "1.0", "intent": "summarize", "params": {"text": SUMMARY_TEXT}}
    # REST submit, twice with one Idempotency-Key (kept in Redis), then SSE to the end
    st, body = call(node, pki, "POST", "/v1/tasks", task, key=s.user_key, headers={"Idempotency-Key": "idem-1"})
    assert st == 202, body
    task_id = json.loads(body)["taskId"]
    st, again = call(node, pki, "POST", "/v1/tasks", task, key=s.user_key, headers={"Idempotency-Key": "idem-1"})
    assert st == 202 and json.loads(again)["taskId"] == task_id, again
    st, stream = call(node, pki, "GET", f"/v1/stream/{task_id}", key=s.user_key)
    assert st == 200 and b"event: done" in stream, stream
    assert call(node, pki, "GET", f"/v1/tasks/{task_id}", key=s.user_key)[0] == 200

    # The OpenAI API: plain, streamed (Bearer), a provider error, a provider 401
    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}
    st, body = call(node, pki, "POST", "/v1/chat/completions", chat, key=s.user_key)
    assert st == 200 and b"echo: hello there" in body, body
    st, body = call(node, pki, "POST", "/v1/chat/completions", {**chat, "stream": True},
                    headers={"Authorization": f"Bearer {s.user_key}"})
    assert st == 200 and b"[DONE]" in body, body
    fake.script({"status": 400, "message": "provider refuses this"})
    st, body = call(node, pki, "POST", "/v1/chat/completions", chat, key=s.user_key)
    assert st == 400, body
    fake.api_key = secret("sk-rotated")  # aiond's key is now wrong: the provider answers 401
    try:
        st, body = call(node, pki, "POST", "/v1/chat/completions", chat, key=s.user_key)
        assert st >= 400 and b"401" in body, body
    finally:
        fake.api_key = s.provider_key
    fake.reset()

    # A wrong key on every surface: 401, and the key is not repeated anywhere
    assert call(node, pki, "GET", "/v1/tasks", key=s.wrong_key)[0] == 401
    assert call(node, pki, "POST", "/v1/chat/completions", chat,
                headers={"Authorization": f"Bearer {s.wrong_key}"})[0] == 401
    assert call(node, pki, "POST", "/v1/router/decide", {"intent": "summarize", "params": {"text": "x"}},
                key=s.wrong_key, port=node.ctl_port)[0] == 401
    rc, out = grpcurl(node, pki, s.wrong_key, json.dumps({"schema_version": "1.0", "intent": "summarize",
                                                          "params": {"text": "x"}}))
    assert rc != 0 and "Unauthenticated" in out, out
    ws = websocket.create_connection(f"wss://127.0.0.1:{node.gw_port}/v1/ws", timeout=10,
                                     sslopt={"ca_certs": str(pki / "ca.pem")})
    ws.send(json.dumps({"type": "auth", "apiKey": s.wrong_key}))
    with pytest.raises(Exception):
        while True:
            m = json.loads(ws.recv())
            assert m["type"] != "authenticated", m
    ws.close()

    # WebSocket and gRPC with a good key
    ws = websocket.create_connection(f"wss://127.0.0.1:{node.gw_port}/v1/ws", timeout=10,
                                     sslopt={"ca_certs": str(pki / "ca.pem")})
    ws.send(json.dumps({"type": "auth", "apiKey": s.user_key}))
    assert json.loads(ws.recv())["type"] == "authenticated"
    ws.send(json.dumps({"type": "submit", "id": "w", "subscribe": True, "task": task}))
    types = []
    while "done" not in types:
        m = json.loads(ws.recv())
        if m["type"] == "event":
            types.append(m["event"]["type"])
    ws.close()
    rc, out = grpcurl(node, pki, s.user_key, json.dumps({"schema_version": "1.0", "intent": "summarize",
                                                         "params": {"text": SUMMARY_TEXT}}))
    assert rc == 0, out

    # The control plane with the admin key
    st, body = call(node, pki, "POST", "/v1/router/decide", {"intent": "summarize", "params": {"text": "x"}},
                    key=s.admin_key, port=node.ctl_port)
    assert st == 200, body
    assert call(node, pki, "GET", "/v1/usage", key=s.admin_key, port=node.ctl_port)[0] == 200


def bad_starts(node_env, s, pki, role=None):
    """Start-ups that must fail, each with a secret in the bad value; returns
    what they printed."""
    pg = s.pg_password
    cases = [
        {"AION_GATEWAY_API_KEYS": f"{s.admin_key}:wizard"},
        {"AION_GATEWAY_API_KEYS": f"{s.admin_key}:admin,{s.admin_key}:user"},
        {"AION_GATEWAY_API_KEYS": f"{s.admin_key}!:admin"},
        {"AION_GATEWAY_API_KEYS": f"{s.user_key}:user:bad tenant {s.admin_key}"},
        {"AION_CONTROL_REDIS_URL": f"redis://:{s.redis_password}@127.0.0.1:notaport/0"},
        {"AION_CONTROL_REDIS_URL": f"rediss://:{s.redis_password}@127.0.0.1:{s.redis_port}/0"},
        {"AION_TLS_KEY": str(pki / "other.key")},
        {"AION_TLS_CERT": str(pki / "server.key")},
    ]
    if role != "gateway":  # the store is the control plane's
        cases += [
            {"AION_CONTROL_POSTGRES_DSN": f"postgresql://aion:{pg}%zz@127.0.0.1:1/aion"},
            {"AION_CONTROL_POSTGRES_DSN": f"postgresql://aion:{pg}@[::1/aion"},
            {"AION_CONTROL_POSTGRES_DSN": f"host=127.0.0.1 port=1 password={pg} junk{pg}"},
            {"AION_CONTROL_POSTGRES_DSN": f"host=127.0.0.1 port=1 connect_timeout=2 password={pg}"},
        ]
    printed = []
    for bad in cases:
        cmd = [str(AIOND)] + (["--role", role] if role else [])
        p = subprocess.run(cmd, env={**node_env, **bad}, capture_output=True, text=True, timeout=60)
        assert p.returncode != 0, (bad, p.stdout, p.stderr)
        printed.append(f"--- {sorted(bad)}\n{p.stdout}{p.stderr}")
    return printed


def redis_contents(s):
    """Every key and value in Redis (rate-limit counters, idempotency records)."""
    cli = ["redis-cli", "-p", str(s.redis_port), "-a", s.redis_password, "--no-auth-warning"]
    keys = subprocess.run(cli + ["--scan"], capture_output=True, text=True, timeout=30, check=True).stdout.split()
    out = list(keys)
    for k in keys:
        kind = subprocess.run(cli + ["TYPE", k], capture_output=True, text=True, timeout=30).stdout.strip()
        op = {"string": ["GET"], "hash": ["HGETALL"], "zset": ["ZRANGE", k, "0", "-1"], "list": ["LRANGE", k, "0", "-1"],
              "set": ["SMEMBERS"]}.get(kind, ["TYPE"])
        args = op if len(op) > 1 else op + [k]
        out.append(subprocess.run(cli + args, capture_output=True, text=True, timeout=30).stdout)
    assert out, "the workload left nothing in Redis: the test would not see a leak there"
    return "\n".join(out)


def files_under(d):
    return {str(p): p.read_bytes() for p in Path(d).rglob("*") if p.is_file()}


def assert_no_secret(s, where):
    """`where`: name -> text or bytes. Fails naming the secret's kind and
    showing where it is, with the value itself masked."""
    for name, content in where.items():
        blob = content if isinstance(content, bytes) else content.encode()
        for kind, v in s.values():
            at = blob.find(v.encode())
            if at >= 0:
                around = blob[max(0, at - 120): at + len(v) + 120].replace(v.encode(), b"<SECRET>")
                pytest.fail(f"{kind} appears in {name}: ...{around!r}...")


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_secret_in_logs_stdout_data_or_redis(make_aiond, fake, redis_pw, pki, stdout_of_aiond, log_format):
    s = Secrets(fake, redis_pw, pki)
    node = make_aiond({**s.env(fake), "AION_LOG_FORMAT": log_format}).start()
    run_workload(node, s, fake)
    node.stop()
    node.proc.stdout.read()
    printed = bad_starts(node.env(), s, pki)
    # Redis refuses the password: aiond serves on, degraded, and says so
    good_redis = node.extra_env["AION_CONTROL_REDIS_URL"]
    node.extra_env["AION_CONTROL_REDIS_URL"] = good_redis.replace(s.redis_password, s.wrong_redis_password)
    node.start()
    task = {"schemaVersion": "1.0", "intent": "summarize", "params": {"text": SUMMARY_TEXT}}
    st, body = call(node, pki, "POST", "/v1/tasks", task, key=s.user_key, headers={"Idempotency-Key": "idem-2"})
    assert st == 202, body
    node.stop()
    node.proc.stdout.read()
    node.extra_env["AION_CONTROL_REDIS_URL"] = good_redis
    node.start()  # the good configuration again
    assert call(node, pki, "GET", "/healthz")[0] == 200
    node.stop()
    node.proc.stdout.read()

    log = node.log_path.read_text()
    assert "redis unavailable" in log and "WRONGPASS" in log, log[-2000:]
    if log_format == "json":  # request and task events were written
        assert '"event":"request"' in log and '"status":401' in log and '"event":"task"' in log
    assert "aiond ready" in "".join(stdout_of_aiond)
    where = {"aiond log": log, "aiond stdout": "".join(stdout_of_aiond), "failed start-ups": "\n".join(printed),
             "redis": redis_contents(s)}
    where.update(files_under(node.data_dir))
    assert_no_secret(s, where)


def test_no_secret_in_logs_with_the_roles_apart(tmp_path, fake, redis_pw, pki, stdout_of_aiond):
    s = Secrets(fake, redis_pw, pki)
    internal_server = {"AION_INTERNAL_TLS_CERT": str(pki / "server.pem"),
                       "AION_INTERNAL_TLS_KEY": str(pki / "server.key"),
                       "AION_INTERNAL_TLS_CA": str(pki / "ca.pem")}
    internal_client = {"AION_INTERNAL_TLS_CERT": str(pki / "client.pem"),
                       "AION_INTERNAL_TLS_KEY": str(pki / "client.key"),
                       "AION_INTERNAL_TLS_CA": str(pki / "ca.pem")}
    node = Split(tmp_path / "split", {**s.env(fake), "AION_LOG_FORMAT": "json"},
                 control_env=internal_server, gateway_env=internal_client)
    try:
        node.start()
        run_workload(node, s, fake)
    finally:
        node.stop()
    printed = []
    for n in (node.control_node, node.gateways[0]):
        n.proc.stdout.read()
        printed += bad_starts(n.env(), s, pki, role=n.role)
    assert "".join(stdout_of_aiond).count("aiond ready") == 2
    where = {"failed start-ups": "\n".join(printed), "stdout": "".join(stdout_of_aiond), "redis": redis_contents(s)}
    for n in (node.control_node, node.gateways[0]):
        where[f"{n.role} log"] = n.log_path.read_text()
        where.update(files_under(n.data_dir))
    assert_no_secret(s, where)
