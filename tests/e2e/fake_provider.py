"""A loopback stand-in for paid model providers, for end-to-end tests of
aionOS's real provider clients. Python standard library only.

It speaks each provider's own wire protocol:

  OpenAI / vLLM / TGI Messages API (Authorization: Bearer <key>)
    POST /v1/chat/completions   chat.completion, or SSE `data: {chat.completion.chunk}`
                                frames ending `data: [DONE]`; with
                                stream_options.include_usage every chunk carries
                                "usage": null and a last chunk has choices: [] + usage
    POST /v1/completions        text_completion (default max_tokens 16, as OpenAI)
    POST /v1/embeddings         deterministic unit vectors (dim 8, or `dimensions`),
                                encoding_format float or base64
    GET  /v1/models[/{id}]
  Azure OpenAI (api-key header, ?api-version=YYYY-MM-DD[-preview])
    POST /openai/deployments/{deployment}/{chat/completions,completions,embeddings}
         same bodies as OpenAI with model = deployment, plus Azure's
         prompt_filter_results / content_filter_results (a streamed answer
         starts with Azure's choices-less prompt_filter_results chunk)
  Hugging Face TGI (Authorization: Bearer <HF token>)
    POST /generate, POST /generate_stream (SSE `data:{...}` per token, the last
         one with generated_text and details), POST / (TGI's compat route)
  Ollama (no auth)
    POST /api/chat (NDJSON stream unless "stream": false), GET /api/tags,
    GET /api/version, GET / ("Ollama is running")

Answers are deterministic: "echo: " + the last user message (TGI: the last
line of `inputs`, without a "user: " tag). prompt tokens = whitespace words of
all messages (min 1), completion tokens = words of the answer, streamed one
word per chunk ("w1 ", "w2 ", ..., "wn"). Limits (max_tokens,
max_completion_tokens, max_new_tokens, options.num_predict) truncate the answer
with finish reason "length".

Script the next requests, one step per request in FIFO order (an empty queue
means normal behaviour); a step may combine keys:
  {"status": 429, "retry_after": 1}  error in the provider's own error shape
                                     (+ Retry-After; Azure adds retry-after-ms);
                                     optional "message", "body", "headers"
  {"delay": 2.0}                     sleep, then answer normally
  {"stall_after_chunks": n}          send n token chunks, then hang (no bytes)
                                     until the client hangs up or stall_timeout
                                     (30 s) passes; a non-streamed call hangs
                                     before its status line
  {"cut_after_chunks": n}            send n token chunks, then close the socket
                                     mid-body (no terminating chunk)
  {"malformed_chunk": True}          one invalid-JSON frame mid-stream (an int i
                                     puts it before token i); a non-streamed call
                                     gets a 200 with a truncated JSON body
  {"no_usage": True}                 omit usage (OpenAI usage, Ollama counts,
                                     TGI details and x-*-tokens headers)
  {"content": "exact reply"}         answer with this text
  {"token_delay": s}                 seconds between streamed tokens (else the
                                     token_delay attribute)
  {"drop": True}                     close the connection without a response
Auth is checked first, so a refused request still uses up its step.
"""
import base64
import datetime
import hashlib
import json
import re
import select
import socket
import socketserver
import ssl
import struct
import subprocess
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["FakeProvider", "make_self_signed_cert", "tokenize"]

OPENAI_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
OLLAMA_ROLES = ("system", "user", "assistant", "tool")
_ROLE_TAG = re.compile(r"(?:system|developer|user|human|assistant|tool)\s*:\s?", re.I)
_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(?:-preview)?")
_NO_KEY = ("You didn't provide an API key. You need to provide your API key in an Authorization header "
           "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank "
           "username) if you're accessing the API from your browser and are prompted for a username and "
           "password. You can obtain an API key from https://platform.openai.com/account/api-keys.")
_AZURE_401 = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid "
              "key for an active subscription and use a correct regional API endpoint for your resource.")
_BAD_JSON = ("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
             "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid "
             "JSON. If you have trouble figuring out how to fix this, please contact us through our help center "
             "at help.openai.com.)")
_CONTENT_FILTER = {k: {"filtered": False, "severity": "safe"} for k in ("hate", "self_harm", "sexual", "violence")}


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


def words(text):
    return str(text or "").split()


def tokenize(text):
    """One chunk per word, each keeping the whitespace that follows it; joins back to text."""
    return re.findall(r"\s*\S+\s*", text or "")


def _text(content):
    """Text of an OpenAI message content: a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content
                        if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _echo(messages):
    last = ""
    for m in messages:
        if isinstance(m, dict) and m.get("role") == "user":
            last = _text(m.get("content"))
    return "echo: " + last


def _prompt_tokens(messages):
    return max(1, sum(len(words(_text(m.get("content")))) for m in messages if isinstance(m, dict)))


def _tgi_last_line(inputs):
    for line in reversed(inputs.splitlines()):
        m = _ROLE_TAG.match(line)
        body = line[m.end():] if m else line
        if body.strip():
            return body.strip()
    return ""


def _truncate(tokens, limit):
    """(tokens, finish_reason) after applying a max-token limit."""
    if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit < len(tokens):
        tokens = tokens[:limit]
        tokens[-1] = tokens[-1].rstrip()
        return tokens, "length"
    return tokens, "stop"


def _dumps(obj, indent=None):
    if indent:
        return json.dumps(obj, ensure_ascii=False, indent=indent).encode()
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _token_id(text):
    return int.from_bytes(hashlib.sha1(text.encode()).digest()[:4], "little") % 32000 + 3


def _embedding(text, dims):
    raw = b""
    counter = 0
    while len(raw) < 4 * dims:
        raw += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    v = [int.from_bytes(raw[4 * i:4 * i + 4], "little") / 2 ** 31 - 1.0 for i in range(dims)]
    norm = sum(x * x for x in v) ** 0.5 or 1.0
    return [round(x / norm, 6) for x in v]


def _openai_error(message, etype="invalid_request_error", param=None, code=None):
    return {"error": {"message": message, "type": etype, "param": param, "code": code}}


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class FakeProvider:
    def __init__(self, tls_cert=None, tls_key=None):
        self.api_key = "sk-test"          # OpenAI / vLLM bearer key
        self.azure_key = "azure-test"     # Azure api-key header
        self.hf_token = "hf_test"         # TGI bearer token (also accepted on /v1, TGI's Messages API)
        self.require_auth = True          # False: a /v1 request without Authorization is served (vLLM)
        self.ollama_models = ["llama3.2"]
        self.openai_models = ["gpt-4o-mini", "text-embedding-3-small"]
        self.azure_deployments = None     # None: any deployment name exists
        self.token_delay = 0.0            # seconds between streamed tokens
        self.stall_timeout = 30.0
        self.requests = []                # every request, in arrival order
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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-provider/1.0"
    sys_version = ""
    timeout = 60  # idle keep-alive connections
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        self.abrupt = False
        self.step = {}

    def log_message(self, *args):
        pass

    def version_string(self):
        return self.server_version

    @property
    def provider(self):
        return self.server.provider

    # -- HTTP plumbing ---------------------------------------------------------
    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while True:
                line = self.rfile.readline(65537)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    return None
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                chunk = self.rfile.read(size)
                if len(chunk) < size:
                    return None
                data += chunk
                self.rfile.readline(3)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            n = int(length)
        except ValueError:
            return None
        data = self.rfile.read(n) if n > 0 else b""
        return data if len(data) == n else None

    def _send(self, status, data, content_type, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_json(self, status, obj, headers=None, indent=None, content_type="application/json"):
        self._send(status, _dumps(obj, indent), content_type, headers)

    def _send_text(self, status, text, headers=None):
        self._send(status, text.encode(), "text/plain; charset=utf-8", headers)

    def _reply(self, obj, headers=None, indent=None, content_type="application/json"):
        """A successful non-streamed answer, bent by the scripted step."""
        data = _dumps(obj, indent)
        st = self.step
        if "stall_after_chunks" in st:
            return self._stall()
        if st.get("malformed_chunk", False) is not False:
            data = data[:len(data) // 2]  # a truncated object is never valid JSON
        if "cut_after_chunks" in st:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:len(data) // 2])
            return self._abort()
        self._send(200, data, content_type, headers)

    def _abort(self):
        """Close the connection now, without a (complete) response."""
        self.close_connection = True
        self.abrupt = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _stall(self):
        """Send nothing more until the client hangs up (or stall_timeout), then close."""
        p = self.provider
        sock = self.connection
        deadline = time.monotonic() + float(self.step.get("stall_seconds", p.stall_timeout))
        self.close_connection = True
        self.abrupt = True
        try:
            sock.settimeout(0.1)
            while time.monotonic() < deadline and not p._stopping.is_set():
                readable, _, _ = select.select([sock], [], [], 0.1)
                if not readable:
                    continue
                try:
                    if not sock.recv(4096):
                        return  # the client hung up
                except (ssl.SSLWantReadError, TimeoutError):
                    continue
        except (OSError, ValueError):
            return
        self._abort()

    def _sleep(self, seconds):
        self.provider._stopping.wait(float(seconds))

    def _client_gone(self):
        """True when a plain-TCP client has hung up (TLS can't peek: a later write fails instead)."""
        if isinstance(self.connection, ssl.SSLSocket):
            return False
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except (OSError, ValueError):
            return True

    def _token_pause(self, seconds):
        """Sleeps between tokens; False when the client hung up meanwhile."""
        deadline = time.monotonic() + seconds
        while not self.provider._stopping.is_set():
            if self._client_gone():
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            self.provider._stopping.wait(min(left, 0.05))
        return True

    def _start_stream(self, content_type, headers=None):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        self._chunked = self.request_version != "HTTP/1.0"
        if self._chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.close_connection = True
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def _write(self, data):
        if not data:
            return  # an empty chunk would end the body
        if self._chunked:
            self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
        else:
            self.wfile.write(data)

    def _stream(self, content_type, frames, first_token, n_tokens, bad_frame, headers=None):
        """Writes frames (bytes) as a streamed body; frames[first_token:first_token+n_tokens]
        carry one token each. Scripted stalls, cuts and malformed frames land after
        the given number of token frames."""
        st = self.step
        p = self.provider

        def at(n):
            return first_token + min(max(int(n), 0), n_tokens)

        bad = st.get("malformed_chunk", False)
        bad_at = None if bad is False or bad is None else at(max(1, n_tokens // 2) if bad is True else bad)
        stall_at = at(st["stall_after_chunks"]) if "stall_after_chunks" in st else None
        cut_at = at(st["cut_after_chunks"]) if "cut_after_chunks" in st else None
        delay = float(st.get("token_delay", p.token_delay) or 0)
        self._start_stream(content_type, headers)
        for j in range(len(frames) + 1):
            if j == bad_at:
                self._write(bad_frame)
            if j == stall_at:
                return self._stall()
            if j == cut_at:
                return self._abort()
            if j == len(frames):
                break
            if delay and first_token <= j < first_token + n_tokens and not self._token_pause(delay):
                return self._abort()
            self._write(frames[j])
        if self._chunked:
            self.wfile.write(b"0\r\n\r\n")

    # -- dispatch --------------------------------------------------------------
    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _handle(self):
        p = self.provider
        split = urlsplit(self.path)
        raw = self._read_body()
        if raw is None:
            self.close_connection = True
            return self._send_json(400, _openai_error("Could not read the request body."))
        body, self.bad_json = None, False
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                self.bad_json = True
        self.body = body
        self.route = split.path
        self.query = parse_qs(split.query, keep_blank_values=True)
        self.started = time.monotonic()
        p._record({"method": self.command, "path": split.path, "query": self.query,
                   "headers": {k.lower(): v for k, v in self.headers.items()}, "json": body, "body": raw,
                   "time": time.time(), "client": self.client_address})
        try:
            self.step = p._next_step()
            if self.step.get("drop"):
                return self._abort()
            if self.step.get("delay"):
                self._sleep(self.step["delay"])
            self._route()
        finally:
            p._done()

    def _route(self):
        path = self.route
        if path.startswith("/openai/"):
            return self._azure()
        if path == "/v1" or path.startswith("/v1/"):
            return self._openai()
        if path in ("/generate", "/generate_stream") or (path == "/" and self.command == "POST"):
            return self._tgi()
        if path.startswith("/api/") or path == "/":
            return self._ollama()
        self._send_json(404, _openai_error(f"Invalid URL ({self.command} {path})"))

    def _scripted_error(self, dialect):
        st = self.step
        status = st.get("status")
        if not status or int(status) < 400:
            return False
        status = int(status)
        headers = dict(st.get("headers") or {})
        ra = st.get("retry_after")
        if ra is not None:
            headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
            if dialect == "azure":
                headers["retry-after-ms"] = str(int(float(ra) * 1000))
        if "body" in st:
            body = st["body"]
            if isinstance(body, (bytes, str)):
                data = body.encode() if isinstance(body, str) else body
                self._send(status, data, "application/json", headers)
                return True
            self._send_json(status, body, headers)
            return True
        msg = st.get("message")
        if dialect == "azure":
            if status == 429:
                msg = msg or ("Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
                              f"{self.query.get('api-version', [''])[0]} have exceeded token rate limit of your "
                              f"current OpenAI S0 pricing tier. Please retry after {ra or 1} second.")
            body = {"error": {"code": str(status), "message": msg or "The server had an error processing your "
                                                                      "request."}}
        elif dialect == "tgi":
            kind = {429: "overloaded", 503: "overloaded", 422: "validation", 424: "generation"}.get(status,
                                                                                                   "generation")
            body = {"error": msg or ("Model is overloaded" if kind == "overloaded" else "Request failed during "
                                                                                         "generation"),
                    "error_type": kind}
        elif dialect == "ollama":
            body = {"error": msg or ("server busy, please try again.  maximum pending requests exceeded"
                                     if status in (429, 503) else "an unknown error was encountered")}
        else:
            if status == 429:
                body = _openai_error(msg or "Rate limit reached for requests. Please try again in "
                                            f"{ra or 1}s.", "requests", None, "rate_limit_exceeded")
            elif status == 503:
                body = _openai_error(msg or "The engine is currently overloaded, please try again later.",
                                     "server_error")
            elif status >= 500:
                body = _openai_error(msg or "The server had an error while processing your request. Sorry "
                                            "about that!", "server_error")
            else:
                body = _openai_error(msg or "Scripted error.")
        self._send_json(status, body, headers)
        return True

    # -- OpenAI / vLLM / TGI Messages API -------------------------------------
    def _openai(self):
        p = self.provider
        method = "GET" if self.command == "HEAD" else self.command
        routes = {("POST", "/v1/chat/completions"): self._chat,
                  ("POST", "/v1/completions"): lambda: self._chat(completions=True),
                  ("POST", "/v1/embeddings"): self._embeddings,
                  ("GET", "/v1/models"): self._models}
        handler = routes.get((method, self.route))
        if handler is None and method == "GET" and self.route.startswith("/v1/models/"):
            handler = self._model
        if handler is None:
            return self._send_json(404, _openai_error(f"Invalid URL ({self.command} {self.route})"))
        auth = self.headers.get("Authorization")
        if auth is None and p.require_auth:
            return self._send_json(401, _openai_error(_NO_KEY))
        if auth is not None:
            scheme, _, key = auth.partition(" ")
            key = key.strip()
            if scheme.lower() != "bearer" or key not in (p.api_key, p.hf_token):
                shown = key[:3] + "*" * max(0, len(key) - 7) + key[-4:] if len(key) > 7 else key
                return self._send_json(401, _openai_error(
                    f"Incorrect API key provided: {shown}. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.", code="invalid_api_key"))
        if self._scripted_error("openai"):
            return
        handler()

    def _common_headers(self, dialect):
        rid = uuid.uuid4().hex
        if dialect == "azure":
            return {"apim-request-id": str(uuid.UUID(rid)), "x-request-id": str(uuid.UUID(rid)),
                    "x-ms-region": "East US"}
        return {"x-request-id": "req_" + rid, "openai-processing-ms": "1", "openai-version": "2020-10-01"}

    def _chat(self, completions=False, model=None, dialect="openai"):
        if self.bad_json:
            return self._send_json(400, _openai_error(_BAD_JSON))
        b = self.body
        if not isinstance(b, dict):
            return self._send_json(400, _openai_error(_BAD_JSON if b is not None else
                                                      "you must provide a model parameter"))
        if model is None:
            model = b.get("model")
            if not isinstance(model, str) or not model:
                return self._send_json(400, _openai_error("you must provide a model parameter"))
        stream = b.get("stream") is True
        if b.get("stream_options") is not None and not stream:
            return self._send_json(400, _openai_error(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.", param="stream_options"))
        limit_key = "max_completion_tokens" if b.get("max_completion_tokens") is not None else "max_tokens"
        limit = b.get(limit_key)
        if limit is not None and (not _is_int(limit) or limit < 1):
            return self._send_json(400, _openai_error(
                f"Invalid '{limit_key}': integer below minimum value. Expected a value >= 1, but got {limit} "
                "instead.", param=limit_key, code="integer_below_min_value"))
        if completions:
            prompt = b.get("prompt")
            if isinstance(prompt, list) and all(isinstance(x, str) for x in prompt):
                prompt = "\n".join(prompt)
            if not isinstance(prompt, str):
                return self._send_json(400, _openai_error("Missing required parameter: 'prompt'.", param="prompt",
                                                          code="missing_required_parameter"))
            messages = [{"role": "user", "content": prompt}]
            if limit is None:
                limit = 16  # the legacy completions default
        else:
            messages = b.get("messages")
            if not isinstance(messages, list):
                return self._send_json(400, _openai_error("Missing required parameter: 'messages'.",
                                                          param="messages", code="missing_required_parameter"))
            if not messages:
                return self._send_json(400, _openai_error(
                    "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty "
                    "array instead.", param="messages", code="empty_array"))
            for i, m in enumerate(messages):
                role = m.get("role") if isinstance(m, dict) else None
                if role not in OPENAI_ROLES:
                    return self._send_json(400, _openai_error(
                        f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', "
                        "'function', 'tool', and 'developer'.", param=f"messages[{i}].role", code="invalid_value"))
        reply = self.step["content"] if "content" in self.step else _echo(messages)
        tokens, finish = _truncate(tokenize(reply), limit)
        reply = "".join(tokens)
        prompt_n, completion_n = _prompt_tokens(messages), len(tokens)
        usage = {"prompt_tokens": prompt_n, "completion_tokens": completion_n, "total_tokens": prompt_n + completion_n}
        if not completions:
            usage["prompt_tokens_details"] = {"cached_tokens": 0, "audio_tokens": 0}
            usage["completion_tokens_details"] = {"reasoning_tokens": 0, "audio_tokens": 0,
                                                  "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
        no_usage = bool(self.step.get("no_usage"))
        azure = dialect == "azure"
        cid = ("cmpl-" if completions else "chatcmpl-") + uuid.uuid4().hex[:24]
        created = int(time.time())
        headers = self._common_headers(dialect)
        if not stream:
            choice = {"index": 0}
            if completions:
                choice.update({"text": reply, "logprobs": None, "finish_reason": finish})
            else:
                choice.update({"message": {"role": "assistant", "content": reply, "refusal": None,
                                           "annotations": []}, "logprobs": None, "finish_reason": finish})
            if azure:
                choice["content_filter_results"] = _CONTENT_FILTER
            out = {"id": cid, "object": "text_completion" if completions else "chat.completion",
                   "created": created, "model": model, "choices": [choice]}
            if not no_usage:
                out["usage"] = usage
            out["system_fingerprint"] = "fp_fake"
            if azure:
                out["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": _CONTENT_FILTER}]
            return self._reply(out, headers, indent=None if azure else 2)

        include_usage = (isinstance(b.get("stream_options"), dict)
                         and b["stream_options"].get("include_usage") is True and not no_usage)
        obj = "text_completion" if completions else "chat.completion.chunk"

        def chunk(choices, **extra):
            c = {"id": cid, "object": obj, "created": created, "model": model, "system_fingerprint": "fp_fake",
                 "choices": choices}
            if include_usage:
                c["usage"] = None
            c.update(extra)
            return b"data: " + _dumps(c) + b"\n\n"

        def choice(delta=None, text=None, finish_reason=None, filters=True):
            c = {"index": 0}
            if completions:
                c["text"] = text or ""
            else:
                c["delta"] = delta
            c.update({"logprobs": None, "finish_reason": finish_reason})
            if azure:
                c["content_filter_results"] = _CONTENT_FILTER if filters else {}
            return c

        frames = []
        if azure:
            frames.append(b"data: " + _dumps({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                                              "prompt_filter_results": [{"prompt_index": 0,
                                                                         "content_filter_results":
                                                                             _CONTENT_FILTER}]}) + b"\n\n")
        if not completions:
            frames.append(chunk([choice({"role": "assistant", "content": "", "refusal": None}, filters=False)]))
        first = len(frames)
        for tok in tokens:
            frames.append(chunk([choice({"content": tok}, text=tok)]))
        frames.append(chunk([choice({}, finish_reason=finish, filters=False)]))
        if include_usage:
            frames.append(chunk([], usage=usage))
        frames.append(b"data: [DONE]\n\n")
        bad = b'data: {"id":"' + cid.encode() + b'","object":"' + obj.encode() + b'","choices":[{"delta":{"content\n\n'
        self._stream("text/event-stream; charset=utf-8", frames, first, len(tokens), bad, headers)

    def _embeddings(self, model=None, dialect="openai"):
        if self.bad_json:
            return self._send_json(400, _openai_error(_BAD_JSON))
        b = self.body if isinstance(self.body, dict) else {}
        if model is None:
            model = b.get("model")
            if not isinstance(model, str) or not model:
                return self._send_json(400, _openai_error("you must provide a model parameter"))
        inp = b.get("input")
        if isinstance(inp, str) or (isinstance(inp, list) and inp and all(_is_int(x) for x in inp)):
            inp = [inp]
        valid = isinstance(inp, list) and inp and all(
            (isinstance(x, str) and x) or (isinstance(x, list) and x and all(_is_int(t) for t in x)) for x in inp)
        if not valid:
            return self._send_json(400, _openai_error("'$.input' is invalid. Please check the API reference: "
                                                      "https://platform.openai.com/docs/api-reference.",
                                                      param="input"))
        dims = b.get("dimensions", 8)
        if not _is_int(dims) or dims < 1:
            return self._send_json(400, _openai_error("Invalid 'dimensions'.", param="dimensions"))
        fmt = b.get("encoding_format", "float")
        if fmt not in ("float", "base64"):
            return self._send_json(400, _openai_error(
                f"Invalid value: '{fmt}'. Supported values are: 'float' and 'base64'.", param="encoding_format",
                code="invalid_value"))
        data, n = [], 0
        for i, x in enumerate(inp):
            text = x if isinstance(x, str) else " ".join(map(str, x))
            n += len(words(x)) if isinstance(x, str) else len(x)
            vec = _embedding(text, dims)
            emb = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode() if fmt == "base64" else vec
            data.append({"object": "embedding", "index": i, "embedding": emb})
        out = {"object": "list", "data": data, "model": model}
        if not self.step.get("no_usage"):
            out["usage"] = {"prompt_tokens": n, "total_tokens": n}
        self._reply(out, self._common_headers(dialect))

    def _model_obj(self, mid):
        return {"id": mid, "object": "model", "created": 1686935002, "owned_by": "system"}

    def _models(self):
        self._send_json(200, {"object": "list", "data": [self._model_obj(m) for m in self.provider.openai_models]},
                        self._common_headers("openai"))

    def _model(self):
        mid = unquote(self.route[len("/v1/models/"):])
        if mid not in self.provider.openai_models:
            return self._send_json(404, _openai_error(f"The model '{mid}' does not exist", param="model",
                                                      code="model_not_found"))
        self._send_json(200, self._model_obj(mid), self._common_headers("openai"))

    # -- Azure OpenAI ----------------------------------------------------------
    def _azure(self):
        p = self.provider
        if self.headers.get("api-key") != p.azure_key:
            return self._send_json(401, {"error": {"code": "401", "message": _AZURE_401}})
        version = self.query.get("api-version", [""])[0]
        m = re.fullmatch(r"/openai/deployments/([^/]+)/(chat/completions|completions|embeddings)", self.route)
        if not _API_VERSION.fullmatch(version) or not m or self.command != "POST":
            return self._send_json(404, {"error": {"code": "404", "message": "Resource not found"}})
        deployment = unquote(m.group(1))
        if p.azure_deployments is not None and deployment not in p.azure_deployments:
            return self._send_json(404, {"error": {"code": "DeploymentNotFound", "message":
                                                   "The API deployment for this resource does not exist. If you "
                                                   "created the deployment within the last 5 minutes, please wait "
                                                   "a moment and try again."}})
        if self._scripted_error("azure"):
            return
        op = m.group(2)
        if op == "embeddings":
            return self._embeddings(model=deployment, dialect="azure")
        self._chat(completions=op == "completions", model=deployment, dialect="azure")

    # -- Hugging Face TGI --------------------------------------------------------
    def _tgi(self):
        p = self.provider
        if self.headers.get("Authorization", "").strip() != f"Bearer {p.hf_token}":
            return self._send_json(401, {"error": "Authorization header is correct, but the token seems invalid",
                                         "error_type": "authentication"})
        if self._scripted_error("tgi"):
            return
        if self.bad_json or not isinstance(self.body, dict):
            return self._send_json(422, {"error": "Failed to deserialize the JSON body into the target type",
                                         "error_type": "validation"})
        b = self.body
        stream = self.route == "/generate_stream" or (self.route == "/" and b.get("stream") is True)

        def invalid(msg):
            return self._send_json(422, {"error": f"Input validation error: {msg}", "error_type": "validation"})

        inputs = b.get("inputs")
        if not isinstance(inputs, str):
            return self._send_json(422, {"error": "Failed to deserialize the JSON body into the target type: "
                                                  "missing field `inputs`", "error_type": "validation"})
        if not inputs:
            return invalid("`inputs` cannot be empty")
        params = b.get("parameters") or {}
        if not isinstance(params, dict):
            return invalid("`parameters` must be an object")
        max_new = params.get("max_new_tokens")
        if max_new is not None and (not _is_int(max_new) or max_new < 1):
            return invalid("`max_new_tokens` must be strictly positive")
        temperature = params.get("temperature")
        if temperature is not None and not (isinstance(temperature, (int, float)) and temperature > 0):
            return invalid("`temperature` must be strictly positive")
        top_p = params.get("top_p")
        if top_p is not None and not (isinstance(top_p, (int, float)) and 0 < top_p < 1):
            return invalid("`top_p` must be > 0.0 and < 1.0")
        reply = self.step["content"] if "content" in self.step else "echo: " + _tgi_last_line(inputs)
        tokens, finish = _truncate(tokenize(reply), max_new if max_new is not None else 100)
        finish = "length" if finish == "length" else "eos_token"
        reply = "".join(tokens)
        prompt_n = max(1, len(words(inputs)))
        no_usage = bool(self.step.get("no_usage"))
        seed = params.get("seed") if params.get("do_sample") else None

        def tok(t, special=False):
            tid = _token_id(t)
            return {"id": tid, "text": t, "logprob": -round(0.05 + (tid % 97) / 100, 4), "special": special}

        if not stream:
            text = inputs + reply if params.get("return_full_text") else reply
            out = {"generated_text": text}
            if params.get("details") and not no_usage:
                prefill = []
                if params.get("decoder_input_details"):
                    prefill = [{"id": _token_id(w), "text": w, "logprob": None if i == 0 else -1.0}
                               for i, w in enumerate(tokenize(inputs))]
                out["details"] = {"finish_reason": finish, "generated_tokens": len(tokens), "seed": seed,
                                  "prefill": prefill, "tokens": [tok(t) for t in tokens]}
            headers = {"x-compute-type": "fake"}
            if not no_usage:
                headers.update({"x-prompt-tokens": str(prompt_n), "x-generated-tokens": str(len(tokens))})
            return self._reply(out, headers)
        events = [{"index": i + 1, "token": tok(t), "generated_text": None, "details": None}
                  for i, t in enumerate(tokens)]
        if not events:  # nothing but the end-of-sequence token
            events.append({"index": 1, "token": tok("</s>", special=True), "generated_text": None, "details": None})
        events[-1]["generated_text"] = reply
        if not no_usage:
            events[-1]["details"] = {"finish_reason": finish, "generated_tokens": len(tokens), "seed": seed,
                                     "input_length": prompt_n}
        frames = [b"data:" + _dumps(e) + b"\n\n" for e in events]
        self._stream("text/event-stream", frames, 0, len(tokens), b'data:{"index":1,"token":{"id":\n\n',
                     {"x-compute-type": "fake"})

    # -- Ollama -----------------------------------------------------------------
    def _ollama(self):
        p = self.provider
        method = "GET" if self.command == "HEAD" else self.command
        if self.route == "/" and method == "GET":
            return self._send_text(200, "Ollama is running")
        if (method, self.route) == ("GET", "/api/tags"):
            return self._send_json(200, {"models": [self._ollama_model(m) for m in p.ollama_models]})
        if (method, self.route) == ("GET", "/api/version"):
            return self._send_json(200, {"version": "0.5.7"})
        if (method, self.route) != ("POST", "/api/chat"):
            return self._send_text(404, "404 page not found")
        if self._scripted_error("ollama"):
            return
        if self.bad_json or not isinstance(self.body, dict):
            return self._send_json(400, {"error": "invalid character looking for beginning of value"})
        b = self.body
        model = b.get("model")
        if not isinstance(model, str) or not model:
            return self._send_json(400, {"error": "model is required"})
        if _ollama_name(model) not in {_ollama_name(m) for m in p.ollama_models}:
            return self._send_json(404, {"error": f'model "{model}" not found, try pulling it first'})
        messages = b.get("messages") or []
        if not isinstance(messages, list):
            return self._send_json(400, {"error": "json: cannot unmarshal messages"})
        for m in messages:
            if not isinstance(m, dict) or m.get("role") not in OLLAMA_ROLES:
                return self._send_json(400, {"error": f"invalid role: {m.get('role') if isinstance(m, dict) else m}"})
        stream = b.get("stream") is not False  # Ollama streams unless told not to
        created = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        ndjson_type = "application/x-ndjson"
        if not messages:  # Ollama's "load the model" call
            out = {"model": model, "created_at": created, "message": {"role": "assistant", "content": ""},
                   "done_reason": "load", "done": True}
            if stream:
                return self._stream(ndjson_type, [_dumps(out) + b"\n"], 0, 0, b"")
            return self._reply(out, content_type="application/json; charset=utf-8")
        options = b.get("options") or {}
        reply = self.step["content"] if "content" in self.step else _echo(messages)
        tokens, finish = _truncate(tokenize(reply), options.get("num_predict") if isinstance(options, dict) else None)
        reply = "".join(tokens)
        elapsed = max(1, int((time.monotonic() - self.started) * 1e9))
        final = {"model": model, "created_at": created, "message": {"role": "assistant", "content": ""},
                 "done_reason": finish, "done": True, "total_duration": elapsed + 2_000_000,
                 "load_duration": 1_000_000, "prompt_eval_count": _prompt_tokens(messages),
                 "prompt_eval_duration": 500_000, "eval_count": len(tokens), "eval_duration": 500_000}
        if self.step.get("no_usage"):
            del final["prompt_eval_count"], final["eval_count"]
        if not stream:
            final["message"]["content"] = reply
            return self._reply(final, content_type="application/json; charset=utf-8")
        frames = [_dumps({"model": model, "created_at": created, "message": {"role": "assistant", "content": t},
                          "done": False}) + b"\n" for t in tokens]
        frames.append(_dumps(final) + b"\n")
        bad = b'{"model":"' + model.encode() + b'","created_at":"' + created.encode() + b'","message":{\n'
        self._stream(ndjson_type, frames, 0, len(tokens), bad)

    @staticmethod
    def _ollama_model(name):
        full = _ollama_name(name)
        return {"name": full, "model": full, "modified_at": "2024-09-25T12:00:00.000000000Z", "size": 2019393189,
                "digest": hashlib.sha256(full.encode()).hexdigest(),
                "details": {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                            "parameter_size": "3.2B", "quantization_level": "Q4_K_M"}}


def _ollama_name(name):
    return name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"
