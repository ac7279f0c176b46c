"""OpenAI golden transcripts (tests/e2e/openai_golden/*.yml): what an official
SDK call gives back, as data (STYLE.md §15). This module loads the cases,
resolves one for a route, runs it with the official Python SDK, and checks a
normalized result against the case's expectations. The Node runner
(openai_node/run_cases.mjs) normalizes the same way, so one check serves both.

A case (a list item of a .yml file):
  name: forced tool call
  routes: [openai, azure, vllm, ollama, tgi, local]  # default: DEFAULT_ROUTES
  upstream: [{tool_calls: [...]}]     # fake_provider steps, queued before the call
  call: chat.completions.create       # one of CALLS
  args: {messages: [...], tools: [...]}   # the request body; args.model, when
                                      # given, is sent as is on every route,
                                      # else the route's model (ROUTE_MODELS)
  expect: {choices.0.finish_reason: tool_calls}   # dotted path -> value or matcher
  error: {class: BadRequestError, status: 400, param: tools, code: ...}
                                      # the call raises; only the given keys count
  headers: {x-aion-route: {$startswith: "model:"}}  # response headers, lower case
  upstream_request: {json.tool_choice: required}  # the fake's last model request
                                      # (false: no model request reached it)
  api_key: wrong                      # instead of a valid key
  by_route: {tgi: {error: ...}, aiond: {...}, direct: {...}}
  direct: false                       # not run straight at the fake
  xfail_reason: "..."                 # through aiond only: not built yet

by_route layers apply in order: "aiond" (every route through aiond), then the
route's own ("direct" runs the openai route's layer, then its own). A layer's
`error` replaces the expected outcome (the layer's own expect, headers and
upstream_request then add to the error's checks); a layer's `expect` merges into the expected success;
headers and args merge; model, api_key, upstream, upstream_request and
xfail_reason replace. The string "$model" in an expected value stands for the
model the call named.

Matchers (a dict whose keys start with $; several must all hold):
  $type: str|int|float|number|bool|list|dict|null ("float" takes any number:
         JSON 1.0 arrives as 1 from Node)   $present: true|false   $absent: true
  $startswith / $endswith: "..."   $contains: substring, list element, or a
  list of elements that must all be in the list   $len: n or a matcher
  $json: value or matcher, against the string parsed as JSON   $in: [values]
  $subsequence: [...] in this order, gaps allowed   $gt / $lt: n   $any: true
A plain dict matches a subset of an object's keys; a plain list matches
element by element. Path segments: object keys, list indexes (-1: the last),
and * (every element: the values as a list).

Normalized results, the same shape from both SDKs:
  non-streamed: the parsed object as its JSON (fields the server sent; Python
      model_dump(exclude_unset=True), so `$absent` means the same for both), plus
      "headers"; Responses objects carry output_text (the SDK's convenience).
  create with stream: true -> {"chunks": [...], "text": <delta texts of choice 0,
      or of response.output_text.delta events>, "headers", "error" if it raised}
  chat.completions.stream / responses.stream -> the SDK's final completion/response
  models.list -> {"object", "data", "headers"}
  an APIError -> {"error": {class, status, code, param, type, message}} (message: the
      server's error.message when it sent one)
Known SDK differences: the chat.completions.stream final completion from
Python carries explicit nulls (audio, function_call, usage...) and tool-call
indexes that Node's leaves out; Node's responses.stream final response has
output_parsed. Expectations should not hinge on those.
"""
import copy
import inspect
import json
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

GOLDEN_DIR = Path(__file__).resolve().parent / "openai_golden"
ROUTE_MODELS = {"openai": "gpt-4o-mini", "azure": "azure-gpt-4o-mini", "vllm": "vllm-default",
                "ollama": "ollama-default", "tgi": "hf-tgi", "local": "module:summarize"}
DEFAULT_ROUTES = ["openai", "azure", "vllm", "ollama", "tgi"]
CALLS = ("chat.completions.create", "chat.completions.stream", "embeddings.create", "models.list",
         "models.retrieve", "responses.create", "responses.stream")
_CASE_KEYS = {"name", "model", "routes", "upstream", "call", "args", "expect", "error", "headers",
              "upstream_request", "api_key", "by_route", "direct", "xfail_reason"}
_LAYER_KEYS = {"model", "upstream", "args", "expect", "error", "headers", "upstream_request", "api_key",
               "xfail_reason"}
_MISSING = object()


@dataclass
class Case:
    file: str
    name: str
    data: dict

    @property
    def routes(self):
        return list(self.data.get("routes") or DEFAULT_ROUTES)

    @property
    def direct(self):
        return self.data.get("direct", "openai" in self.routes)

    def id(self, route, sdk):
        return f"{self.file}::{self.name}[{route}-{sdk}]"


@dataclass
class Plan:
    """A case resolved for one route: what to send and what must come back."""
    case: Case
    route: str
    model: str
    call: str
    args: dict
    upstream: list
    expect: dict = field(default_factory=dict)
    error: dict | None = None
    headers: dict = field(default_factory=dict)
    upstream_request: dict | bool | None = None
    api_key: str | None = None
    xfail_reason: str | None = None

    def wire(self):
        """What the Node runner needs."""
        return {"name": self.case.name, "call": self.call, "args": self.args, "upstream": self.upstream}


def load_cases(directory=GOLDEN_DIR):
    cases, seen = [], set()
    for path in sorted(Path(directory).glob("*.yml")):
        items = yaml.safe_load(path.read_text()) or []
        if not isinstance(items, list):
            raise ValueError(f"{path.name}: a list of cases expected")
        for item in items:
            where = f"{path.name}: {item.get('name') if isinstance(item, dict) else item!r}"
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise ValueError(f"{where}: a case is a mapping with a name")
            if unknown := set(item) - _CASE_KEYS:
                raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
            if item.get("call") not in CALLS:
                raise ValueError(f"{where}: call must be one of {CALLS}")
            for route, layer in (item.get("by_route") or {}).items():
                if route not in (*ROUTE_MODELS, "aiond", "direct"):
                    raise ValueError(f"{where}: by_route names an unknown route {route!r}")
                if unknown := set(layer) - _LAYER_KEYS:
                    raise ValueError(f"{where}: by_route.{route} has unknown keys {sorted(unknown)}")
            for route in item.get("routes") or []:
                if route not in ROUTE_MODELS:
                    raise ValueError(f"{where}: unknown route {route!r}")
            key = (path.name, item["name"])
            if key in seen:
                raise ValueError(f"{where}: duplicate case name")
            seen.add(key)
            cases.append(Case(path.name, item["name"], item))
    return cases


def resolve(case, route):
    """The plan of `case` on `route` (a key of ROUTE_MODELS, or "direct": the
    openai route's expectations, the SDK pointed straight at the fake)."""
    d = copy.deepcopy(case.data)
    plan = Plan(case, route, ROUTE_MODELS["openai" if route == "direct" else route], d["call"],
                d.get("args") or {}, d.get("upstream") or [], d.get("expect") or {}, d.get("error"),
                d.get("headers") or {}, d.get("upstream_request"), d.get("api_key"), d.get("xfail_reason"))
    by_route = d.get("by_route") or {}
    layers = ["openai", "direct"] if route == "direct" else ["aiond", route]
    for name in layers:
        layer = by_route.get(name) or {}
        if "error" in layer:
            plan.error, plan.expect, plan.headers, plan.upstream_request = layer["error"], {}, {}, None
        elif "expect" in layer:
            plan.error = None
        plan.expect = {**plan.expect, **(layer.get("expect") or {})}
        plan.headers = {**plan.headers, **(layer.get("headers") or {})}
        plan.args = {**plan.args, **(layer.get("args") or {})}
        for k in ("model", "api_key", "upstream", "upstream_request", "xfail_reason"):
            if k in layer:
                setattr(plan, k, layer[k])
    if route == "direct":  # aionOS's own headers are not OpenAI's
        plan.headers = {k: v for k, v in plan.headers.items() if not k.startswith("x-aion-")}
        plan.expect = {k: v for k, v in plan.expect.items() if not k.startswith("headers.x-aion-")}
        plan.xfail_reason = None
    plan.model = plan.args.get("model", plan.model)
    if plan.call != "models.list":
        plan.args = {**plan.args, "model": plan.model}
    plan.expect = _substitute(plan.expect, plan.model)
    plan.error = _substitute(plan.error, plan.model)
    plan.headers = _substitute(plan.headers, plan.model)
    return plan


def _substitute(v, model):
    if v == "$model":
        return model
    if isinstance(v, dict):
        return {k: _substitute(x, model) for k, x in v.items()}
    if isinstance(v, list):
        return [_substitute(x, model) for x in v]
    return v


# -- running a case with the Python SDK -------------------------------------------------

def script_fake(fake_url, steps):
    """Empties the fake's step queue and queues `steps` (its /_fake control endpoints)."""
    for path, body in (("/_fake/reset", {}), ("/_fake/script", steps)):
        req = urllib.request.Request(fake_url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()


def run_python(plan, base_url, api_key, fake_url):
    import openai
    script_fake(fake_url, plan.upstream)
    client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=30)
    try:
        return _PY_CALLS[plan.call](client, copy.deepcopy(plan.args))
    except openai.APIError as e:
        return {"error": _py_error(e)}
    except Exception as e:  # the SDK refused the call itself: that is its visible result too
        return {"error": {"class": type(e).__name__, "message": str(e)}}


def _py_error(e):
    # The server's own message (the SDKs prefix theirs differently: "Error code: 400 - " / "400 ").
    body = e.body if isinstance(e.body, dict) else {}
    message = body.get("message") if isinstance(body.get("message"), str) else e.message
    return {"class": type(e).__name__, "status": getattr(e, "status_code", None), "code": e.code,
            "param": e.param, "type": e.type, "message": message}


def _dump(obj):
    out = obj.model_dump(mode="json", exclude_unset=True)
    if hasattr(obj, "output_text") and "output" in out:  # a Responses object's convenience property
        out["output_text"] = obj.output_text
    return out


def _kwargs(method, args):
    """The SDK method's keyword arguments; body keys it does not name go in extra_body."""
    known = inspect.signature(method).parameters
    kw = {k: v for k, v in args.items() if k in known}
    extra = {k: v for k, v in args.items() if k not in known}
    if extra:
        kw["extra_body"] = extra
    return kw


def _headers(raw):
    return {k.lower(): v for k, v in raw.headers.items()}


def _py_create(resource):
    def call(client, args):
        res = _resource(client, resource)
        raw = res.with_raw_response.create(**_kwargs(res.create, args))
        if not args.get("stream"):
            return {**_dump(raw.parse()), "headers": _headers(raw)}
        out = {"chunks": [], "text": "", "headers": _headers(raw)}
        import openai
        try:
            for ev in raw.parse():
                out["chunks"].append(_dump(ev))
        except openai.APIError as e:
            out["error"] = _py_error(e)
        out["text"] = stream_text(out["chunks"])
        return out
    return call


def stream_text(chunks):
    """The answer text of streamed chunks: choice 0's deltas, or Responses text deltas."""
    text = ""
    for c in chunks:
        if c.get("type") == "response.output_text.delta":
            text += c.get("delta") or ""
        for ch in c.get("choices") or []:
            if ch.get("index", 0) == 0:
                text += (ch.get("delta") or {}).get("content") or ""
    return text


def _resource(client, dotted):
    obj = client
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _py_chat_stream(client, args):
    res = client.chat.completions
    args.pop("stream", None)
    with res.stream(**_kwargs(res.stream, args)) as s:
        return _dump(s.get_final_completion())


def _py_responses_stream(client, args):
    res = client.responses
    args.pop("stream", None)
    with res.stream(**_kwargs(res.stream, args)) as s:
        return _dump(s.get_final_response())


def _py_models_list(client, args):
    raw = client.models.with_raw_response.list()
    page = raw.parse()
    return {"object": page.object, "data": [_dump(m) for m in page.data], "headers": _headers(raw)}


def _py_models_retrieve(client, args):
    raw = client.models.with_raw_response.retrieve(args["model"])
    return {**_dump(raw.parse()), "headers": _headers(raw)}


_PY_CALLS = {"chat.completions.create": _py_create("chat.completions"),
             "chat.completions.stream": _py_chat_stream,
             "embeddings.create": _py_create("embeddings"),
             "models.list": _py_models_list,
             "models.retrieve": _py_models_retrieve,
             "responses.create": _py_create("responses"),
             "responses.stream": _py_responses_stream}


# -- checking --------------------------------------------------------------------------

def lookup(value, path):
    """The value at a dotted path (MISSING when there is none); * maps over a list."""
    parts = path.split(".") if path else []
    for i, part in enumerate(parts):
        if part == "*":
            if not isinstance(value, list):
                return _MISSING
            rest = ".".join(parts[i + 1:])
            return [v for v in (lookup(x, rest) for x in value) if v is not _MISSING]
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        elif isinstance(value, list):
            try:
                value = value[int(part)]
            except (ValueError, IndexError):
                return _MISSING
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


_TYPES = {"str": lambda v: isinstance(v, str), "bool": lambda v: isinstance(v, bool),
          "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
          "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          "list": lambda v: isinstance(v, list), "dict": lambda v: isinstance(v, dict),
          "null": lambda v: v is None}


def match(actual, expected, where="$"):
    """Mismatches of `actual` against `expected` (a value or a matcher), as strings."""
    if isinstance(expected, dict) and expected and all(k.startswith("$") for k in expected):
        out = []
        for op, arg in expected.items():
            out += _match_op(actual, op, arg, where)
        return out
    if actual is _MISSING:
        return [f"{where}: missing, expected {expected!r}"]
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {actual!r}"]
        out = []
        for k, v in expected.items():
            out += match(actual.get(k, _MISSING), v, f"{where}.{k}")
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{where}: expected {expected!r}, got {actual!r}"]
        return [m for i, (a, e) in enumerate(zip(actual, expected)) for m in match(a, e, f"{where}.{i}")]
    if isinstance(expected, bool) or isinstance(actual, bool) or expected is None:
        ok = actual is expected
    else:
        ok = actual == expected
    return [] if ok else [f"{where}: expected {expected!r}, got {actual!r}"]


def _match_op(actual, op, arg, where):
    missing = actual is _MISSING
    fail = [f"{where}: expected {{{op}: {arg!r}}}, got {'nothing' if missing else repr(actual)}"]
    if op == "$any":
        return []
    if op == "$present":
        return [] if missing != bool(arg) else fail
    if op == "$absent":
        return [] if missing == bool(arg) else fail
    if missing:
        return fail
    if op == "$type":
        return [] if _TYPES[arg](actual) else fail
    if op in ("$startswith", "$endswith"):
        return [] if isinstance(actual, str) and getattr(actual, op[1:])(arg) else fail
    if op == "$contains":
        if isinstance(actual, str):
            return [] if isinstance(arg, str) and arg in actual else fail
        if isinstance(actual, list):
            wanted = arg if isinstance(arg, list) else [arg]
            return [] if all(w in actual for w in wanted) else fail
        return fail
    if op == "$len":
        if not hasattr(actual, "__len__"):
            return fail
        return match(len(actual), arg, f"len({where})")
    if op == "$json":
        try:
            parsed = json.loads(actual)
        except (TypeError, ValueError):
            return [f"{where}: expected JSON text, got {actual!r}"]
        return match(parsed, arg, f"json({where})")
    if op == "$in":
        return [] if any(not match(actual, a) for a in arg) else fail
    if op == "$subsequence":
        if not isinstance(actual, list):
            return fail
        it = iter(actual)
        return [] if all(any(not match(x, want) for x in it) for want in arg) else fail
    if op == "$gt":
        return [] if _TYPES["number"](actual) and actual > arg else fail
    if op == "$lt":
        return [] if _TYPES["number"](actual) and actual < arg else fail
    raise ValueError(f"unknown matcher {op}")


def check(result, plan, upstream_requests=None):
    """Mismatches between a normalized result and the plan's expectations."""
    out = []
    if result.get("harness_error"):
        return [f"runner failed: {result['harness_error']}"]
    err = result.get("error")
    if plan.error is not None:
        if err is None:
            out.append(f"expected an error {plan.error}, the call succeeded")
        else:
            out += match(err, plan.error, "error")
    elif err is not None:
        out.append(f"unexpected error: {err}")
    for path, want in plan.expect.items():
        out += match(lookup(result, path), want, path)
    headers = result.get("headers") or {}
    for name, want in plan.headers.items():
        out += match(headers.get(name, _MISSING), want, f"headers.{name}")
    if plan.upstream_request is not None and upstream_requests is not None:
        model_calls = [r for r in upstream_requests if r["json"] is not None]
        if plan.upstream_request is False:
            if model_calls:
                out.append(f"expected no model request upstream, the fake saw {model_calls[-1]['path']}")
        elif not model_calls:
            out.append("expected a model request upstream, the fake saw none")
        else:
            last = {k: model_calls[-1][k] for k in ("method", "path", "query", "headers", "json", "images")}
            for path, want in plan.upstream_request.items():
                out += match(lookup(last, path), want, f"upstream.{path}")
    return out
