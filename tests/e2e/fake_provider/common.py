"""Text, token and answer helpers shared by every provider surface."""
import hashlib
import json
import re


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


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


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


def _last_tool_result(messages):
    """The content of the last message when it is a tool result (OpenAI "tool" / Ollama "tool"), else None."""
    if messages and isinstance(messages[-1], dict) and messages[-1].get("role") == "tool":
        return _text(messages[-1].get("content"))
    return None


def _last_user(messages):
    return _echo(messages)[len("echo: "):]
