"""The request handler: dispatch by path to each provider's surface, the /_fake control
endpoints, recording, and the OpenAI and Azure front doors (auth, routes, headers)."""
import json
import re
import time
import uuid
from urllib.parse import parse_qs, unquote, urlsplit

from .common import _echo, _images, _last_tool_result, _last_user
from .embeddings_models import _EmbeddingsModels
from .errors import _AZURE_401, _NO_KEY, _ScriptedErrors, _openai_error
from .ollama import _Ollama
from .openai_chat import _ChatCompletions
from .responses import _Responses
from .schema import _json_answer
from .tgi import _Tgi
from .transport import _HttpTransport

_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(?:-preview)?")


class _Handler(_ChatCompletions, _Responses, _EmbeddingsModels, _Tgi, _Ollama, _ScriptedErrors, _HttpTransport):
    """One connection's handler (keep-alive: many requests), composed of each surface's mixin."""

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
        if self.route.startswith("/_fake/"):
            return self._control()
        p._record({"method": self.command, "path": split.path, "query": self.query,
                   "headers": {k.lower(): v for k, v in self.headers.items()}, "json": body, "body": raw,
                   "images": _images(body), "time": time.time(), "client": self.client_address})
        try:
            self.step = p._next_step()
            if self.step.get("drop"):
                return self._abort()
            if self.step.get("delay"):
                self._sleep(self.step["delay"])
            self._route()
        finally:
            p._done()

    def _control(self):
        """Scripting from another process (no auth, not recorded, uses up no step)."""
        p = self.provider
        if (self.command, self.route) == ("POST", "/_fake/reset"):
            with p._lock:
                p._steps.clear()
            return self._send_json(200, {"queued": 0})
        if (self.command, self.route) == ("POST", "/_fake/script"):
            steps = self.body
            if self.bad_json or not isinstance(steps, list) or not all(isinstance(x, dict) for x in steps):
                return self._send_json(400, {"error": "expected a JSON array of step objects"})
            p.script(*steps)
            return self._send_json(200, {"queued": p.pending_steps()})
        self._send_json(404, {"error": f"no control endpoint {self.command} {self.route}"})

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

    # -- OpenAI / vLLM / TGI Messages API -------------------------------------
    def _openai(self):
        p = self.provider
        method = "GET" if self.command == "HEAD" else self.command
        routes = {("POST", "/v1/chat/completions"): self._chat,
                  ("POST", "/v1/completions"): lambda: self._chat(completions=True),
                  ("POST", "/v1/embeddings"): self._embeddings,
                  ("POST", "/v1/responses"): self._responses,
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

    # -- answers shared by chat, Responses and Ollama ----------------------------
    def _answer_text(self, messages, schema=None, fmt=None):
        """A text answer: the scripted content, else JSON in a JSON mode, else an echo of
        the tool result that ends the conversation, else of the last user message."""
        if "content" in self.step:
            return self.step["content"]
        if fmt in ("json_object", "json_schema", "json"):
            return _json_answer(schema, _last_user(messages))
        tool = _last_tool_result(messages)
        return "echo: " + tool if tool is not None else _echo(messages)

    # -- Azure OpenAI ----------------------------------------------------------
    def _azure(self):
        p = self.provider
        if self.headers.get("api-key") != p.azure_key:
            return self._send_json(401, {"error": {"code": "401", "message": _AZURE_401}})
        version = self.query.get("api-version", [""])[0]
        if self.route == "/openai/responses" and self.command == "POST" and _API_VERSION.fullmatch(version):
            if self._scripted_error("azure"):
                return
            return self._responses(dialect="azure")  # the deployment is the body's model
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
