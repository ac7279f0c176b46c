"""Hugging Face TGI: POST /generate, /generate_stream and / (TGI's compat route)."""
import hashlib
import json
import re

from .common import _cut_at_stop, _dumps, _is_int, _num, _truncate, tokenize, words
from .schema import _json_answer

_ROLE_TAG = re.compile(r"(?:system|developer|user|human|assistant|tool)\s*:\s?", re.I)


def _tgi_last_line(inputs):
    for line in reversed(inputs.splitlines()):
        m = _ROLE_TAG.match(line)
        body = line[m.end():] if m else line
        if body.strip():
            return body.strip()
    return ""


def _token_id(text):
    return int.from_bytes(hashlib.sha1(text.encode()).digest()[:4], "little") % 32000 + 3


class _Tgi:
    """Handler mixin: TGI's generate routes, its bearer token and its 422 validation errors."""

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
