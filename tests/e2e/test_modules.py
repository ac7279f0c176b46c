"""Modules you can trust (issue 5): signed manifests, SBOMs, the registry API,
GPU placement and sandboxed subprocess modules, through a real aiond."""
import base64
import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import AIOND, BUILD, MODULES

NATIVE = BUILD / "test-modules" / "native"


def run_cli(*args, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("AION_")}
    e.update(env or {})
    return subprocess.run([str(AIOND), "module", *args], capture_output=True, text=True, env=e, timeout=60)


def modules_by_name(a):
    r = a.control("GET", "/v1/modules")
    assert r.status == 200, r
    return {m["name"]: m for m in r.json["items"]}


def copy_module(dst: Path, name="summarize"):
    """A private copy of a built module: artifact, signed manifest, SBOM."""
    dst.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((MODULES / f"{name}.module.json").read_text())
    shutil.copy(MODULES / manifest["artifact"], dst / manifest["artifact"])
    shutil.copy(MODULES / manifest["sbom"], dst / manifest["sbom"])
    (dst / f"{name}.module.json").write_text(json.dumps(manifest))
    return dst / f"{name}.module.json", manifest


# --- the shipped, build-signed modules ---------------------------------------------------------

def test_shipped_modules_are_signed_and_verified(aiond):
    mods = modules_by_name(aiond)
    for name in ("summarize", "summarize-native", "classify", "redact"):
        v = mods[name]["verification"]
        assert v["status"] == "verified", (name, v)
        assert v["signer"].startswith("sha256:")
        assert mods[name]["sbom"].endswith(".cdx.json")
    assert mods["summarize-native"]["kind"] == "subprocess"
    # the inline test guests are unsigned, allowed only by the dev setting, and say so
    assert mods["spin"]["verification"]["status"] == "unsigned"
    ready = aiond.control("GET", "/readyz").json["checks"]
    assert set(ready["unsignedModules"]) == {"spin", "hostile"}
    assert ready["refusedModules"] == []
    assert ready["sandbox"]["layers"], ready["sandbox"]


def test_unsigned_modules_refused_by_default_and_the_rest_keep_running(make_aiond):
    a = make_aiond(env={"AION_MODULES_ALLOW_UNSIGNED": "false"}).start()
    mods = modules_by_name(a)
    assert mods["spin"]["verification"]["status"] == "refused"
    assert "not signed" in mods["spin"]["verification"]["reason"]
    refused = {m["name"]: m["reason"] for m in a.control("GET", "/readyz").json["checks"]["refusedModules"]}
    assert set(refused) == {"spin", "hostile"}
    r = a.submit("spin", {"ms": 0})
    assert r.status == 422 and r.json["error"]["code"] == "no_route", r
    assert "module 'spin' refused: not signed" in r.raw.decode()
    r = a.submit("summarize", {"text": "Signed modules still run. This one is fine."})
    assert r.status == 202
    assert a.wait(r.json["taskId"])["status"] == "succeeded"


def test_tampered_artifact_refused_and_fallback_runs(make_aiond, tmp_path):
    moddir = tmp_path / "mods"
    shutil.copytree(MODULES, moddir)
    wasm = moddir / "summarize.wasm"
    wasm.write_bytes(wasm.read_bytes() + b"\0")  # one byte appended: a custom section is still valid wasm
    a = make_aiond(env={"AION_MODULE_DIR": str(moddir)}).start()
    v = modules_by_name(a)["summarize"]["verification"]
    assert v["status"] == "refused" and "digest mismatch" in v["reason"], v
    d = a.control("POST", "/v1/router/decide", {"intent": "summarize", "params": {"text": "x"}}).json
    reasons = {c["target"]: c["reason"] for c in d["candidates"]}
    assert "module 'summarize' refused: digest mismatch" in reasons["summarize"]
    assert d["routes"][0]["target"] == "summarize-native"
    r = a.submit("summarize", {"text": "The sandboxed native build answers. It is the same logic."})
    t = a.wait(r.json["taskId"])
    assert t["status"] == "succeeded", t
    assert t["result"]["summary"]


def test_untrusted_key_refuses_everything_it_signed(make_aiond, tmp_path):
    other = run_cli("keygen", str(tmp_path / "other"))
    assert other.returncode == 0, other.stderr
    a = make_aiond(env={"AION_MODULE_TRUSTED_KEYS": str(tmp_path / "other.pub")}).start()
    v = modules_by_name(a)["classify"]["verification"]
    assert v["status"] == "refused" and "untrusted key" in v["reason"], v


def test_bad_trusted_keys_setting_fails_start(make_aiond, tmp_path):
    (tmp_path / "junk.pub").write_text("not a key")
    for value, want in ((str(tmp_path / "missing.pub"), "no such file"), (str(tmp_path / "junk.pub"), "junk.pub")):
        a = make_aiond(env={"AION_MODULE_TRUSTED_KEYS": value}, subdir=f"n{len(want)}")
        with pytest.raises(RuntimeError) as e:
            a.start(timeout=10)
        assert "AION_MODULE_TRUSTED_KEYS" in str(e.value) and want in str(e.value)


# --- aiond module keygen | sign | verify | inspect ----------------------------------------------

def make_template(tmp_path, name, artifact, kind="wasm"):
    t = tmp_path / f"{name}.yml"
    t.write_text(f"name: {name}\nversion: 1.2.3\nkind: {kind}\nartifact: {artifact}\nintents: [classify]\n"
                 "limits: {memory_mb: 32, timeout_ms: 2000}\n")
    return t


def test_cli_sign_verify_and_every_tamper(tmp_path):
    assert run_cli("keygen", str(tmp_path / "k")).returncode == 0
    assert oct((tmp_path / "k.key").stat().st_mode & 0o777) == "0o600"
    again = run_cli("keygen", str(tmp_path / "k"))
    assert again.returncode != 0 and "exists" in again.stderr
    shutil.copy(MODULES / "classify.wasm", tmp_path / "c.wasm")
    t = make_template(tmp_path, "mine", "c.wasm")
    s = run_cli("sign", "--key", str(tmp_path / "k.key"), "--manifest", str(t), "--out", str(tmp_path / "mine.module.json"))
    assert s.returncode == 0, s.stderr
    m = tmp_path / "mine.module.json"
    ok = run_cli("verify", str(m), "--trusted-key", str(tmp_path / "k.pub"))
    assert ok.returncode == 0 and ok.stdout.startswith("OK mine 1.2.3"), ok
    info = json.loads(run_cli("inspect", str(m), "--trusted-key", str(tmp_path / "k.pub")).stdout)
    assert info["verification"]["status"] == "verified" and info["sha256"]

    def refused(why, *extra):
        r = run_cli("verify", str(m), *extra)
        assert r.returncode == 1, r
        assert why in r.stderr, r.stderr
        return r

    refused("untrusted key", "--trusted-key", str(MODULES / "trusted-keys" / "dev.pub"))
    good = (tmp_path / "c.wasm").read_bytes()
    (tmp_path / "c.wasm").write_bytes(good + b"\0")
    refused("digest mismatch", "--trusted-key", str(tmp_path / "k.pub"))
    (tmp_path / "c.wasm").write_bytes(good)
    doc = json.loads(m.read_text())
    for sig, why in (("bm90IGEgc2lnbmF0dXJl", "not a DER"), ("%%%", "not base64"),
                     ("MEUCIQDaWzmgS2F5S7cGl7OJq0jRtQ3xLBNk0wDZ3ECnkMvtTwIgRk4F4VfDqJwsXCzj1mNtf9Bp1xXxBbVZrHd3g1bZK2c=",
                      "does not match")):
        m.write_text(json.dumps({**doc, "signature": {**doc["signature"], "value": sig}}))
        refused(why, "--trusted-key", str(tmp_path / "k.pub"))
    m.write_text(json.dumps({k: v for k, v in doc.items() if k != "sbom"}))
    refused("no SBOM", "--trusted-key", str(tmp_path / "k.pub"))
    sbom = tmp_path / doc["sbom"]
    sbom.write_text(sbom.read_text().replace('"mine"', '"someone-else"'))
    m.write_text(json.dumps(doc))
    refused("describes 'someone-else'", "--trusted-key", str(tmp_path / "k.pub"))
    m.write_text("name: [")
    refused("manifest invalid", "--trusted-key", str(tmp_path / "k.pub"))


COSIGN = Path(subprocess.run(["go", "env", "GOPATH"], capture_output=True, text=True).stdout.strip() or "/root/go") / "bin" / "cosign"


def test_real_cosign_signature_is_accepted(tmp_path):
    if not COSIGN.exists():
        pytest.skip(f"cosign not installed at {COSIGN} (scripts/install-deps.sh installs it)")
    env = {**os.environ, "COSIGN_PASSWORD": "test-password"}
    subprocess.run([str(COSIGN), "generate-key-pair"], cwd=tmp_path, env=env, check=True, capture_output=True)
    shutil.copy(MODULES / "classify.wasm", tmp_path / "c.wasm")
    sig = subprocess.run([str(COSIGN), "sign-blob", "--yes", "--key", "cosign.key", "--tlog-upload=false",
                          "--bundle", "c.bundle.json", "c.wasm"],
                         cwd=tmp_path, env=env, check=True, capture_output=True, text=True).stdout.strip()
    # The SBOM comes from aiond (cosign does not write one); the signature from cosign.
    assert run_cli("keygen", str(tmp_path / "scratch")).returncode == 0
    t = make_template(tmp_path, "cosigned", "c.wasm")
    assert run_cli("sign", "--key", str(tmp_path / "scratch.key"), "--manifest", str(t),
                   "--out", str(tmp_path / "cosigned.module.json")).returncode == 0
    doc = json.loads((tmp_path / "cosigned.module.json").read_text())
    doc["signature"] = {"value": sig, "public_key": "cosign.pub"}
    m = tmp_path / "cosigned.module.json"
    m.write_text(json.dumps(doc))
    ok = run_cli("verify", str(m), "--trusted-key", str(tmp_path / "cosign.pub"))
    assert ok.returncode == 0, ok
    # the same signature as a sigstore bundle
    doc["signature"] = {"bundle": "c.bundle.json", "public_key": "cosign.pub"}
    m.write_text(json.dumps(doc))
    ok = run_cli("verify", str(m), "--trusted-key", str(tmp_path / "cosign.pub"))
    assert ok.returncode == 0, (ok, (tmp_path / "c.bundle.json").read_text()[:400])
    # a cosign signature over other bytes is refused
    (tmp_path / "c.wasm").write_bytes((tmp_path / "c.wasm").read_bytes() + b"\0")
    doc["sha256"] = __import__("hashlib").sha256((tmp_path / "c.wasm").read_bytes()).hexdigest()
    doc["signature"] = {"value": sig, "public_key": "cosign.pub"}
    m.write_text(json.dumps(doc))
    bad = run_cli("verify", str(m), "--trusted-key", str(tmp_path / "cosign.pub"))
    assert bad.returncode == 1 and "does not match" in bad.stderr, bad


# --- registry API -------------------------------------------------------------------------------

def package(tmp_path, name, key, artifact=MODULES / "classify.wasm", version="1.0.0"):
    shutil.copy(artifact, tmp_path / f"{name}.wasm")
    t = tmp_path / f"{name}.yml"
    t.write_text(f"name: {name}\nversion: {version}\nkind: wasm\nartifact: {name}.wasm\nintents: [{name}]\n"
                 "limits: {memory_mb: 32, timeout_ms: 2000}\n")
    out = tmp_path / f"{name}.module.json"
    s = run_cli("sign", "--key", str(key), "--manifest", str(t), "--out", str(out))
    assert s.returncode == 0, s.stderr
    doc = json.loads(out.read_text())
    body = {"manifest": doc,
            "artifact": base64.b64encode((tmp_path / f"{name}.wasm").read_bytes()).decode(),
            "sbom": json.loads((tmp_path / doc["sbom"]).read_text())}
    return body


def test_register_verify_persist_disable(make_aiond, tmp_path):
    assert run_cli("keygen", str(tmp_path / "vendor")).returncode == 0
    a = make_aiond(env={"AION_MODULE_TRUSTED_KEYS": f"{MODULES / 'trusted-keys'},{tmp_path / 'vendor.pub'}"}).start()
    body = package(tmp_path, "sentiment", tmp_path / "vendor.key")

    # who may register
    assert a.control("POST", "/v1/modules", body, key=None).status == 401
    assert a.control("POST", "/v1/modules", body, key="user-key").status == 403

    # hostile and malformed uploads change nothing
    bad = [
        ("{not json", 400),
        ({"manifest": body["manifest"]}, 400),
        ({**body, "artifact": "%%%"}, 400),
        ({**body, "extra": 1}, 400),
        ({**body, "manifest": {**body["manifest"], "name": "../../etc"}}, 400),
        ({**body, "manifest": {**body["manifest"], "limits": {"memory_mb": -5}}}, 400),
        ({**body, "artifact": base64.b64encode(b"\0asm tampered").decode()}, 422),
        ({**body, "manifest": {**body["manifest"], "signature": {"value": "bm9wZQ=="}}}, 422),
        ({k: v for k, v in body.items() if k != "sbom"}, 422),
        ({**body, "manifest": {**body["manifest"], "name": "summarize"}}, 409),
    ]
    for b, status in bad:
        r = a.control("POST", "/v1/modules", b if isinstance(b, str) else b,
                      headers={"Content-Type": "application/json"})
        assert r.status == status, (status, r)
        assert "sentiment" not in modules_by_name(a)
    r = a.control("POST", "/v1/modules", {**body, "artifact": base64.b64encode(b"\0asm tampered").decode()})
    assert r.json["error"]["code"] == "module_refused" and "digest mismatch" in r.json["error"]["message"]
    # an upload over AION_MAX_BODY_BYTES is answered from Content-Length alone
    s = socket.create_connection(("127.0.0.1", a.ctl_port), timeout=5)
    s.sendall(b"POST /v1/modules HTTP/1.1\r\nHost: x\r\nX-API-Key: demo-key\r\n"
              b"Content-Type: application/json\r\nContent-Length: 3000000\r\n\r\n{\"artifact\": \"AAAA")
    head = s.recv(65536)
    s.close()
    assert head.startswith(b"HTTP/1.1 413"), head
    assert not list((a.data_dir / "modules" / "registry").iterdir())

    # a good upload is verified, stored and served
    r = a.control("POST", "/v1/modules", body)
    assert r.status == 201, r
    m = r.json["module"]
    assert m["source"] == "registry" and m["verification"]["status"] == "verified"
    assert m["verification"]["signer"] == json.loads(run_cli("inspect", str(tmp_path / "sentiment.module.json"),
                                                             "--trusted-key", str(tmp_path / "vendor.pub")).stdout)["verification"]["signer"]
    with open(a.policy_dir / "intents.yml", "a") as f:
        f.write("\n  sentiment:\n    privacy: local-only\n    candidates: [{module: sentiment}]\n")
    assert a.control("POST", "/v1/router/policy/reload").status == 200
    r = a.submit("sentiment", {"text": "I love this, it is wonderful."})
    t = a.wait(r.json["taskId"])
    assert t["status"] == "succeeded", t

    # a new version replaces it; the registration survives a restart
    r = a.control("POST", "/v1/modules", package(tmp_path, "sentiment", tmp_path / "vendor.key", version="1.1.0"))
    assert r.status == 201 and r.json["module"]["version"] == "1.1.0"
    a.stop()
    a.start()
    assert modules_by_name(a)["sentiment"]["version"] == "1.1.0"

    # disable / enable, persisted
    assert a.control("POST", "/v1/modules/sentiment/disable", key="user-key").status == 403
    assert a.control("POST", "/v1/modules/ghost/disable").status == 404
    r = a.control("POST", "/v1/modules/sentiment/disable")
    assert r.status == 200 and r.json["enabled"] is False
    r = a.submit("sentiment", {"text": "x"})
    assert r.status == 422 and "disabled by an operator" in r.raw.decode()
    a.stop()
    a.start()
    assert modules_by_name(a)["sentiment"]["enabled"] is False
    assert a.control("POST", "/v1/modules/sentiment/enable").json["enabled"] is True
    assert a.submit("sentiment", {"text": "fine again"}).status == 202


# --- GPU placement ------------------------------------------------------------------------------

GPU_MODULE = """
  gpu-spin:
    version: 0.1.0
    kind: wasm
    artifact: {spin}
    intents: [gpu-spin]
    resources: {{gpu: required, gpu_memory_mb: 8000}}
  cpu-spin:
    version: 0.1.0
    kind: wasm
    artifact: {spin}
    intents: [gpu-spin]
"""
GPU_INTENT = """
  gpu-spin:
    privacy: local-only
    candidates: [{module: gpu-spin}, {module: cpu-spin}]
"""


@pytest.mark.parametrize("gpus,kept,why", [
    (None, False, "requires a GPU; no module host reports one"),
    ("small:4096", False, "needs 8000 MiB of GPU memory; the largest reported GPU has 4096 MiB"),
    ("big:16384,small:4096", True, ""),
])
def test_gpu_required_modules_are_placed_only_where_a_gpu_is(make_aiond, gpus, kept, why):
    env = {"AION_MODULE_HOST_GPUS": gpus or "none"}
    a = make_aiond(env=env)
    spin = BUILD / "test-modules" / "spin.wasm"
    with open(a.policy_dir / "modules.yml", "a") as f:
        f.write(GPU_MODULE.format(spin=spin))
    with open(a.policy_dir / "intents.yml", "a") as f:
        f.write(GPU_INTENT)
    a.start()
    d = a.control("POST", "/v1/router/decide", {"intent": "gpu-spin", "params": {"ms": 0}}).json
    c = {x["target"]: x for x in d["candidates"]}
    assert c["gpu-spin"]["kept"] is kept, c
    if why:
        assert why in c["gpu-spin"]["reason"]
        assert d["routes"][0]["target"] == "cpu-spin"  # the CPU fallback
    assert len(a.control("GET", "/readyz").json["checks"]["gpus"]) == (len(gpus.split(",")) if gpus else 0)


def test_bad_gpu_setting_fails_start(make_aiond):
    a = make_aiond(env={"AION_MODULE_HOST_GPUS": "a100:lots"})
    with pytest.raises(RuntimeError) as e:
        a.start(timeout=10)
    assert "AION_MODULE_HOST_GPUS" in str(e.value)


# --- sandboxed subprocess modules through aiond -------------------------------------------------

HOSTILE_ACTIONS = ["read", "net", "forkbomb", "spin", "alloc", "flood", "env", "whoami"]


@pytest.fixture
def sandboxed(make_aiond):
    a = make_aiond()
    with open(a.policy_dir / "modules.yml", "a") as f:
        for act in HOSTILE_ACTIONS:
            f.write(f"""
  {act}.native:
    version: 0.1.0
    kind: subprocess
    artifact: {NATIVE / 'hostile'}
    intents: [{act}.native]
    config: {{GREETING: hello}}
    limits: {{memory_mb: 64, timeout_ms: 1500, output_bytes: 65536, max_procs: 1}}
""")
    with open(a.policy_dir / "intents.yml", "a") as f:
        for act in HOSTILE_ACTIONS:
            f.write(f"\n  {act}.native:\n    privacy: local-only\n    timeout_ms: 5000\n"
                    f"    candidates: [{{module: {act}.native}}]\n")
    return a.start()


def run_task(a, intent, params):
    r = a.submit(intent, params)
    assert r.status == 202, r
    return a.wait(r.json["taskId"])


def test_subprocess_escapes_are_contained(sandboxed, tmp_path):
    a = sandboxed
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    for path in ("/etc/passwd", str(secret), str(a.data_dir / "aion.db")):
        t = run_task(a, "read.native", {"path": path})
        assert t["status"] == "succeeded", t
        assert t["result"]["read"] != "ok", (path, t["result"])
    t = run_task(a, "net.native", {"port": a.gw_port})
    assert t["result"]["tcp"] != "ok" and t["result"]["udp"] != "ok", t["result"]
    t = run_task(a, "env.native", {})
    assert t["result"] == {"GREETING": "hello"}, t["result"]  # declared config only
    t = run_task(a, "whoami.native", {})
    assert t["result"]["nnp"] == 1 and t["result"]["seccomp"] == 2 and t["result"]["capEff"] == 0, t["result"]
    assert "work" not in t["result"]["root"] and "etc" not in t["result"]["root"], t["result"]["root"]

    t = run_task(a, "forkbomb.native", {})
    assert t["status"] == "succeeded" and t["result"]["forked"] == 0, t  # fork denied outright
    t = run_task(a, "spin.native", {"ms": 100000})
    assert t["status"] == "failed" and t["error"]["code"] == "timeout", t
    t = run_task(a, "alloc.native", {})
    assert t["status"] == "failed" and t["error"]["code"] == "module_failed", t
    t = run_task(a, "flood.native", {})
    assert t["status"] == "failed" and "wrote more than 65536 bytes" in t["error"]["message"], t
    # the host is unharmed and still serves
    assert a.request("GET", "/healthz").status == 200
    t = run_task(a, "summarize", {"text": "Still healthy. Still serving tasks."})
    assert t["status"] == "succeeded"
    # no sandboxed process outlives its task
    left = subprocess.run(["pgrep", "-f", str(NATIVE / "hostile")], capture_output=True, text=True).stdout.split()
    assert left == [], left


def test_fuel_limit_stops_a_wasm_loop(make_aiond):
    a = make_aiond()
    spin = BUILD / "test-modules" / "spin.wasm"
    with open(a.policy_dir / "modules.yml", "a") as f:
        f.write(f"""
  metered:
    version: 0.1.0
    kind: wasm
    artifact: {spin}
    intents: [metered]
    limits: {{fuel: 2000000, timeout_ms: 20000}}
""")
    with open(a.policy_dir / "intents.yml", "a") as f:
        f.write("\n  metered:\n    privacy: local-only\n    timeout_ms: 30000\n    candidates: [{module: metered}]\n")
    a.start()
    t = run_task(a, "metered", {"ms": 10000})
    assert t["status"] == "failed" and "used up its fuel (2000000 units)" in t["error"]["message"], t
    t = run_task(a, "metered", {"ms": 0})
    assert t["status"] == "succeeded", t
    # Metered: the limit that stopped the first run, the fuel both burned, their memory.
    m = {l.rsplit(" ", 1)[0]: float(l.rsplit(" ", 1)[1])
         for l in a.request("GET", "/metrics").raw.decode().splitlines() if l.startswith("aion_module_")}
    assert m['aion_module_limit_hits_total{limit="fuel",module="metered"}'] == 1
    assert m['aion_module_fuel_consumed_total{module="metered"}'] >= 2000000
    assert m['aion_module_memory_bytes_count{module="metered"}'] == 1  # the run that finished
    assert m['aion_module_memory_bytes_sum{module="metered"}'] >= 64 * 1024  # at least one wasm page


def test_output_schema_is_enforced(make_aiond):
    a = make_aiond()
    spin = BUILD / "test-modules" / "spin.wasm"
    with open(a.policy_dir / "modules.yml", "a") as f:
        f.write(f"""
  strict:
    version: 0.1.0
    kind: wasm
    artifact: {spin}
    intents: [strict]
    output_schema: {{type: object, required: [never_there]}}
""")
    with open(a.policy_dir / "intents.yml", "a") as f:
        f.write("\n  strict:\n    privacy: local-only\n    candidates: [{module: strict}]\n")
    a.start()
    t = run_task(a, "strict", {"ms": 0})
    assert t["status"] == "failed" and "does not match its output_schema" in t["error"]["message"], t


def test_register_a_subprocess_module(make_aiond, tmp_path):
    assert run_cli("keygen", str(tmp_path / "vendor")).returncode == 0
    a = make_aiond(env={"AION_MODULE_TRUSTED_KEYS": f"{MODULES / 'trusted-keys'},{tmp_path / 'vendor.pub'}"}).start()
    shutil.copy(MODULES / "summarize-native", tmp_path / "native2")
    t = tmp_path / "native2.yml"
    t.write_text("name: native2\nversion: 2.0.0\nkind: subprocess\nartifact: native2\nintents: [native2]\n"
                 "limits: {memory_mb: 256, timeout_ms: 5000}\nconfig: {RATIO: 1.10, ZIP: 01234}\n")
    s = run_cli("sign", "--key", str(tmp_path / "vendor.key"), "--manifest", str(t),
                "--out", str(tmp_path / "native2.module.json"))
    assert s.returncode == 0, s.stderr
    doc = json.loads((tmp_path / "native2.module.json").read_text())
    assert doc["config"] == {"RATIO": "1.10", "ZIP": "01234"}  # text stays text through signing
    body = {"manifest": doc, "artifact": base64.b64encode((tmp_path / "native2").read_bytes()).decode(),
            "sbom": json.loads((tmp_path / doc["sbom"]).read_text())}
    r = a.control("POST", "/v1/modules", body)
    assert r.status == 201, r
    assert r.json["module"]["kind"] == "subprocess"
    with open(a.policy_dir / "intents.yml", "a") as f:
        f.write("\n  native2:\n    privacy: local-only\n    candidates: [{module: native2}]\n")
    assert a.control("POST", "/v1/router/policy/reload").status == 200
    t = run_task(a, "native2", {"text": "Registered natively. It runs in the sandbox."})
    assert t["status"] == "succeeded", t
    assert t["result"]["summary"]
