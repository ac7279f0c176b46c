"""A loopback stand-in for paid model providers, speaking their real wire
protocols: OpenAI (and vLLM, Hugging Face's OpenAI route), Azure OpenAI,
Hugging Face TGI and Ollama. Behaviour for the next requests can be scripted,
one step per request: {"status": 429, "retry_after": 1}, {"status": 500},
{"delay": s}, {"stall_after_chunks": n}, {"cut_after_chunks": n},
{"malformed_chunk": i} (garbage before token i), {"no_usage": True},
{"content": "..."}, {"drop": True}, and
every request is recorded so tests can assert what the provider saw."""
import hashlib
import json
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def make_self_signed_cert(directory):
    cert, key = f"{directory}/fake-provider.pem", f"{directory}/fake-provider.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1", "-days", "1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def words(text):
    return [w for w in text.split() if w]


class FakeProvider:
    def __init__(self, tls_cert=None, tls_key=None):
        self.api_key = "sk-test"
        self.azure_key = "azure-test"
        self.hf_token = "hf_test"
        self.require_auth = True
        self.ollama_models = ["llama3.2"]
        self.token_delay = 0.0  # seconds between streamed tokens
        self.requests = []
        self.inflight = 0
        self.max_inflight = 0
        self._steps = []
        self._lock = threading.Lock()
        self._tls = (tls_cert, tls_key) if tls_cert else None
        self._server = None

    # -- control -------------------------------------------------------------
    def start(self):
        fake = self

        class Handler(_Handler):
            provider = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self._tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self._tls)
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self):
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def script(self, *steps):
        with self._lock:
            self._steps.extend(steps)

    def reset(self):
        with self._lock:
            self._steps.clear()
            self.requests.clear()

    def next_step(self):
        with self._lock:
            return self._steps.pop(0) if self._steps else {}

    def record(self, entry):
        with self._lock:
            self.requests.append(entry)

    def chat_requests(self):
        with self._lock:
            return [r for r in self.requests if r["json"] is not None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    provider = None

    def log_message(self, *args):
        pass

    # -- plumbing ------------------------------------------------------------
    def _send_json(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self, content_type):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()

    def _chunk(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_stream(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _stall(self):
        # Hold the stream open without bytes until the client gives up.
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                self.connection.settimeout(0.1)
                if self.connection.recv(1, socket.MSG_PEEK) == b"":
                    return
            except socket.timeout:
                continue
            except OSError:
                return
        self.close_connection = True

    def _openai_error(self, status, message, etype, code=None, headers=None):
        self._send_json(status, {"error": {"message": message, "type": etype, "param": None, "code": code}},
                        headers)

    # -- dispatch --------------------------------------------------------------
    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def _handle(self, method):
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        p = self.provider
        p.record({"method": method, "path": url.path, "query": parse_qs(url.query),
                  "headers": {k.lower(): v for k, v in self.headers.items()}, "json": body, "time": time.time()})
        with p._lock:
            p.inflight += 1
            p.max_inflight = max(p.max_inflight, p.inflight)
        try:
            self._respond(method, url, body)
        finally:
            with p._lock:
                p.inflight -= 1

    def _respond(self, method, url, body):
        p = self.provider
        step = p.next_step()
        if step.get("drop"):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if "delay" in step:
            time.sleep(step["delay"])
        try:
            self._route(method, url, body, step)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _route(self, method, url, body, step):
        path = url.path
        if path in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models"):
            if not self._check_bearer(self.provider.api_key, allow_none=not self.provider.require_auth):
                return self._openai_error(401, "Incorrect API key provided.", "invalid_request_error",
                                          "invalid_api_key")
            if self._scripted_error(step):
                return
            if path == "/v1/models":
                return self._send_json(200, {"object": "list", "data": [
                    {"id": "fake-model", "object": "model", "created": 0, "owned_by": "fake"}]})
            if path == "/v1/embeddings":
                return self._embeddings(body, body.get("model", "fake") if body else "fake")
            return self._openai_chat(body, step, model=(body or {}).get("model", "fake"),
                                     completions=path == "/v1/completions")
        if path.startswith("/openai/deployments/"):
            parts = path.split("/")
            if len(parts) < 5:
                return self._send_json(404, {"error": {"code": "404", "message": "Resource not found"}})
            deployment, op = parts[3], "/".join(parts[4:])
            if "api-version" not in parse_qs(url.query):
                return self._send_json(404, {"error": {"code": "404", "message": "Resource not found"}})
            if self.headers.get("api-key") != self.provider.azure_key:
                return self._send_json(401, {"error": {"code": "401", "message":
                                                       "Access denied due to invalid subscription key or wrong API "
                                                       "endpoint."}})
            if self._scripted_error(step):
                return
            if op == "embeddings":
                return self._embeddings(body, deployment)
            return self._openai_chat(body, step, model=deployment)
        if path in ("/generate", "/generate_stream"):
            if not self._check_bearer(self.provider.hf_token):
                return self._send_json(401, {"error": "Authorization header is correct, but the token seems invalid",
                                             "error_type": "authentication"})
            if self._scripted_error(step, tgi=True):
                return
            return self._tgi(body, step, stream=path == "/generate_stream")
        if path == "/api/chat":
            if self._scripted_error(step, ollama=True):
                return
            return self._ollama(body, step)
        if path == "/api/tags":
            return self._send_json(200, {"models": [{"name": m, "model": m} for m in self.provider.ollama_models]})
        self._send_json(404, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}})

    def _check_bearer(self, expected, allow_none=False):
        auth = self.headers.get("Authorization")
        if auth is None:
            return allow_none
        return auth == f"Bearer {expected}"

    def _scripted_error(self, step, tgi=False, ollama=False):
        status = step.get("status")
        if not status:
            return False
        headers = {}
        if "retry_after" in step:
            headers["Retry-After"] = str(step["retry_after"])
        message = step.get("message", "Rate limit reached" if status == 429 else "The server had an error")
        if tgi:
            self._send_json(status, {"error": message, "error_type": "overloaded"}, headers)
        elif ollama:
            self._send_json(status, {"error": message}, headers)
        else:
            etype = "rate_limit_exceeded" if status == 429 else "server_error"
            self._openai_error(status, message, etype, None, headers)
        return True

    # -- content ---------------------------------------------------------------
    @staticmethod
    def _reply_for(messages, step):
        if "content" in step:
            return step["content"]
        last = ""
        for m in messages or []:
            if isinstance(m, dict) and m.get("role") == "user":
                c = m.get("content")
                last = c if isinstance(c, str) else " ".join(
                    part.get("text", "") for part in c or [] if isinstance(part, dict))
        return "echo: " + last

    @staticmethod
    def _prompt_tokens(messages):
        n = 0
        for m in messages or []:
            if isinstance(m, dict) and isinstance(m.get("content"), str):
                n += len(words(m["content"]))
        return max(n, 1)

    @staticmethod
    def _tokens(reply):
        ws = reply.split(" ")
        return [w + " " for w in ws[:-1]] + [ws[-1]]

    def _openai_chat(self, body, step, model, completions=False):
        body = body or {}
        if completions:
            messages = [{"role": "user", "content": body.get("prompt", "")}]
        else:
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                return self._openai_error(400, "'messages' is a required property", "invalid_request_error")
        reply = self._reply_for(messages, step)
        usage = {"prompt_tokens": self._prompt_tokens(messages), "completion_tokens": len(words(reply))}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        cid, created = "chatcmpl-fake", int(time.time())
        obj = "text_completion" if completions else "chat.completion"
        if not body.get("stream"):
            choice = {"index": 0, "finish_reason": "stop", "logprobs": None}
            if completions:
                choice["text"] = reply
            else:
                choice["message"] = {"role": "assistant", "content": reply}
            out = {"id": cid, "object": obj, "created": created, "model": model, "choices": [choice]}
            if not step.get("no_usage"):
                out["usage"] = usage
            return self._send_json(200, out)
        self._start_stream("text/event-stream")

        def event(choices, extra=None):
            o = {"id": cid, "object": obj + ".chunk" if not completions else obj, "created": created,
                 "model": model, "choices": choices}
            o.update(extra or {})
            self._chunk("data: " + json.dumps(o) + "\n\n")

        if not completions:
            event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        for i, tok in enumerate(self._tokens(reply)):
            if "malformed_chunk" in step and i == int(step["malformed_chunk"]):
                self._chunk("data: {this is not json\n\n")
            if "stall_after_chunks" in step and i == step["stall_after_chunks"]:
                return self._stall()
            if "cut_after_chunks" in step and i == step["cut_after_chunks"]:
                self.close_connection = True
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if self.provider.token_delay:
                time.sleep(self.provider.token_delay)
            if completions:
                event([{"index": 0, "text": tok, "finish_reason": None}])
            else:
                event([{"index": 0, "delta": {"content": tok}, "finish_reason": None}])
        event([{"index": 0, "delta": {}, "finish_reason": "stop"}] if not completions else
              [{"index": 0, "text": "", "finish_reason": "stop"}])
        if (body.get("stream_options") or {}).get("include_usage") and not step.get("no_usage"):
            event([], {"usage": usage})
        self._chunk("data: [DONE]\n\n")
        self._end_stream()

    def _embeddings(self, body, model):
        inputs = (body or {}).get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs:
            return self._openai_error(400, "'input' is a required property", "invalid_request_error")
        data = []
        for i, text in enumerate(inputs):
            h = hashlib.sha256(str(text).encode()).digest()
            data.append({"object": "embedding", "index": i, "embedding": [b / 255.0 for b in h[:8]]})
        n = sum(len(words(str(t))) for t in inputs)
        self._send_json(200, {"object": "list", "data": data, "model": model,
                              "usage": {"prompt_tokens": n, "total_tokens": n}})

    def _tgi(self, body, step, stream):
        body = body or {}
        inputs = body.get("inputs")
        if not isinstance(inputs, str):
            return self._send_json(422, {"error": "Input validation error: `inputs` must be a string",
                                         "error_type": "validation"})
        lines = [ln for ln in inputs.splitlines() if ln.strip() and not ln.startswith("assistant:")]
        last = lines[-1].split(": ", 1)[-1] if lines else ""
        reply = step.get("content", "echo: " + last)
        toks = self._tokens(reply)
        details = {"finish_reason": "eos_token", "generated_tokens": len(toks), "seed": None,
                   "prefill": [], "tokens": []}
        if not stream:
            out = {"generated_text": reply}
            if (body.get("parameters") or {}).get("details"):
                out["details"] = details
            return self._send_json(200, out)
        self._start_stream("text/event-stream")
        for i, tok in enumerate(toks):
            if "malformed_chunk" in step and i == int(step["malformed_chunk"]):
                self._chunk("data:{broken\n\n")
            if "stall_after_chunks" in step and i == step["stall_after_chunks"]:
                return self._stall()
            last_tok = i == len(toks) - 1
            ev = {"index": i, "token": {"id": i, "text": tok, "logprob": -0.1, "special": False},
                  "generated_text": reply if last_tok else None,
                  "details": ({"finish_reason": "eos_token", "generated_tokens": len(toks), "seed": None}
                              if last_tok else None)}
            self._chunk("data:" + json.dumps(ev) + "\n\n")
        self._end_stream()

    def _ollama(self, body, step):
        body = body or {}
        model = body.get("model")
        if model not in self.provider.ollama_models:
            return self._send_json(404, {"error": f'model "{model}" not found, try pulling it first'})
        messages = body.get("messages") or []
        reply = self._reply_for(messages, step)
        prompt_n, toks = self._prompt_tokens(messages), self._tokens(reply)
        created = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        final = {"model": model, "created_at": created, "message": {"role": "assistant", "content": ""},
                 "done": True, "done_reason": "stop", "total_duration": 1000000, "load_duration": 1000,
                 "prompt_eval_count": prompt_n, "prompt_eval_duration": 1000, "eval_count": len(toks),
                 "eval_duration": 1000}
        if step.get("no_usage"):
            del final["prompt_eval_count"], final["eval_count"]
        if body.get("stream", True) is False:
            final["message"]["content"] = reply
            return self._send_json(200, final)
        self._start_stream("application/x-ndjson")
        for i, tok in enumerate(toks):
            if "malformed_chunk" in step and i == int(step["malformed_chunk"]):
                self._chunk("{oops\n")
            if "stall_after_chunks" in step and i == step["stall_after_chunks"]:
                return self._stall()
            if self.provider.token_delay:
                time.sleep(self.provider.token_delay)
            self._chunk(json.dumps({"model": model, "created_at": created,
                                    "message": {"role": "assistant", "content": tok}, "done": False}) + "\n")
        self._chunk(json.dumps(final) + "\n")
        self._end_stream()
