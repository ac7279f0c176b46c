"""OpenAI request features, checked as OpenAI does: pure helpers shared by chat,
Responses and Ollama. A refused request raises _Invalid with OpenAI's 400 body."""
import json
import re

from .common import _is_int, _num, _stop_list, _text
from .errors import _Invalid
from .schema import _strict_schema_problem

OPENAI_ROLES = ("system", "developer", "user", "assistant", "tool", "function")

# Chat Completions' documented body parameters; anything else is refused as OpenAI does.
_CHAT_PARAMS = frozenset((
    "model", "messages", "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
    "max_completion_tokens", "max_tokens", "metadata", "modalities", "n", "parallel_tool_calls", "prediction",
    "presence_penalty", "prompt_cache_key", "reasoning_effort", "response_format", "safety_identifier", "seed",
    "service_tier", "stop", "store", "stream", "stream_options", "temperature", "tool_choice", "tools",
    "top_logprobs", "top_p", "user", "verbosity", "web_search_options"))
_COMPLETION_PARAMS = frozenset((
    "model", "prompt", "best_of", "echo", "frequency_penalty", "logit_bias", "logprobs", "max_tokens", "n",
    "presence_penalty", "seed", "stop", "stream", "stream_options", "suffix", "temperature", "top_p", "user"))
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_PART_TYPES = ("text", "image_url", "input_audio", "file", "refusal")


def _check_range(b, key, lo, hi, integer=False):
    v = b.get(key)
    if v is None:
        return
    kind = "integer" if integer else "decimal"
    if not (_is_int(v) if integer else _num(v)):
        raise _Invalid(f"Invalid type for '{key}': expected {'an integer' if integer else 'a number'}, but got "
                       f"{type(v).__name__} instead.", key, "invalid_type")
    if v > hi:
        raise _Invalid(f"Invalid '{key}': {kind} above maximum value. Expected a value <= {hi}, but got {v} "
                       "instead.", key, f"{kind}_above_max_value")
    if v < lo:
        raise _Invalid(f"Invalid '{key}': {kind} below minimum value. Expected a value >= {lo}, but got {v} "
                       "instead.", key, f"{kind}_below_min_value")


def _check_tools(tools, flat=False):
    """OpenAI's function tools: [{type: function, function: {name, description?, parameters?, strict?}}]
    (Responses: the function's fields sit beside type). Returns their names."""
    if not isinstance(tools, list):
        raise _Invalid("Invalid type for 'tools': expected an array, but got an object instead.", "tools",
                       "invalid_type")
    if not tools and not flat:
        raise _Invalid("Invalid 'tools': empty array. Expected an array with minimum length 1, but got an empty "
                       "array instead.", "tools", "empty_array")
    names = []
    for i, t in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(t, dict):
            raise _Invalid(f"Invalid type for '{where}': expected an object, but got {type(t).__name__} instead.",
                           where, "invalid_type")
        if "type" not in t:
            raise _Invalid(f"Missing required parameter: '{where}.type'.", f"{where}.type",
                           "missing_required_parameter")
        if t["type"] != "function":
            if flat:
                continue  # built-in tools (web_search, file_search...): the fake has none, and ignores them
            raise _Invalid(f"Invalid value: '{t['type']}'. Supported values are: 'function' and 'custom'.",
                           f"{where}.type", "invalid_value")
        fn, fwhere = (t, where) if flat else (t.get("function"), f"{where}.function")
        if not isinstance(fn, dict):
            raise _Invalid(f"Missing required parameter: '{fwhere}'.", fwhere, "missing_required_parameter")
        name = fn.get("name")
        if name is None:
            raise _Invalid(f"Missing required parameter: '{fwhere}.name'.", f"{fwhere}.name",
                           "missing_required_parameter")
        if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
            raise _Invalid(f"Invalid '{fwhere}.name': string does not match pattern. Expected a string that "
                           "matches the pattern '^[a-zA-Z0-9_-]+$'.", f"{fwhere}.name", "invalid_value")
        if "description" in fn and not isinstance(fn["description"], str):
            raise _Invalid(f"Invalid type for '{fwhere}.description': expected a string.", f"{fwhere}.description",
                           "invalid_type")
        params = fn.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise _Invalid(f"Invalid type for '{fwhere}.parameters': expected an object.", f"{fwhere}.parameters",
                           "invalid_type")
        strict = fn.get("strict")
        if strict is not None and not isinstance(strict, bool):
            raise _Invalid(f"Invalid type for '{fwhere}.strict': expected a boolean.", f"{fwhere}.strict",
                           "invalid_type")
        if strict and (problem := _strict_schema_problem(params or {"type": "object", "properties": {}})):
            raise _Invalid(f"Invalid schema for function '{name}': {problem}", f"{fwhere}.parameters",
                           "invalid_function_parameters")
        names.append(name)
    return names


def _check_tool_choice(choice, names, flat=False):
    if choice is None:
        return
    if not names:
        raise _Invalid("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
                       "specified.", "tool_choice")
    if isinstance(choice, str):
        if choice not in ("none", "auto", "required"):
            raise _Invalid(f"Invalid value: '{choice}'. Supported values are: 'none', 'auto', and 'required'.",
                           "tool_choice", "invalid_value")
        return
    fn = choice.get("function") if isinstance(choice, dict) and not flat else choice
    name = fn.get("name") if isinstance(fn, dict) else None
    if not isinstance(choice, dict) or choice.get("type") != "function" or not isinstance(name, str):
        raise _Invalid("Invalid 'tool_choice': expected 'none', 'auto', 'required' or "
                       + ("{type: 'function', name}" if flat else "{type: 'function', function: {name}}") + ".",
                       "tool_choice", "invalid_value")
    if name not in names:
        raise _Invalid(f"Invalid 'tool_choice': function '{name}' is not among the functions in 'tools'.",
                       "tool_choice", "invalid_value")


def _tool_plan(step, names, choice, parallel, flat=False):
    """The calls an answer makes: [(name, arguments text)], or [] for a text answer.
    A scripted {"tool_calls": [...]} step calls those of its tools the request
    declared (a proxy that dropped `tools` gets text back); a tool_choice that
    forces a function calls it with "{}" ("required": the first tool)."""
    if not names or choice == "none":
        return []
    calls = []
    for c in step.get("tool_calls") or []:
        if isinstance(c, dict) and c.get("name") in names:
            args = c.get("arguments", "{}")
            calls.append((c["name"], args if isinstance(args, str) else json.dumps(args)))
    if not calls:
        if choice == "required":
            calls = [(names[0], "{}")]
        elif isinstance(choice, dict):
            fn = choice if flat else choice.get("function") or {}
            calls = [(fn.get("name"), "{}")]
    return calls[:1] if parallel is False else calls


def _check_response_format(rf, messages):
    """(kind, schema) of an OpenAI response_format: ("text"|"json_object"|"json_schema", schema or None)."""
    if rf is None:
        return "text", None
    if not isinstance(rf, dict) or "type" not in rf:
        raise _Invalid("Missing required parameter: 'response_format.type'.", "response_format.type",
                       "missing_required_parameter")
    kind = rf["type"]
    if kind == "text":
        return kind, None
    if kind == "json_object":
        if not any("json" in _text(m.get("content")).lower() for m in messages if isinstance(m, dict)):
            raise _Invalid("'messages' must contain the word 'json' in some form, to use 'response_format' of type "
                           "'json_object'.", "messages")
        return kind, None
    if kind == "json_schema":
        js = rf.get("json_schema")
        if not isinstance(js, dict):
            raise _Invalid("Missing required parameter: 'response_format.json_schema'.",
                           "response_format.json_schema", "missing_required_parameter")
        return kind, _check_named_schema(js, "response_format.json_schema", "response_format")
    raise _Invalid(f"Invalid value: '{kind}'. Supported values are: 'json_object', 'json_schema', and 'text'.",
                   "response_format.type", "invalid_value")


def _check_named_schema(js, where, param):
    name = js.get("name")
    if name is None:
        raise _Invalid(f"Missing required parameter: '{where}.name'.", f"{where}.name", "missing_required_parameter")
    if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
        raise _Invalid(f"Invalid '{where}.name': string does not match pattern. Expected a string that matches the "
                       "pattern '^[a-zA-Z0-9_-]+$'.", f"{where}.name", "invalid_value")
    schema = js.get("schema")
    if schema is not None and not isinstance(schema, dict):
        raise _Invalid(f"Invalid type for '{where}.schema': expected an object.", f"{where}.schema", "invalid_type")
    if js.get("strict") and (problem := _strict_schema_problem(schema or {})):
        raise _Invalid(f"Invalid schema for response_format '{name}': {problem}", param, "invalid_json_schema")
    return schema if schema is not None else {"type": "object", "properties": {}}


def _check_chat_messages(messages):
    """Roles, content parts, and OpenAI's tool-call pairing: a "tool" message must answer
    a tool_call id of an earlier assistant message, and every call must be answered."""
    open_calls = {}  # id -> index of the assistant message that made it
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in OPENAI_ROLES:
            raise _Invalid(f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', "
                           "'function', 'tool', and 'developer'.", f"messages[{i}].role", "invalid_value")
        if role != "tool" and open_calls:
            missing = ", ".join(open_calls)
            raise _Invalid("An assistant message with 'tool_calls' must be followed by tool messages responding to "
                           f"each 'tool_call_id'. The following tool_call_ids did not have response messages: "
                           f"{missing}", f"messages.[{next(iter(open_calls.values()))}].role")
        content = m.get("content")
        calls = m.get("tool_calls") if role == "assistant" else None
        if content is None and not (calls or (role == "assistant" and (m.get("function_call") or m.get("refusal")))):
            raise _Invalid(f"Invalid value for 'content': expected a string, got null.", f"messages.[{i}].content")
        if isinstance(content, list):
            for j, part in enumerate(content):
                ptype = part.get("type") if isinstance(part, dict) else None
                if ptype not in _PART_TYPES:
                    raise _Invalid(f"Invalid value: '{ptype}'. Supported values are: 'text', 'image_url', "
                                   "'input_audio', 'refusal', and 'file'.", f"messages[{i}].content[{j}].type",
                                   "invalid_value")
                if ptype == "image_url" and not (isinstance(part.get("image_url"), dict)
                                                 and isinstance(part["image_url"].get("url"), str)):
                    raise _Invalid(f"Missing required parameter: 'messages[{i}].content[{j}].image_url.url'.",
                                   f"messages[{i}].content[{j}].image_url.url", "missing_required_parameter")
                if ptype == "image_url" and role != "user":
                    raise _Invalid(f"Invalid 'messages[{i}]'. Image URLs are only allowed for messages with role "
                                   "'user'", f"messages.[{i}].content.[{j}].type")
        elif content is not None and not isinstance(content, str):
            raise _Invalid(f"Invalid type for 'messages[{i}].content': expected one of a string or array of "
                           "objects.", f"messages[{i}].content", "invalid_type")
        if calls is not None:
            if not isinstance(calls, list):
                raise _Invalid(f"Invalid type for 'messages[{i}].tool_calls': expected an array.",
                               f"messages[{i}].tool_calls", "invalid_type")
            for j, c in enumerate(calls):
                fn = c.get("function") if isinstance(c, dict) else None
                if not (isinstance(c, dict) and isinstance(c.get("id"), str) and isinstance(fn, dict)
                        and isinstance(fn.get("name"), str) and isinstance(fn.get("arguments"), str)):
                    raise _Invalid(f"Missing required parameter: 'messages[{i}].tool_calls[{j}]' needs id, type "
                                   "and function {name, arguments (a string)}.", f"messages[{i}].tool_calls[{j}]",
                                   "missing_required_parameter")
                open_calls[c["id"]] = i
        if role == "tool":
            tcid = m.get("tool_call_id")
            if not isinstance(tcid, str):
                raise _Invalid("Missing parameter 'tool_call_id': messages with role 'tool' must have a "
                               "'tool_call_id'.", f"messages.[{i}].tool_call_id")
            if tcid not in open_calls:
                raise _Invalid("Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                               "message with 'tool_calls'.", f"messages.[{i}].role")
            del open_calls[tcid]
    if open_calls:
        raise _Invalid("An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                       f"'tool_call_id'. The following tool_call_ids did not have response messages: "
                       f"{', '.join(open_calls)}", f"messages.[{next(iter(open_calls.values()))}].role")


def _check_chat_extras(b, messages, chat=True):
    """Everything past model/messages/limits, checked as OpenAI does. Returns what shapes the answer."""
    params = _CHAT_PARAMS if chat else _COMPLETION_PARAMS
    for k in b:
        if k not in params:
            raise _Invalid(f"Unrecognized request argument supplied: {k}")
    _check_range(b, "top_p", 0, 1)
    _check_range(b, "frequency_penalty", -2, 2)
    _check_range(b, "presence_penalty", -2, 2)
    _check_range(b, "temperature", 0, 2)
    seed = b.get("seed")
    if seed is not None and not _is_int(seed):
        raise _Invalid(f"Invalid type for 'seed': expected an integer, but got {type(seed).__name__} instead.",
                       "seed", "invalid_type")
    stop = b.get("stop")
    if stop is not None:
        if not (isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(s, str) for s in stop))):
            raise _Invalid("Invalid type for 'stop': expected one of a string or array of strings.", "stop",
                           "invalid_type")
        if isinstance(stop, list) and len(stop) > 4:
            raise _Invalid(f"Invalid 'stop': array too long. Expected an array with maximum length 4, but got an "
                           f"array with length {len(stop)} instead.", "stop", "array_above_max_length")
    for k in ("user", "safety_identifier"):
        if b.get(k) is not None and not isinstance(b[k], str):
            raise _Invalid(f"Invalid type for '{k}': expected a string, but got {type(b[k]).__name__} instead.", k,
                           "invalid_type")
    md = b.get("metadata")
    if md is not None:
        if not isinstance(md, dict) or len(md) > 16:
            raise _Invalid("Invalid 'metadata': expected an object of at most 16 string values.", "metadata",
                           "invalid_type")
        for k, v in md.items():
            if not isinstance(v, str) or len(k) > 64 or len(v) > 512:
                raise _Invalid(f"Invalid type for 'metadata.{k}': expected a string of at most 512 characters.",
                               f"metadata.{k}", "invalid_type")
    n = b.get("n", 1)
    _check_range(b, "n", 1, 8, integer=True)
    if not chat:
        return {"n": 1, "stop": _stop_list(stop)}
    lp = b.get("logprobs")
    if lp is not None and not isinstance(lp, bool):
        raise _Invalid(f"Invalid type for 'logprobs': expected a boolean, but got {type(lp).__name__} instead.",
                       "logprobs", "invalid_type")
    _check_range(b, "top_logprobs", 0, 20, integer=True)
    if b.get("top_logprobs") is not None and lp is not True:
        raise _Invalid("Invalid value for 'top_logprobs': 'logprobs' must be set to true if 'top_logprobs' is used.",
                       "top_logprobs")
    names = _check_tools(b["tools"]) if b.get("tools") is not None else []
    _check_tool_choice(b.get("tool_choice"), names)
    ptc = b.get("parallel_tool_calls")
    if ptc is not None:
        if not isinstance(ptc, bool):
            raise _Invalid("Invalid type for 'parallel_tool_calls': expected a boolean.", "parallel_tool_calls",
                           "invalid_type")
        if not names:
            raise _Invalid("Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed when "
                           "'tools' are specified.", "parallel_tool_calls")
    fmt, schema = _check_response_format(b.get("response_format"), messages)
    return {"n": n, "stop": _stop_list(stop), "logprobs": lp is True, "top_logprobs": b.get("top_logprobs") or 0,
            "tools": names, "tool_choice": b.get("tool_choice"), "parallel": ptc, "format": fmt, "schema": schema}
