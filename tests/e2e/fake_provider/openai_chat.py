"""OpenAI Chat Completions (and legacy completions): one answer or n, tool calls,
logprobs, response formats; non-streamed or as SSE chunks, with Azure's content filters."""
import time
import uuid

from .common import _call_id, _cut_at_stop, _dumps, _fragments, _is_int, _prompt_tokens, _truncate, tokenize, words
from .errors import _BAD_JSON, _Invalid, _openai_error
from .openai_checks import _check_chat_extras, _check_chat_messages, _tool_plan

_CONTENT_FILTER = {k: {"filtered": False, "severity": "safe"} for k in ("hate", "self_harm", "sexual", "violence")}


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


class _ChatCompletions:
    """Handler mixin: POST /v1/chat/completions and /v1/completions (and Azure's)."""

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
