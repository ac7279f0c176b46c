"""A loopback stand-in for paid model providers, for end-to-end tests of
aionOS's real provider clients. Python standard library only.

It speaks each provider's own wire protocol:

  OpenAI / vLLM / TGI Messages API (Authorization: Bearer <key>)
    POST /v1/chat/completions   chat.completion, or SSE `data: {chat.completion.chunk}`
                                frames ending `data: [DONE]`; with
                                stream_options.include_usage every chunk carries
                                "usage": null and a last chunk has choices: [] + usage
    POST /v1/completions        text_completion (default max_tokens 16, as OpenAI)
    POST /v1/responses          Responses API: a response object, or SSE typed events
                                (`event: response.created` ... response.output_text.delta
                                ... response.completed, each with sequence_number)
    POST /v1/embeddings         deterministic unit vectors (dim 8, or `dimensions`),
                                encoding_format float or base64
    GET  /v1/models[/{id}]
  Azure OpenAI (api-key header, ?api-version=YYYY-MM-DD[-preview])
    POST /openai/deployments/{deployment}/{chat/completions,completions,embeddings}
         same bodies as OpenAI with model = deployment, plus Azure's
         prompt_filter_results / content_filter_results (a streamed answer
         starts with Azure's choices-less prompt_filter_results chunk)
    POST /openai/responses      the Responses API, the deployment as the body's model
  Hugging Face TGI (Authorization: Bearer <HF token>)
    POST /generate, POST /generate_stream (SSE `data:{...}` per token, the last
         one with generated_text and details), POST / (TGI's compat route)
  Ollama (no auth)
    POST /api/chat (NDJSON stream unless "stream": false), GET /api/tags,
    GET /api/version, GET / ("Ollama is running")

Answers are deterministic: "echo: " + the last user message (TGI: the last
line of `inputs`, without a "user: " tag); when the conversation ends with a
tool result (a "tool" message, a function_call_output item), "echo: " + its
content. prompt tokens = whitespace words of all messages (min 1), completion
tokens = words of the answer, streamed one word per chunk ("w1 ", "w2 ", ...,
"wn"). Limits (max_tokens, max_completion_tokens, max_output_tokens,
max_new_tokens, options.num_predict) truncate the answer with finish reason
"length".

Chat Completions features, checked and answered as OpenAI does (a refused
request gets OpenAI's 400 {error: {message, type, param, code}}; an unknown
body parameter: "Unrecognized request argument supplied", param and code null):
  tools [{type: function, function: {name, description?, parameters?, strict?}}]
      (strict: the schema must have additionalProperties false and require every
      property), tool_choice none|auto|required|{type: function, function: {name}},
      parallel_tool_calls (false: at most one call). Messages: an assistant
      message may carry tool_calls with content null; a "tool" message needs a
      tool_call_id of an earlier assistant tool call, and every call needs its
      tool message. Tool calls answer with content null, tool_calls
      [{id: "call_<sha1 of name, arguments, index>", type, function}], finish
      reason "tool_calls"; streamed: the role with the first call's head
      {index, id, type, function: {name, arguments: ""}}, then the arguments in
      about three {index, function: {arguments}} fragments, call by call.
  response_format text | json_object (the messages must say "json": the answer
      is {"echo": <last user text>}) | json_schema {name, schema, strict} (the
      answer is a minimal instance: each property, "echo", 0, false, [], the
      first enum value, the const).
  stop (a string or up to 4): the answer ends before the first stop string.
  seed: checked, answered with "system_fingerprint": "fp_fake" (always there).
  logprobs + top_logprobs (0-20): choices[].logprobs.content, one entry per
      token with logprob -0.01*(i+1) and top_logprobs alternatives ("alt1"...);
      streamed, each token chunk carries its own entry.
  n (1-8): n identical choices; streamed chunks interleave their indexes.
  top_p (0-1), frequency_penalty and presence_penalty (-2..2), temperature
      (0-2), user, metadata (up to 16 strings), max_completion_tokens: checked.
  user content may be an array of {type: text} and {type: image_url,
      image_url: {url}} parts: the answer echoes the text parts; image inputs
      are recorded in requests[i]["images"].
  known_models_only = True: /v1 chat, responses and embeddings answer 404
      model_not_found for a model not in openai_models.
The Responses API takes input (a string or items: messages with input_text /
input_image parts, function_call, function_call_output, whose call_id must name
an earlier call), instructions, tools (flat: {type: function, name, ...};
built-in tool types are accepted and ignored), tool_choice, text.format
(json_object, json_schema), previous_response_id (a stored earlier response;
else 400 previous_response_not_found); an unknown parameter: 400
unknown_parameter naming it. Function calls answer as output items
{type: function_call, id: "fc_...", call_id, name, arguments}.
Ollama /api/chat takes tools (OpenAI's function-tool shape) and answers calls
as message.tool_calls [{function: {name, arguments: <object>}}] with done_reason
"stop" (an assistant message sending arguments as text is refused, as Ollama
does); "tool" messages; format "json" or a JSON schema; options.stop (removed
from the answer), seed, top_p, frequency_penalty, presence_penalty.
TGI takes parameters.stop (up to 4; the answer keeps the stop sequence and
finishes "stop_sequence", as TGI does), seed, top_p, frequency_penalty,
grammar {type: json, value: <schema>} (a JSON answer from the schema).

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
  {"tool_calls": [{"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}]}
                                     call these tools (OpenAI, Azure, Responses,
                                     Ollama), those of them the request declared:
                                     a proxy that dropped `tools` gets text back
  {"token_delay": s}                 seconds between streamed tokens (else the
                                     token_delay attribute)
  {"drop": True}                     close the connection without a response
Auth is checked first, so a refused request still uses up its step.

Another process scripts it over HTTP (no auth; neither recorded nor using up a
step): POST /_fake/script with a JSON array of steps (appended to the queue),
POST /_fake/reset (empties the queue).
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


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# -- OpenAI request features: pure helpers shared by chat, Responses, Ollama and TGI --------

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
_RESPONSES_PARAMS = frozenset((
    "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "stream", "stream_options",
    "max_output_tokens", "max_tool_calls", "temperature", "top_p", "top_logprobs", "text", "metadata", "store",
    "previous_response_id", "conversation", "reasoning", "truncation", "user", "safety_identifier",
    "prompt_cache_key", "service_tier", "include", "background", "prompt"))
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_PART_TYPES = ("text", "image_url", "input_audio", "file", "refusal")


class _Invalid(Exception):
    """A request OpenAI would refuse: carries the 400 body's message, param and code."""

    def __init__(self, message, param=None, code=None):
        super().__init__(message)
        self.body = _openai_error(message, param=param, code=code)


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


def _strict_schema_problem(s, path="()"):
    """Why a schema is not valid for OpenAI's strict mode (None when it is)."""
    if not isinstance(s, dict):
        return None
    for key in ("$defs", "definitions"):
        for name, sub in (s.get(key) or {}).items():
            if (p := _strict_schema_problem(sub, f"{path}, '{key}', '{name}'")):
                return p
    for key in ("anyOf", "oneOf", "allOf"):
        for i, sub in enumerate(s.get(key) or []):
            if (p := _strict_schema_problem(sub, f"{path}, '{key}', '{i}'")):
                return p
    t = s.get("type")
    if t == "object" or (isinstance(t, list) and "object" in t) or "properties" in s:
        if s.get("additionalProperties") is not False:
            return f"In context={path}, 'additionalProperties' is required to be supplied and to be false."
        props = s.get("properties") or {}
        missing = [k for k in props if k not in (s.get("required") or [])]
        if missing:
            return (f"In context={path}, 'required' is required to be supplied and to be an array including every "
                    f"key in properties. Missing '{missing[0]}'.")
        for k, sub in props.items():
            if (p := _strict_schema_problem(sub, f"{path}, 'properties', '{k}'")):
                return p
    if isinstance(s.get("items"), dict):
        return _strict_schema_problem(s["items"], f"{path}, 'items'")
    return None


def _schema_instance(s, root=None, depth=0):
    """A minimal instance of a JSON schema: each object property, "echo" for
    strings, 0 for numbers, false, [], the first enum value, the const."""
    root = s if root is None else root
    if not isinstance(s, dict) or depth > 32:
        return None
    if "const" in s:
        return s["const"]
    if isinstance(s.get("enum"), list) and s["enum"]:
        return s["enum"][0]
    ref = s.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        return _schema_instance(target, root, depth + 1)
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(s.get(key), list) and s[key]:
            return _schema_instance(s[key][0], root, depth + 1)
    t = s.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "null")
    if t is None and "properties" in s:
        t = "object"
    if t == "object":
        return {k: _schema_instance(v, root, depth + 1) for k, v in (s.get("properties") or {}).items()}
    return {"string": "echo", "number": 0, "integer": 0, "boolean": False, "array": []}.get(t)


def _json_answer(schema, last_user):
    """The JSON text a JSON mode answers: {"echo": ...} without a schema, else the schema's instance."""
    if schema is None:
        return json.dumps({"echo": last_user})
    return json.dumps(_schema_instance(schema))


def _cut_at_stop(text, stops, keep=False):
    """(text before the first stop string, or through it when keep (TGI); whether one was hit)."""
    hits = [(text.find(s), s) for s in stops or [] if isinstance(s, str) and s and s in text]
    if not hits:
        return text, False
    at, s = min(hits)
    return text[:at + len(s)] if keep else text[:at], True


def _stop_list(v):
    return [v] if isinstance(v, str) else list(v) if isinstance(v, list) else []


def _call_id(name, arguments, i, choice=0):
    """Deterministic tool-call ids, so a golden transcript can name them."""
    digest = hashlib.sha1(f"{name}\0{arguments}\0{i}\0{choice}".encode()).hexdigest()
    return "call_" + digest[:24]


def _fragments(text, n=3):
    """text in about n pieces (the way OpenAI streams tool-call arguments)."""
    if not text:
        return []
    size = max(1, -(-len(text) // n))
    return [text[i:i + size] for i in range(0, len(text), size)]


def _token_logprobs(tokens, top):
    """OpenAI's logprobs.content entries, deterministic: token i has logprob -0.01*(i+1)."""
    out = []
    for i, tok in enumerate(tokens):
        lp = round(-0.01 * (i + 1), 4)
        alts = [{"token": tok, "logprob": lp, "bytes": list(tok.encode())}]
        alts += [{"token": f"alt{k}", "logprob": round(lp - k, 4), "bytes": list(f"alt{k}".encode())}
                 for k in range(1, top or 0)]
        out.append({"token": tok, "logprob": lp, "bytes": list(tok.encode()), "top_logprobs": alts[:top or 0]})
    return out


def _images(body):
    """Image inputs of a request: OpenAI image_url parts, Responses input_image parts, Ollama images."""
    if not isinstance(body, dict):
        return []
    found = []
    items = body.get("messages") if isinstance(body.get("messages"), list) else body.get("input")
    for m in items if isinstance(items, list) else []:
        if not isinstance(m, dict):
            continue
        found += [x for x in m.get("images") or [] if isinstance(x, str)]
        for part in m.get("content") if isinstance(m.get("content"), list) else []:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "image_url" and isinstance(part.get("image_url"), dict):
                found.append(part["image_url"].get("url"))
            elif part.get("type") == "input_image":
                found.append(part.get("image_url") or part.get("file_id"))
    return found


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


def _last_tool_result(messages):
    """The content of the last message when it is a tool result (OpenAI "tool" / Ollama "tool"), else None."""
    if messages and isinstance(messages[-1], dict) and messages[-1].get("role") == "tool":
        return _text(messages[-1].get("content"))
    return None



def _json_object(text):
    """Tool-call arguments as the object Ollama sends ({} when the text is not a JSON object)."""
    try:
        v = json.loads(text)
    except ValueError:
        return {}
    return v if isinstance(v, dict) else {}

def _last_user(messages):
    return _echo(messages)[len("echo: "):]


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

    def _chat(self, completions=False, model=None, dialect="openai"):
        p = self.provider
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
            if p.known_models_only and model not in p.openai_models:
                return self._send_json(404, _openai_error(
                    f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found"))
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
        try:
            if not completions:
                _check_chat_messages(messages)
            opts = _check_chat_extras(b, messages, chat=not completions)
        except _Invalid as e:
            return self._send_json(400, e.body)
        calls = [] if completions else _tool_plan(self.step, opts["tools"], opts["tool_choice"], opts["parallel"])
        n = opts["n"]
        tokens, finish = [], "tool_calls"
        if not calls:
            reply, _ = _cut_at_stop(self._answer_text(messages, opts.get("schema"), opts.get("format")), opts["stop"])
            tokens, finish = _truncate(tokenize(reply), limit)
        reply = "".join(tokens)
        logprobs = _token_logprobs(tokens, opts["top_logprobs"]) if opts.get("logprobs") else None
        prompt_n = _prompt_tokens(messages)
        completion_n = n * (len(tokens) if not calls else sum(1 + len(words(a)) for _, a in calls))
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

        def tool_call(c, j, streamed=False):
            name, args = calls[j]
            tc = {"id": _call_id(name, args, j, c), "type": "function", "function": {"name": name, "arguments": args}}
            return {"index": j, **tc, "function": {"name": name, "arguments": ""}} if streamed else tc

        if not stream:
            choices = []
            for c in range(n):
                choice = {"index": c}
                if completions:
                    choice.update({"text": reply, "logprobs": None, "finish_reason": finish})
                else:
                    message = {"role": "assistant", "content": reply, "refusal": None, "annotations": []}
                    if calls:
                        message.update(content=None, tool_calls=[tool_call(c, j) for j in range(len(calls))])
                    lp = None
                    if logprobs is not None:
                        lp = {"content": None if calls else logprobs, "refusal": None}
                    choice.update({"message": message, "logprobs": lp, "finish_reason": finish})
                if azure:
                    choice["content_filter_results"] = _CONTENT_FILTER
                choices.append(choice)
            out = {"id": cid, "object": "text_completion" if completions else "chat.completion",
                   "created": created, "model": model, "choices": choices}
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

        def choice(index, delta=None, text=None, finish_reason=None, filters=True, lp=None):
            c = {"index": index}
            if completions:
                c["text"] = text or ""
            else:
                c["delta"] = delta
            c.update({"logprobs": lp, "finish_reason": finish_reason})
            if azure:
                c["content_filter_results"] = _CONTENT_FILTER if filters else {}
            return c

        prefix, heads, bodies = [], [], []
        if azure:
            prefix.append(b"data: " + _dumps({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                                              "prompt_filter_results": [{"prompt_index": 0,
                                                                         "content_filter_results":
                                                                             _CONTENT_FILTER}]}) + b"\n\n")
        for c in range(n):
            body = []
            if calls:  # OpenAI: the role with the first call's head, then argument fragments, call by call
                for j, (_, args) in enumerate(calls):
                    head = {"tool_calls": [tool_call(c, j, streamed=True)]}
                    if j == 0:
                        heads.append(chunk([choice(c, {"role": "assistant", "content": None, **head,
                                                       "refusal": None}, filters=False)]))
                    else:
                        body.append(chunk([choice(c, head)]))
                    body += [chunk([choice(c, {"tool_calls": [{"index": j, "function": {"arguments": f}}]})])
                             for f in _fragments(args)]
            else:
                if not completions:
                    heads.append(chunk([choice(c, {"role": "assistant", "content": "", "refusal": None},
                                               filters=False)]))
                for i, tok in enumerate(tokens):
                    lp = {"content": [logprobs[i]], "refusal": None} if logprobs is not None else None
                    body.append(chunk([choice(c, {"content": tok}, text=tok, lp=lp)]))
            bodies.append(body)
        frames = prefix + heads
        first = len(frames)
        for row in zip(*bodies):  # n choices interleave, as OpenAI's do
            frames += row
        n_tokens = len(frames) - first
        frames += [chunk([choice(c, {}, finish_reason=finish, filters=False)]) for c in range(n)]
        if include_usage:
            frames.append(chunk([], usage=usage))
        frames.append(b"data: [DONE]\n\n")
        bad = b'data: {"id":"' + cid.encode() + b'","object":"' + obj.encode() + b'","choices":[{"delta":{"content\n\n'
        self._stream("text/event-stream; charset=utf-8", frames, first, n_tokens, bad, headers)

    def _answer_text(self, messages, schema=None, fmt=None):
        """A text answer: the scripted content, else JSON in a JSON mode, else an echo of
        the tool result that ends the conversation, else of the last user message."""
        if "content" in self.step:
            return self.step["content"]
        if fmt in ("json_object", "json_schema", "json"):
            return _json_answer(schema, _last_user(messages))
        tool = _last_tool_result(messages)
        return "echo: " + tool if tool is not None else _echo(messages)

    def _embeddings(self, model=None, dialect="openai"):
        if self.bad_json:
            return self._send_json(400, _openai_error(_BAD_JSON))
        b = self.body if isinstance(self.body, dict) else {}
        if model is None:
            model = b.get("model")
            if not isinstance(model, str) or not model:
                return self._send_json(400, _openai_error("you must provide a model parameter"))
            if self.provider.known_models_only and model not in self.provider.openai_models:
                return self._send_json(404, _openai_error(
                    f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found"))
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

    # -- OpenAI Responses API ------------------------------------------------------
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
        stop = params.get("stop") or []
        if not isinstance(stop, list) or not all(isinstance(x, str) for x in stop):
            return self._send_json(422, {"error": "Failed to deserialize the JSON body into the target type: "
                                                  "parameters.stop: invalid type, expected a sequence",
                                         "error_type": "validation"})
        if len(stop) > 4:
            return invalid(f"`stop` supports up to 4 stop sequences. Given: {len(stop)}")
        seed = params.get("seed")
        if seed is not None and (not _is_int(seed) or seed < 0):
            return invalid("`seed` must be a non-negative integer")
        for k in ("frequency_penalty", "repetition_penalty"):
            if params.get(k) is not None and not _num(params[k]):
                return invalid(f"`{k}` must be a number")
        grammar = params.get("grammar")
        schema = None
        if grammar is not None:
            gtype = grammar.get("type") if isinstance(grammar, dict) else None
            if gtype not in ("json", "json_schema", "regex"):
                return self._send_json(422, {"error": "Failed to deserialize the JSON body into the target type: "
                                                      f"parameters.grammar: unknown variant `{gtype}`, expected one "
                                                      "of `json`, `json_schema`, `regex`", "error_type": "validation"})
            value = grammar.get("value")
            if gtype != "regex":
                try:
                    schema = json.loads(value) if isinstance(value, str) else value
                except ValueError:
                    schema = None
                if not isinstance(schema, dict):
                    return invalid("grammar is not a valid JSON schema")
                if gtype == "json_schema":  # {name?, schema}
                    schema = schema.get("schema", schema)
        if "content" in self.step:
            reply = self.step["content"]
        elif schema is not None:
            reply = _json_answer(schema, "")
        else:
            reply = "echo: " + _tgi_last_line(inputs)
        reply, hit = _cut_at_stop(reply, stop, keep=True)  # TGI keeps the stop sequence in the text
        tokens, finish = _truncate(tokenize(reply), max_new if max_new is not None else 100)
        finish = "length" if finish == "length" else "stop_sequence" if hit else "eos_token"
        reply = "".join(tokens)
        prompt_n = max(1, len(words(inputs)))
        no_usage = bool(self.step.get("no_usage"))

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


def _ollama_name(name):
    return name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"
