"""TLS on every listener (AION_TLS_CERT / AION_TLS_KEY), optional mutual TLS
(AION_TLS_CLIENT_CA), and clear start-up failures for bad certificate files."""
import http.client
import json
import re
import socket
import ssl
import subprocess

import pytest
import websocket  # websocket-client

from conftest import Aiond
from test_grpc import GRPCURL, SEED, objects


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A throw-away CA, a server certificate for 127.0.0.1/localhost signed by
    it, a client certificate, and an unrelated key."""
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=aion test CA", "-days", "2", cwd=d)
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
                      ("client", "extendedKeyUsage=clientAuth")):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        (d / f"{name}.ext").write_text(ext + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "other.key", cwd=d)
    # An RSA server certificate too: static-RSA and ECDHE-RSA suites are only
    # offered by a server with an RSA key.
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server-rsa.key", "-out", "server-rsa.csr",
            "-subj", "/CN=server-rsa", cwd=d)
    openssl("x509", "-req", "-in", "server-rsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server-rsa.pem", "-days", "2", "-extfile", "server.ext", cwd=d)
    return d


def tls_env(pki, **extra):
    return {"AION_TLS_CERT": str(pki / "server.pem"), "AION_TLS_KEY": str(pki / "server.key"), **extra}


def client_ctx(pki, cert=False):
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if cert:
        ctx.load_cert_chain(str(pki / "client.pem"), str(pki / "client.key"))
    return ctx


def https(a, pki, method, path, body=None, port=None, cert=False, key="demo-key"):
    conn = http.client.HTTPSConnection("127.0.0.1", port or a.gw_port, timeout=20, context=client_ctx(pki, cert))
    h = {"X-API-Key": key}
    if body is not None:
        body = json.dumps(body)
        h["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, json.loads(data) if data else None


def grpcurl_tls(a, pki, method, data=None, cert=False):
    args = [GRPCURL, "-cacert", str(pki / "ca.pem"), "-H", "x-api-key: demo-key"]
    if cert:
        args += ["-cert", str(pki / "client.pem"), "-key", str(pki / "client.key")]
    if data is not None:
        args += ["-d", data]
    args += [f"127.0.0.1:{a.grpc_port}", method]
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def test_https_sse_websocket_and_grpc_over_tls(make_aiond, pki):
    a = make_aiond(tls_env(pki)).start()
    assert https(a, pki, "GET", "/healthz")[0] == 200
    assert https(a, pki, "GET", "/readyz", port=a.ctl_port)[0] == 200
    status, body = https(a, pki, "POST", "/v1/tasks",
                         {"schemaVersion": "1.0", "intent": "summarize", "params": {"text": "One. Two is here."}})
    assert status == 202, body
    task_id = body["taskId"]

    # SSE over TLS, to the end of the stream
    conn = http.client.HTTPSConnection("127.0.0.1", a.gw_port, timeout=20, context=client_ctx(pki))
    conn.request("GET", f"/v1/stream/{task_id}", headers={"X-API-Key": "demo-key"})
    r = conn.getresponse()
    assert r.status == 200
    stream = r.read().decode()  # the server closes after `done`
    assert "event: done" in stream and "event: result" in stream

    # WebSocket over TLS
    ws = websocket.create_connection(f"wss://127.0.0.1:{a.gw_port}/v1/ws", header=["X-API-Key: demo-key"],
                                     timeout=10, sslopt={"ca_certs": str(pki / "ca.pem")})
    assert json.loads(ws.recv())["type"] == "authenticated"
    ws.send(json.dumps({"type": "subscribe", "id": "s", "taskId": task_id, "afterSeq": 0}))
    types = []
    while "done" not in types:
        m = json.loads(ws.recv())
        if m["type"] == "event":
            types.append(m["event"]["type"])
    ws.close()

    # gRPC over TLS with reflection (no -plaintext)
    rc, out, err = grpcurl_tls(a, pki, "aion.v1.AionTasks/Submit", SEED)
    assert rc == 0, err
    assert objects(out)[0]["task_id"]


def test_plain_http_on_tls_port_gets_a_clear_answer(make_aiond, pki):
    a = make_aiond(tls_env(pki)).start()
    conn = http.client.HTTPConnection("127.0.0.1", a.gw_port, timeout=10)
    conn.request("GET", "/healthz")
    r = conn.getresponse()
    assert r.status == 400
    assert "HTTPS" in json.loads(r.read())["error"]["message"]
    # an untrusted client aborts the handshake; the server keeps serving
    with pytest.raises(ssl.SSLError):
        conn = http.client.HTTPSConnection("127.0.0.1", a.gw_port, timeout=10,
                                           context=ssl.create_default_context())
        conn.request("GET", "/healthz")
    assert https(a, pki, "GET", "/healthz")[0] == 200


def test_garbage_handshake_does_not_hurt_the_server(make_aiond, pki):
    a = make_aiond(tls_env(pki)).start()
    for payload in (b"\x16\x03\x01\x00\x05hello", b"\x16" + b"\xff" * 4000, b"\x16"):
        s = socket.create_connection(("127.0.0.1", a.gw_port), timeout=5)
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        try:
            s.recv(4096)
        except OSError:
            pass
        s.close()
    assert https(a, pki, "GET", "/healthz")[0] == 200


def test_mutual_tls_requires_a_client_certificate(make_aiond, pki):
    a = make_aiond(tls_env(pki, AION_TLS_CLIENT_CA=str(pki / "ca.pem"))).start()
    assert https(a, pki, "GET", "/healthz", cert=True)[0] == 200
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        https(a, pki, "GET", "/healthz", cert=False)
    rc, out, err = grpcurl_tls(a, pki, "aion.v1.AionTasks/Submit", SEED, cert=True)
    assert rc == 0, err
    rc, out, err = grpcurl_tls(a, pki, "aion.v1.AionTasks/Submit", SEED, cert=False)
    assert rc != 0


def start_fails(tmp_path, env):
    a = Aiond(tmp_path / "bad", env)
    a.tmp.mkdir(parents=True, exist_ok=True)
    a.gw_port = a.ctl_port = None
    from conftest import AIOND, free_port
    a.gw_port, a.ctl_port, a.grpc_port = free_port(), free_port(), free_port()
    p = subprocess.run([str(AIOND)], env=a.env(), capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    return p.stderr


def test_bad_tls_files_fail_start_up_clearly(tmp_path, pki):
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    (tmp_path / "broken.pem").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    cert, key = str(pki / "server.pem"), str(pki / "server.key")
    cases = [
        ({"AION_TLS_CERT": "/nonexistent/cert.pem", "AION_TLS_KEY": key}, "AION_TLS_CERT: cannot read"),
        ({"AION_TLS_CERT": cert, "AION_TLS_KEY": "/nonexistent/key.pem"}, "AION_TLS_KEY: cannot read"),
        ({"AION_TLS_CERT": str(tmp_path / "junk.pem"), "AION_TLS_KEY": key}, "not a PEM file"),
        ({"AION_TLS_CERT": str(tmp_path / "broken.pem"), "AION_TLS_KEY": key}, "AION_TLS_CERT:"),
        ({"AION_TLS_CERT": cert, "AION_TLS_KEY": str(pki / "other.key")}, "does not match the certificate"),
        ({"AION_TLS_CERT": cert}, "set both AION_TLS_CERT and AION_TLS_KEY"),
        ({"AION_TLS_CLIENT_CA": str(pki / "ca.pem")}, "AION_TLS_CLIENT_CA: needs"),
    ]
    for env, expected in cases:
        err = start_fails(tmp_path, env)
        assert expected in err, (env, err)


def s_client(pki, port, *args, cert=False):
    """One `openssl s_client` handshake; returns (protocol, cipher), or None
    when no cipher was agreed (the handshake failed)."""
    cmd = ["openssl", "s_client", "-brief", "-connect", f"127.0.0.1:{port}", "-CAfile", str(pki / "ca.pem"),
           "-verify_return_error", *args]
    if cert:
        cmd += ["-cert", str(pki / "client.pem"), "-key", str(pki / "client.key")]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    out = p.stderr.decode(errors="replace")  # -brief reports there
    if p.returncode != 0 or "CONNECTION ESTABLISHED" not in out:
        return None
    return (re.search(r"Protocol version: (\S+)", out).group(1),
            re.search(r"Ciphersuite: (\S+)", out).group(1))


# What a client may offer that every listener must refuse. The client side
# drops to security level 0 so it really offers them (OpenSSL 3 clients do
# not offer TLS 1.0/1.1 at the default level).
OLD_PROTOCOLS = [("-tls1", "-cipher", "DEFAULT@SECLEVEL=0"), ("-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")]
WEAK_TLS12_CIPHERS = [
    "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384",  # CBC, SHA-1/SHA-2 MAC
    "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384",
    "AES128-SHA", "AES256-SHA256", "AES128-GCM-SHA256",      # static RSA: no forward secrecy
    "DHE-RSA-AES128-GCM-SHA256",                             # finite-field DHE
]
AEAD_TLS12 = re.compile(r"^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$")
TLS13_SUITES = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}


def assert_modern_only(pki, port, cert=False):
    for offer in OLD_PROTOCOLS:
        assert s_client(pki, port, *offer, cert=cert) is None, (port, offer)
    for cipher in WEAK_TLS12_CIPHERS:
        got = s_client(pki, port, "-tls1_2", "-cipher", f"{cipher}:@SECLEVEL=0", cert=cert)
        assert got is None, (port, cipher, got)
    # gRPC needs ALPN h2; the HTTP listeners take http/1.1.
    proto, cipher = s_client(pki, port, "-tls1_2", "-alpn", "h2,http/1.1", cert=cert) or (None, None)
    assert proto == "TLSv1.2" and AEAD_TLS12.match(cipher), (port, proto, cipher)
    proto, cipher = s_client(pki, port, "-tls1_3", "-alpn", "h2,http/1.1", cert=cert) or (None, None)
    assert proto == "TLSv1.3" and cipher in TLS13_SUITES, (port, proto, cipher)


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_only_tls12_and_13_with_forward_secret_aead_ciphers(make_aiond, pki, key_type):
    """Every public listener (gateway, control, gRPC) refuses TLS 1.0/1.1,
    CBC and static-RSA suites; TLS 1.2 agrees an ECDHE AEAD suite; TLS 1.3 works."""
    name = "server" if key_type == "ec" else "server-rsa"
    a = make_aiond({"AION_TLS_CERT": str(pki / f"{name}.pem"), "AION_TLS_KEY": str(pki / f"{name}.key")}).start()
    for port in (a.gw_port, a.ctl_port, a.grpc_port):
        assert_modern_only(pki, port)


def test_internal_grpc_tls_is_modern_only(make_aiond, pki):
    """The control role's internal gRPC port (mutual TLS between roles)."""
    a = make_aiond({"AION_INTERNAL_TLS_CERT": str(pki / "server.pem"),
                    "AION_INTERNAL_TLS_KEY": str(pki / "server.key"),
                    "AION_INTERNAL_TLS_CA": str(pki / "ca.pem")}, role="control").start()
    assert_modern_only(pki, a.internal_port, cert=True)
