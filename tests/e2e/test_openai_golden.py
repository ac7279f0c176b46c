"""OpenAI drop-in conformance: the golden transcripts of openai_golden/*.yml
run with the official openai Python SDK and the official openai Node SDK
(openai_node/, pinned), through aiond on every route the case names, and,
for cases on the openai route, straight at the fake provider ("direct": the
expectations hold for OpenAI's wire format as the fake models it).

One aiond serves the module, every provider pointed at one fake; one Node
process runs the Node cases (golden.py describes the case format)."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

import golden
from conftest import Aiond, _require_build
from fake_provider import FakeProvider

NODE_DIR = Path(__file__).resolve().parent / "openai_node"
SDKS = ("python", "node")


def _params():
    out = []
    for case in golden.load_cases():
        targets = [*case.routes, *(["direct"] if case.direct else [])]
        for route in targets:
            plan = golden.resolve(case, route)
            marks = [pytest.mark.xfail(reason=plan.xfail_reason, strict=True)] if plan.xfail_reason else []
            out += [pytest.param(case, route, sdk, id=case.id(route, sdk), marks=marks) for sdk in SDKS]
    return out


class NodeRunner:
    """The Node SDK runner (run_cases.mjs): one JSON line in, one out."""

    def __init__(self, log_path):
        node = shutil.which("node")
        if not node or not (NODE_DIR / "node_modules" / "openai" / "package.json").exists():
            pytest.fail("the openai Node SDK is not installed: run scripts/install-deps.sh "
                        "(npm ci in tests/e2e/openai_node)")
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen([node, str(NODE_DIR / "run_cases.mjs")], cwd=NODE_DIR, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log)

    def run(self, plan, base_url, api_key, fake_url):
        job = {"case": plan.wire(), "base_url": base_url, "api_key": api_key, "fake_url": fake_url}
        self.proc.stdin.write(json.dumps(job).encode() + b"\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the Node runner exited ({self.proc.poll()}); see {self.log.name}")
        return json.loads(line)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Env:
    def __init__(self, tmp):
        self.tmp = tmp
        self.fake = FakeProvider().start()
        self.fake.known_models_only = True
        self.fake.openai_models = ["gpt-4o-mini", "text-embedding-3-small", "default"]  # default: vLLM's
        f = self.fake
        self.aiond = Aiond(tmp / "aiond", {
            "OPENAI_BASE_URL": f.url + "/v1", "OPENAI_API_KEY": f.api_key,
            "AZURE_OPENAI_ENDPOINT": f.url, "AZURE_OPENAI_API_KEY": f.azure_key,
            "HF_ENDPOINT": f.url, "HF_TOKEN": f.hf_token,
            "VLLM_BASE_URL": f.url, "VLLM_API_KEY": f.api_key,
            "OLLAMA_HOST": f.url,
        })
        self.aiond.tmp.mkdir(parents=True, exist_ok=True)
        self.aiond.start()
        self._node = None

    @property
    def node(self):
        if self._node is None:
            self._node = NodeRunner(self.tmp / "node-runner.log")
        return self._node

    def close(self):
        if self._node is not None:
            self._node.close()
        self.aiond.stop()
        self.fake.stop()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    _require_build()
    e = Env(tmp_path_factory.mktemp("golden"))
    yield e
    e.close()
    assert e.fake.errors == [], e.fake.errors  # a bug in the fake itself


@pytest.mark.parametrize("case,route,sdk", _params())
def test_golden(env, case, route, sdk):
    plan = golden.resolve(case, route)
    fake = env.fake
    fake.reset()
    direct = route == "direct"
    base = fake.url + "/v1" if direct else f"http://127.0.0.1:{env.aiond.gw_port}/v1"
    key = plan.api_key or (fake.api_key if direct else "demo-key")
    if sdk == "python":
        result = golden.run_python(plan, base, key, fake.url)
    else:
        result = env.node.run(plan, base, key, fake.url)
    problems = golden.check(result, plan, list(fake.requests))
    assert not problems, "\n".join(problems) + "\n\nresult: " + json.dumps(result, indent=1)[:6000]


def test_the_matchers_can_fail():
    """The checker itself: each matcher rejects what it should (no aiond needed)."""
    r = {"choices": [{"message": {"content": '{"a": 1}', "tool_calls": None}}], "n": 1.5,
         "chunks": [{"type": "x"}, {"type": "y"}, {"type": "z"}], "headers": {"x-aion-route": "model:m"}}
    ok = {"choices.0.message.content": {"$json": {"a": 1}}, "choices.-1.message.tool_calls": None,
          "n": {"$type": "float", "$gt": 1, "$lt": 2}, "chunks.*.type": {"$subsequence": ["x", "z"], "$len": 3},
          "missing": {"$absent": True}, "chunks": {"$contains": {"type": "y"}}, "headers.x-aion-route": {
              "$startswith": "model:", "$in": ["model:m"]}}
    assert [m for path, want in ok.items() for m in golden.match(golden.lookup(r, path), want)] == []
    bad = {"choices.0.message.content": {"$json": {"a": 2}}, "choices.0.message.tool_calls": {"$present": False},
           "n": {"$type": "int"}, "chunks.*.type": {"$subsequence": ["z", "x"]}, "chunks.0": {"type": "y"},
           "nothing.here": 0, "chunks": {"$len": 2}, "headers.x-aion-route": {"$contains": "module"},
           "choices": [{}, {}]}
    for path, want in bad.items():
        assert golden.match(golden.lookup(r, path), want), (path, want)
    assert golden.match(True, 1) and golden.match(0, False)  # booleans are not numbers


def test_route_layers_resolve():
    case = golden.Case("f.yml", "c", {"name": "c", "call": "chat.completions.create", "routes": ["openai", "tgi"],
                                      "args": {"messages": []}, "expect": {"a": 1}, "headers": {"x-aion-route": "r"},
                                      "by_route": {"aiond": {"expect": {"b": 2}},
                                                   "tgi": {"error": {"param": "tools"}, "upstream_request": False},
                                                   "direct": {"expect": {"c": "$model"}}}})
    tgi, direct = golden.resolve(case, "tgi"), golden.resolve(case, "direct")
    assert (tgi.error, tgi.expect, tgi.upstream_request, tgi.args["model"]) == ({"param": "tools"}, {}, False, "hf-tgi")
    assert direct.expect == {"a": 1, "c": "gpt-4o-mini"} and direct.headers == {} and direct.error is None
    assert golden.resolve(case, "openai").expect == {"a": 1, "b": 2}
