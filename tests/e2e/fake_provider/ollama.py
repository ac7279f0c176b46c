"""Ollama: POST /api/chat (NDJSON stream unless "stream": false), GET /api/tags,
GET /api/version, GET / ("Ollama is running")."""
import datetime
import hashlib
import json
import time

from .common import _cut_at_stop, _dumps, _prompt_tokens, _stop_list, _truncate, tokenize
from .errors import _Invalid
from .openai_checks import _check_tools, _tool_plan

OLLAMA_ROLES = ("system", "user", "assistant", "tool")


def _json_object(text):
    """Tool-call arguments as the object Ollama sends ({} when the text is not a JSON object)."""
    try:
        v = json.loads(text)
    except ValueError:
        return {}
    return v if isinstance(v, dict) else {}


def _ollama_name(name):
    return name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"


class _Ollama:
    """Handler mixin: Ollama's routes (no auth)."""

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
        if not isinstance(options, dict):
            return self._send_json(400, {"error": "json: cannot unmarshal string into Go struct field "
                                                  "ChatRequest.options of type map[string]interface {}"})
        try:
            names = _check_tools(b["tools"]) if b.get("tools") else []
        except _Invalid as e:
            return self._send_json(400, {"error": str(e)})
        fmt = b.get("format")
        if fmt not in (None, "", "json") and not isinstance(fmt, dict):
            return self._send_json(400, {"error": "invalid format: expected \"json\" or a JSON schema"})
        for m in messages:
            for tc in m.get("tool_calls") or []:
                if not isinstance((tc.get("function") or {}).get("arguments", {}), dict):
                    return self._send_json(400, {"error": "json: cannot unmarshal string into Go struct field "
                                                          "ToolCallFunction.messages.tool_calls.function.arguments "
                                                          "of type api.ToolCallFunctionArguments"})
        calls = [{"function": {"name": name, "arguments": _json_object(args)}}
                 for name, args in _tool_plan(self.step, names, None, None)]
        tokens, finish = [], "stop"
        if not calls:
            reply = self._answer_text(messages, fmt if isinstance(fmt, dict) else None, "json" if fmt else None)
            reply, _ = _cut_at_stop(reply, _stop_list(options.get("stop")))
            tokens, finish = _truncate(tokenize(reply), options.get("num_predict"))
        reply = "".join(tokens)
        elapsed = max(1, int((time.monotonic() - self.started) * 1e9))
        final = {"model": model, "created_at": created, "message": {"role": "assistant", "content": ""},
                 "done_reason": finish, "done": True, "total_duration": elapsed + 2_000_000,
                 "load_duration": 1_000_000, "prompt_eval_count": _prompt_tokens(messages),
                 "prompt_eval_duration": 500_000, "eval_count": len(tokens) or len(calls),
                 "eval_duration": 500_000}
        if self.step.get("no_usage"):
            del final["prompt_eval_count"], final["eval_count"]
        if not stream:
            final["message"]["content"] = reply
            if calls:
                final["message"]["tool_calls"] = calls
            return self._reply(final, content_type="application/json; charset=utf-8")
        frames = [_dumps({"model": model, "created_at": created, "message": {"role": "assistant", "content": t},
                          "done": False}) + b"\n" for t in tokens]
        if calls:  # Ollama sends the calls whole, in one message before the final one
            frames.append(_dumps({"model": model, "created_at": created,
                                  "message": {"role": "assistant", "content": "", "tool_calls": calls},
                                  "done": False}) + b"\n")
        frames.append(_dumps(final) + b"\n")
        bad = b'{"model":"' + model.encode() + b'","created_at":"' + created.encode() + b'","message":{\n'
        self._stream(ndjson_type, frames, 0, len(frames) - 1, bad)

    @staticmethod
    def _ollama_model(name):
        full = _ollama_name(name)
        return {"name": full, "model": full, "modified_at": "2024-09-25T12:00:00.000000000Z", "size": 2019393189,
                "digest": hashlib.sha256(full.encode()).hexdigest(),
                "details": {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                            "parameter_size": "3.2B", "quantization_level": "Q4_K_M"}}
