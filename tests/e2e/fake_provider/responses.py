"""The OpenAI Responses API (POST /v1/responses, Azure's /openai/responses)."""
import hashlib
import time
import uuid

from .common import _call_id, _dumps, _fragments, _prompt_tokens, _text, _truncate, tokenize, words
from .errors import _BAD_JSON, _Invalid, _openai_error
from .openai_checks import _check_named_schema, _check_range, _check_tool_choice, _check_tools, _tool_plan

_RESPONSES_PARAMS = frozenset((
    "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "stream", "stream_options",
    "max_output_tokens", "max_tool_calls", "temperature", "top_p", "top_logprobs", "text", "metadata", "store",
    "previous_response_id", "conversation", "reasoning", "truncation", "user", "safety_identifier",
    "prompt_cache_key", "service_tier", "include", "background", "prompt"))


def _responses_items(b, stored):
    """The conversation of a Responses API request (the previous response's first) as
    input items, checked as OpenAI does: function_call_output answers an earlier call."""
    items = []
    prev = b.get("previous_response_id")
    if prev is not None:
        if prev not in stored:
            raise _Invalid(f"Previous response with id '{prev}' not found.", "previous_response_id",
                           "previous_response_not_found")
        items += stored[prev]
    inp = b.get("input")
    if inp is None and prev is None:
        raise _Invalid("Missing required parameter: 'input'.", "input", "missing_required_parameter")
    if isinstance(inp, str):
        inp = [{"role": "user", "content": inp}]
    if inp is not None and not isinstance(inp, list):
        raise _Invalid("Invalid type for 'input': expected one of a string or array of input items.", "input",
                       "invalid_type")
    calls = {i["call_id"] for i in items if i.get("type") == "function_call"}
    answered = {i["call_id"] for i in items if i.get("type") == "function_call_output"}
    for n, item in enumerate(inp or []):
        where = f"input[{n}]"
        if not isinstance(item, dict):
            raise _Invalid(f"Invalid type for '{where}': expected an object.", where, "invalid_type")
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            if item.get("role") not in ("user", "system", "developer", "assistant"):
                raise _Invalid(f"Invalid value: '{item.get('role')}'. Supported values are: 'user', 'system', "
                               "'developer', and 'assistant'.", f"{where}.role", "invalid_value")
            content = item.get("content")
            if not isinstance(content, (str, list)):
                raise _Invalid(f"Missing required parameter: '{where}.content'.", f"{where}.content",
                               "missing_required_parameter")
            for j, part in enumerate(content if isinstance(content, list) else []):
                ptype = part.get("type") if isinstance(part, dict) else None
                if ptype not in ("input_text", "input_image", "input_file", "output_text", "refusal"):
                    raise _Invalid(f"Invalid value: '{ptype}'. Supported values are: 'input_text', 'input_image', "
                                   "'output_text', 'refusal', and 'input_file'.", f"{where}.content[{j}].type",
                                   "invalid_value")
        elif kind == "function_call":
            if not all(isinstance(item.get(k), str) for k in ("call_id", "name", "arguments")):
                raise _Invalid(f"Missing required parameter: '{where}' needs call_id, name and arguments.",
                               where, "missing_required_parameter")
            calls.add(item["call_id"])
        elif kind == "function_call_output":
            if not isinstance(item.get("call_id"), str):
                raise _Invalid(f"Missing required parameter: '{where}.call_id'.", f"{where}.call_id",
                               "missing_required_parameter")
            if item["call_id"] not in calls:
                raise _Invalid(f"No tool call found for function call output with call_id {item['call_id']}.",
                               "input")
            answered.add(item["call_id"])
        elif kind is None:
            raise _Invalid(f"Missing required parameter: '{where}.type'.", f"{where}.type",
                           "missing_required_parameter")
        items.append({**item, "type": kind})
    if calls - answered:
        raise _Invalid(f"No tool output found for function call {sorted(calls - answered)[0]}.", "input")
    return items


def _responses_messages(items):
    """Responses input items as chat messages, for the echo and token counts."""
    out = []
    for i in items:
        if i["type"] == "message":
            c = i["content"]
            text = c if isinstance(c, str) else " ".join(p.get("text", "") for p in c if isinstance(p, dict)
                                                         and isinstance(p.get("text"), str))
            out.append({"role": i["role"], "content": text})
        elif i["type"] == "function_call_output":
            o = i.get("output")
            out.append({"role": "tool", "content": o if isinstance(o, str) else _text(o)})
    return out


class _Responses:
    """Handler mixin: the Responses API, stored responses for previous_response_id."""

    def _responses(self, dialect="openai"):
        p = self.provider
        if self.bad_json or not isinstance(self.body, dict):
            return self._send_json(400, _openai_error(_BAD_JSON))
        b = self.body
        model = b.get("model")
        if not isinstance(model, str) or not model:
            return self._send_json(400, _openai_error("Missing required parameter: 'model'.", param="model",
                                                      code="missing_required_parameter"))
        if dialect == "openai" and p.known_models_only and model not in p.openai_models:
            return self._send_json(404, _openai_error(
                f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found"))
        try:
            for k in b:
                if k not in _RESPONSES_PARAMS:
                    raise _Invalid(f"Unknown parameter: '{k}'.", k, "unknown_parameter")
            _check_range(b, "top_p", 0, 1)
            _check_range(b, "temperature", 0, 2)
            _check_range(b, "max_output_tokens", 16, 1 << 20, integer=True)
            with p._lock:
                stored = dict(p.stored_responses)
            items = _responses_items(b, stored)
            messages = _responses_messages(items)
            names = _check_tools(b["tools"], flat=True) if b.get("tools") is not None else []
            _check_tool_choice(b.get("tool_choice"), names, flat=True)
            text = b.get("text") if isinstance(b.get("text"), dict) else {}
            fmt = text.get("format") if isinstance(text.get("format"), dict) else {"type": "text"}
            kind, schema = fmt.get("type"), None
            if kind == "json_schema":
                schema = _check_named_schema(fmt, "text.format", "text.format")
            elif kind == "json_object" and not any("json" in m["content"].lower() for m in messages):
                raise _Invalid("Response input messages must contain the word 'json' in some form to use "
                               "'text.format' of type 'json_object'.", "input")
            elif kind not in ("text", "json_object"):
                raise _Invalid(f"Invalid value: '{kind}'. Supported values are: 'text', 'json_object', and "
                               "'json_schema'.", "text.format.type", "invalid_value")
        except _Invalid as e:
            return self._send_json(400, e.body)
        calls = _tool_plan(self.step, names, b.get("tool_choice"), b.get("parallel_tool_calls"), flat=True)
        tokens, finish = [], "stop"
        if not calls:
            tokens, finish = _truncate(tokenize(self._answer_text(messages, schema, kind)), b.get("max_output_tokens"))
        rid = "resp_" + uuid.uuid4().hex
        mid = "msg_" + hashlib.sha1(rid.encode()).hexdigest()[:32]
        output = [{"id": "fc_" + hashlib.sha1(f"{rid}{j}".encode()).hexdigest()[:32], "type": "function_call",
                   "status": "completed", "arguments": args, "call_id": _call_id(name, args, j), "name": name}
                  for j, (name, args) in enumerate(calls)]
        if not calls:
            output = [{"id": mid, "type": "message", "status": "completed", "role": "assistant",
                       "content": [{"type": "output_text", "text": "".join(tokens), "annotations": [],
                                    "logprobs": []}]}]
        in_n = _prompt_tokens(messages + [{"content": b.get("instructions") or ""}])
        out_n = len(tokens) if not calls else sum(1 + len(words(a)) for _, a in calls)
        status = "incomplete" if finish == "length" else "completed"

        def response(state, out):
            r = {"id": rid, "object": "response", "created_at": int(time.time()), "status": state,
                 "background": False, "error": None,
                 "incomplete_details": {"reason": "max_output_tokens"} if state == "incomplete" else None,
                 "instructions": b.get("instructions"), "max_output_tokens": b.get("max_output_tokens"),
                 "max_tool_calls": b.get("max_tool_calls"), "model": model, "output": out,
                 "parallel_tool_calls": b.get("parallel_tool_calls", True),
                 "previous_response_id": b.get("previous_response_id"),
                 "reasoning": {"effort": None, "summary": None}, "service_tier": "default",
                 "store": b.get("store", True), "temperature": b.get("temperature", 1.0),
                 "text": {"format": fmt}, "tool_choice": b.get("tool_choice", "auto"), "tools": b.get("tools", []),
                 "top_logprobs": 0, "top_p": b.get("top_p", 1.0), "truncation": "disabled", "usage": None,
                 "user": b.get("user"), "metadata": b.get("metadata") or {}}
            if state in ("completed", "incomplete") and not self.step.get("no_usage"):
                r["usage"] = {"input_tokens": in_n, "input_tokens_details": {"cached_tokens": 0},
                              "output_tokens": out_n, "output_tokens_details": {"reasoning_tokens": 0},
                              "total_tokens": in_n + out_n}
            return r

        if b.get("store", True) is not False:
            with p._lock:
                p.stored_responses[rid] = items + [{k: v for k, v in o.items() if k != "status"} for o in output]
        headers = self._common_headers(dialect)
        if b.get("stream") is not True:
            return self._reply(response(status, output), headers)
        frames, seq = [], iter(range(1 << 30))

        def event(kind, **data):
            frames.append(b"event: " + kind.encode() + b"\ndata: " +
                          _dumps({"type": kind, "sequence_number": next(seq), **data}) + b"\n\n")

        event("response.created", response=response("in_progress", []))
        event("response.in_progress", response=response("in_progress", []))
        first = n_tokens = 0
        for k, item in enumerate(output):
            if item["type"] == "function_call":
                event("response.output_item.added", output_index=k,
                      item={**item, "status": "in_progress", "arguments": ""})
                for f in _fragments(item["arguments"]):
                    event("response.function_call_arguments.delta", item_id=item["id"], output_index=k, delta=f)
                event("response.function_call_arguments.done", item_id=item["id"], output_index=k,
                      name=item["name"], arguments=item["arguments"])
            else:
                part = item["content"][0]
                event("response.output_item.added", output_index=k, item={**item, "status": "in_progress",
                                                                            "content": []})
                event("response.content_part.added", item_id=item["id"], output_index=k, content_index=0,
                      part={**part, "text": ""})
                first, n_tokens = len(frames), len(tokens)
                for t in tokens:
                    event("response.output_text.delta", item_id=item["id"], output_index=k, content_index=0,
                          delta=t, logprobs=[])
                event("response.output_text.done", item_id=item["id"], output_index=k, content_index=0,
                      text=part["text"], logprobs=[])
                event("response.content_part.done", item_id=item["id"], output_index=k, content_index=0, part=part)
            event("response.output_item.done", output_index=k, item=item)
        event("response.incomplete" if status == "incomplete" else "response.completed",
              response=response(status, output))
        self._stream("text/event-stream; charset=utf-8", frames, first, n_tokens,
                     b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","del\n\n',
                     headers)
