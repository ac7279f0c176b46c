"""FakeProvider: the stand-in's settings, script queue and request log, served by a
threaded HTTP(S) server on 127.0.0.1 (TLS handshakes on each connection's own thread)."""
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import traceback
from http.server import ThreadingHTTPServer
from pathlib import Path

from .handler import _Handler


def make_self_signed_cert(directory):
    """A throwaway certificate for 127.0.0.1/localhost; returns (cert_path, key_path)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    cert, key = d / "fake-provider.crt", d / "fake-provider.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-days", "1"],
                   check=True, capture_output=True, timeout=60)
    return str(cert), str(key)


class FakeProvider:
    def __init__(self, tls_cert=None, tls_key=None):
        self.api_key = "sk-test"          # OpenAI / vLLM bearer key
        self.azure_key = "azure-test"     # Azure api-key header
        self.hf_token = "hf_test"         # TGI bearer token (also accepted on /v1, TGI's Messages API)
        self.require_auth = True          # False: a /v1 request without Authorization is served (vLLM)
        self.ollama_models = ["llama3.2"]
        self.openai_models = ["gpt-4o-mini", "text-embedding-3-small"]
        self.azure_deployments = None     # None: any deployment name exists
        self.known_models_only = False    # True: /v1 chat and embeddings 404 a model not in openai_models
        self.token_delay = 0.0            # seconds between streamed tokens
        self.stall_timeout = 30.0
        self.requests = []                # every request, in arrival order
        self.stored_responses = {}        # Responses API: id -> its conversation, for previous_response_id
        self.errors = []                  # tracebacks of bugs in the fake itself
        self.inflight = 0                 # requests being answered now
        self.max_inflight = 0
        self._steps = []
        self._lock = threading.Lock()
        self._conns = set()
        self._stopping = threading.Event()
        self._thread = None
        ctx = None
        if tls_cert or tls_key:
            if not (tls_cert and tls_key):
                raise ValueError("TLS needs both a certificate and a key")
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(tls_cert), str(tls_key))
            ctx.set_alpn_protocols(["http/1.1"])
        self._server = _Server(self, ctx)
        self.port = self._server.server_address[1]
        self.url = f"{'https' if ctx else 'http'}://127.0.0.1:{self.port}"

    # -- control ---------------------------------------------------------------
    def start(self):
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"fake-provider-{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self):
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:  # wakes handlers blocked on idle keep-alive reads
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def script(self, *steps):
        for s in steps:
            if not isinstance(s, dict):
                raise TypeError(f"a script step is a dict, not {s!r}")
        with self._lock:
            self._steps.extend(dict(s) for s in steps)

    def reset(self):
        with self._lock:
            self._steps.clear()
            self.requests.clear()
            self.max_inflight = self.inflight

    def pending_steps(self):
        with self._lock:
            return len(self._steps)

    def chat_requests(self):
        """Requests that carried a JSON body (model calls, not listings)."""
        with self._lock:
            return [r for r in self.requests if r["json"] is not None]

    def wait_for_requests(self, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= n:
                    return list(self.requests)
            time.sleep(0.01)
        raise AssertionError(f"fake provider saw {len(self.requests)} requests, expected {n}")

    @property
    def open_connections(self):
        with self._lock:
            return len(self._conns)

    # -- used by the handler ---------------------------------------------------
    def _record(self, entry):
        with self._lock:
            self.requests.append(entry)
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)

    def _done(self):
        with self._lock:
            self.inflight -= 1

    def _next_step(self):
        with self._lock:
            return self._steps.pop(0) if self._steps else {}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, provider, ssl_context):
        self.provider = provider
        self.ssl_context = ssl_context
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self):  # HTTPServer.server_bind would do a reverse DNS lookup
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, on the connection's own thread, so a
        # client that never handshakes cannot block the accept loop.
        p = self.provider
        conn = request
        if self.ssl_context is not None:
            request.settimeout(10)
            try:
                conn = self.ssl_context.wrap_socket(request, server_side=True)
            except (OSError, ValueError):
                return  # e.g. the client refused our certificate
        with p._lock:
            p._conns.add(conn)
        handler = None
        try:
            handler = self.RequestHandlerClass(conn, client_address, self)
        finally:
            with p._lock:
                p._conns.discard(conn)
            if conn is not request:
                if handler is not None and not handler.abrupt:
                    try:  # polite TLS close_notify
                        conn.settimeout(0.2)
                        conn.unwrap()
                    except (OSError, ValueError):
                        pass
                try:
                    conn.close()
                except OSError:
                    pass

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            return  # the client went away mid-answer: expected in these tests
        tb = traceback.format_exc()
        with self.provider._lock:
            self.provider.errors.append(tb)
        sys.stderr.write(f"fake provider error:\n{tb}")
