"""The release (scripts/release.sh, docs/release.md): run it into a temp dir with a
cosign key, then check what a user downloading it would — checksums, SBOMs against
the official CycloneDX 1.5 schema naming the real components, every signature with
`cosign verify-blob` and with aiond's own verifier, and that one flipped byte in
aiond, a module or an SBOM fails both. Also: the pins in deps/versions.env are the
ones used, and the CI workflows parse and call only scripts that exist."""
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import AIOND, BUILD, REPO, _require_build

RELEASE = REPO / "scripts" / "release.sh"
PINS = {m.group(1): m.group(2) for m in re.finditer(r"^([A-Z][A-Z0-9_]*)=(\S*)", (REPO / "deps/versions.env").read_text(), re.M)}
GOBIN = Path(subprocess.run(["go", "env", "GOPATH"], capture_output=True, text=True).stdout.strip() or "/root/go") / "bin"
COSIGN = GOBIN / "cosign"
PASSWORD = "release-test-password"


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_release(out, **env):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("COSIGN_", "AION_RELEASE_"))}
    e.update(AION_BUILD_DIR=str(BUILD), **env)
    return subprocess.run([str(RELEASE), "--out", str(out)], env=e, capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """One release, signed with a key the test made (as CI signs with the project's)."""
    _require_build()
    if not COSIGN.exists():
        pytest.fail(f"cosign not installed at {COSIGN} (scripts/install-deps.sh installs it)")
    keys = tmp_path_factory.mktemp("keys")
    subprocess.run([str(COSIGN), "generate-key-pair"], cwd=keys, env={**os.environ, "COSIGN_PASSWORD": PASSWORD},
                   check=True, capture_output=True, stdin=subprocess.DEVNULL)
    out = tmp_path_factory.mktemp("dist")
    r = run_release(out, COSIGN_KEY=str(keys / "cosign.key"), COSIGN_PASSWORD=PASSWORD)
    assert r.returncode == 0, r.stderr[-4000:]
    assert "EPHEMERAL" not in r.stderr
    return type("Release", (), {"dir": out, "key_pub": keys / "cosign.pub", "log": r.stderr})


def manifests(rel):
    return sorted((rel.dir / "modules").glob("*.module.json"))


def signed_files(rel):
    """Every file the release signs: aiond, each module artifact, each SBOM, each manifest, SHA256SUMS."""
    files = [rel.dir / "aiond", rel.dir / "aiond.cdx.json", rel.dir / "SHA256SUMS"]
    for m in manifests(rel):
        doc = json.loads(m.read_text())
        files += [m, rel.dir / "modules" / doc["artifact"], rel.dir / "modules" / doc["sbom"]]
    return files


def cosign_verify(path, sig, pub):
    return subprocess.run([str(COSIGN), "verify-blob", "--key", str(pub), "--signature", str(sig),
                           "--insecure-ignore-tlog", str(path)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)


def aiond_verify(manifest, *keys):
    args = [str(AIOND), "module", "verify", str(manifest)]
    for k in keys:
        args += ["--trusted-key", str(k)]
    return subprocess.run(args, capture_output=True, text=True, env={k: v for k, v in os.environ.items()
                                                                    if not k.startswith("AION_")})


def flip_a_byte(src, dst, offset=None):
    data = bytearray(Path(src).read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0x01
    Path(dst).write_bytes(bytes(data))


# --- contents and checksums -----------------------------------------------------------------------

def test_release_holds_aiond_every_built_module_and_their_signatures(release):
    d = release.dir
    assert (d / "aiond").read_bytes() == AIOND.read_bytes()
    built = sorted(p.name for p in (BUILD / "modules").glob("*.module.json"))
    assert built and [m.name for m in manifests(release)] == built
    for m in manifests(release):
        doc = json.loads(m.read_text())
        assert (d / "modules" / doc["artifact"]).read_bytes() == (BUILD / "modules" / doc["artifact"]).read_bytes()
        assert doc["sha256"] == sha256(d / "modules" / doc["artifact"])
    for f in signed_files(release):
        assert Path(str(f) + ".sig").is_file(), f"{f.name} has no .sig"
    # the key it was given, not one of its own; its public half also where aiond looks by default
    assert (d / "cosign.pub").read_text() == release.key_pub.read_text()
    assert (d / "modules/trusted-keys/cosign.pub").read_text() == release.key_pub.read_text()
    assert not (d / "cosign.key").exists()


def test_sha256sums_cover_every_published_file_and_match(release):
    d = release.dir
    listed = {}
    for line in (d / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    published = {str(p.relative_to(d)) for p in d.rglob("*") if p.is_file()} - {"SHA256SUMS", "SHA256SUMS.sig", ".aion-release"}
    assert set(listed) == published
    for name, digest in listed.items():
        assert sha256(d / name) == digest, name
    check = subprocess.run(["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=d, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


# --- SBOMs ------------------------------------------------------------------------------------------

def schema_errors(path):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    errors = JsonStrictValidator(SchemaVersion.V1_5).validate_str(Path(path).read_text(), all_errors=True)
    return [str(e)[:300] for e in errors or []]


def sboms(rel):
    return [rel.dir / "aiond.cdx.json"] + sorted((rel.dir / "modules").glob("*.cdx.json"))


def test_every_sbom_is_valid_cyclonedx_1_5(release):
    for path in sboms(release):
        assert schema_errors(path) == [], path.name
        doc = json.loads(path.read_text())
        assert doc["specVersion"] == "1.5"
        refs = [c["bom-ref"] for c in doc["components"]] + [doc["metadata"]["component"]["bom-ref"]]
        assert len(refs) == len(set(refs)), f"{path.name}: a bom-ref twice"
        for dep in doc["dependencies"]:  # the graph names only components the SBOM lists
            assert {dep["ref"], *dep["dependsOn"]} <= set(refs), (path.name, dep)


def test_the_schema_check_refuses_a_broken_sbom(release, tmp_path):
    doc = json.loads((release.dir / "aiond.cdx.json").read_text())
    doc["components"][0]["hashes"] = [{"alg": "SHA-256", "content": "not-hex"}]
    doc["components"][1]["scope"] = "sometimes"
    (tmp_path / "bad.cdx.json").write_text(json.dumps(doc))
    assert len(schema_errors(tmp_path / "bad.cdx.json")) == 2


def dpkg_version(package):
    return subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True,
                          text=True, check=True).stdout


def test_aiond_sbom_names_its_debian_libraries_and_the_wasmtime_crate_graph(release):
    doc = json.loads((release.dir / "aiond.cdx.json").read_text())
    top = doc["metadata"]["component"]
    assert top["name"] == "aiond" and top["hashes"] == [{"alg": "SHA-256", "content": sha256(AIOND)}]
    by_name = {}
    for c in doc["components"]:
        by_name.setdefault(c["name"], []).append(c)

    def one(name):
        assert name in by_name, f"aiond's SBOM does not name {name}"
        return by_name[name][0]

    def props(c):
        return {p["name"]: p["value"] for p in c.get("properties", [])}

    # (a) what it loads, as installed: ldd -> dpkg, version as dpkg has it
    ssl = one("libssl3")
    assert ssl["version"] == dpkg_version("libssl3")
    assert ssl["purl"].startswith("pkg:deb/debian/libssl3@") and "libssl.so.3" in props(ssl)["aion:files"]
    for loaded in ("libc6", "libsqlite3-0", "libgrpc++1.51", "libyaml-cpp0.7", "librdkafka1"):
        assert props(one(loaded))["aion:linkage"] == "dynamic", loaded
    # what is compiled in from headers (Asio and Beast are header-only)
    assert props(one(f"libboost{PINS['BOOST_VERSION']}-dev"))["aion:linkage"] == "headers"
    # (b) the wasmtime C API crate graph, at the pinned version, with Cargo.lock's hashes
    wt = one("wasmtime-c-api-impl")
    assert wt["version"] == PINS["WASMTIME_VERSION"] and wt["scope"] == "required"
    assert wt["purl"] == f"pkg:cargo/wasmtime-c-api-impl@{PINS['WASMTIME_VERSION']}"
    lock = (REPO / "deps/wasmtime/Cargo.lock").read_text()
    m = re.search(r'name = "wasmtime-c-api-impl"\nversion = "[^"]+"\nsource = "[^"]+"\nchecksum = "([0-9a-f]{64})"', lock)
    assert wt["hashes"] == [{"alg": "SHA-256", "content": m.group(1)}]
    assert one("cranelift-codegen")["scope"] == "required"
    assert one("syn")["scope"] == "excluded"  # proc macros run at build time and are not linked
    assert one("rust-std")["scope"] == "required"
    crates = [c for c in doc["components"] if c["purl"].startswith("pkg:cargo/")]
    assert len(crates) > 100
    root = next(d for d in doc["dependencies"] if d["ref"] == "aiond")
    assert wt["bom-ref"] in root["dependsOn"] and ssl["bom-ref"] in root["dependsOn"]


def test_module_sboms_name_the_module_and_its_crates(release):
    for m in manifests(release):
        man = json.loads(m.read_text())
        doc = json.loads((release.dir / "modules" / man["sbom"]).read_text())
        top = doc["metadata"]["component"]
        assert top["name"] == man["name"] and top["version"] == man["version"]
        assert top["hashes"] == [{"alg": "SHA-256", "content": man["sha256"]}]
        comps = {c["name"]: c for c in doc["components"]}
        assert comps["serde_json"]["scope"] == "required" and comps["serde_json"]["purl"].startswith("pkg:cargo/serde_json@")
        assert comps["serde_derive"]["scope"] == "excluded"
        std = "libstd-rust-dev-wasm32" if man["kind"] == "wasm" else "libstd-rust-dev"
        assert comps[std]["version"] == dpkg_version(std), man["name"]


# --- signatures ---------------------------------------------------------------------------------------

def test_every_signature_verifies_with_cosign(release):
    for f in signed_files(release):
        r = cosign_verify(f, str(f) + ".sig", release.dir / "cosign.pub")
        assert r.returncode == 0, (f.name, r.stderr)


def test_aiond_verifies_every_release_module_with_the_release_key(release):
    for m in manifests(release):
        ok = aiond_verify(m, release.dir / "cosign.pub")
        assert ok.returncode == 0 and ok.stdout.startswith("OK "), (m.name, ok.stderr)
        # aiond's default trust, beside the binary: <dir of aiond>/modules/trusted-keys
        r = subprocess.run([str(release.dir / "aiond"), "module", "verify", str(m)], capture_output=True, text=True,
                           env={k: v for k, v in os.environ.items() if not k.startswith("AION_")})
        assert r.returncode == 0, (m.name, r.stderr)
        # ... and no other key: the build's dev key does not vouch for a release
        other = aiond_verify(m, BUILD / "modules/trusted-keys/dev.pub")
        assert other.returncode == 1 and "untrusted key" in other.stderr, other


def blob_manifest(tmp_path, artifact, sig):
    """A manifest that hands any signed release file to aiond's verifier (digest, then the
    cosign signature with OpenSSL), with a minimal SBOM naming it, since aiond wants one."""
    (tmp_path / "blob.cdx.json").write_text(json.dumps(
        {"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
         "metadata": {"component": {"type": "file", "name": "blob"}}}))
    m = tmp_path / "blob.module.json"
    m.write_text(json.dumps({"manifest_version": 1, "name": "blob", "version": "0.0.0", "kind": "subprocess",
                             "artifact": str(artifact), "sha256": sha256(artifact), "sbom": "blob.cdx.json",
                             "signature": {"value": Path(sig).read_text().strip(), "public_key": "cosign.pub"},
                             "intents": ["blob"]}))
    return m


def test_aiond_verifies_the_cosign_signatures_on_aiond_and_an_sbom_too(release, tmp_path):
    shutil.copy(release.dir / "cosign.pub", tmp_path / "cosign.pub")
    for f in (release.dir / "aiond", release.dir / "aiond.cdx.json"):
        ok = aiond_verify(blob_manifest(tmp_path, f, str(f) + ".sig"), tmp_path / "cosign.pub")
        assert ok.returncode == 0, (f.name, ok.stderr)


def test_a_flipped_byte_fails_cosign_and_aiond(release, tmp_path):
    d, pub = release.dir, release.dir / "cosign.pub"
    shutil.copy(pub, tmp_path / "cosign.pub")
    man = json.loads((d / "modules/summarize.module.json").read_text())
    cases = [d / "aiond", d / "modules" / man["artifact"], d / "aiond.cdx.json", d / "modules" / man["sbom"]]
    for original in cases:
        bad = tmp_path / ("tampered-" + original.name)
        flip_a_byte(original, bad)
        assert cosign_verify(original, str(original) + ".sig", pub).returncode == 0
        r = cosign_verify(bad, str(original) + ".sig", pub)
        assert r.returncode != 0 and "invalid signature" in r.stderr.lower(), (original.name, r.stderr)
        # aiond's verifier, told the tampered file's own digest, still refuses: the signature is the check
        r = aiond_verify(blob_manifest(tmp_path, bad, str(original) + ".sig"), tmp_path / "cosign.pub")
        assert r.returncode == 1 and "signature does not match" in r.stderr, (original.name, r.stderr)

    # a released module whose artifact lost a byte is refused by its own manifest
    mod = tmp_path / "module"
    shutil.copytree(d / "modules", mod)
    flip_a_byte(d / "modules" / man["artifact"], mod / man["artifact"])
    r = aiond_verify(mod / "summarize.module.json", pub)
    assert r.returncode == 1 and "digest mismatch" in r.stderr, r
    # ... and so is one whose SBOM no longer matches the artifact
    shutil.copy(d / "modules" / man["artifact"], mod / man["artifact"])
    sbom = (mod / man["sbom"]).read_text()
    digest = man["sha256"]
    (mod / man["sbom"]).write_text(sbom.replace(digest, digest[:-1] + ("0" if digest[-1] != "0" else "1")))
    r = aiond_verify(mod / "summarize.module.json", pub)
    assert r.returncode == 1 and "SBOM lists sha256" in r.stderr, r


# --- what release.sh refuses ----------------------------------------------------------------------------

def test_release_refuses_a_tag_that_is_not_the_version_a_required_key_missing_and_a_foreign_dir(tmp_path):
    _require_build()
    r = run_release(tmp_path / "a", AION_RELEASE_TAG="v0.0.0-not-this")
    assert r.returncode == 1 and "does not match aiond's version" in r.stderr, r.stderr[-2000:]
    r = run_release(tmp_path / "b", AION_RELEASE_REQUIRE_KEY="true")
    assert r.returncode == 1 and "no COSIGN_KEY" in r.stderr, r.stderr[-2000:]
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "precious.txt").write_text("not the release's")
    r = run_release(tmp_path / "c")
    assert r.returncode == 1 and "not written by release.sh" in r.stderr, r.stderr[-2000:]
    assert (tmp_path / "c" / "precious.txt").exists()


# --- pins -------------------------------------------------------------------------------------------------

def test_pins_are_the_versions_used():
    from kafka_broker import KAFKA_VERSION
    assert KAFKA_VERSION == PINS["KAFKA_VERSION"]
    lock = json.loads((REPO / "tests/e2e/openai_node/package-lock.json").read_text())
    assert lock["packages"]["node_modules/openai"]["version"] == PINS["OPENAI_NODE_VERSION"]
    console = json.loads((REPO / "console/package.json").read_text())
    assert console["packageManager"] == f"pnpm@{PINS['PNPM_VERSION']}"
    assert f"npm install -g pnpm@{PINS['PNPM_VERSION']}\n" in (REPO / "deploy/docker/console.Dockerfile").read_text()
    cargo = (REPO / "deps/wasmtime/Cargo.toml").read_text()
    assert f'wasmtime-c-api-impl = {{ version = "={PINS["WASMTIME_VERSION"]}"' in cargo
    assert f'name = "wasmtime-c-api-impl"\nversion = "{PINS["WASMTIME_VERSION"]}"' in \
        (REPO / "deps/wasmtime/Cargo.lock").read_text()
    # every pin is read somewhere, so none is a stale copy
    readers = "".join(p.read_text() for p in [*REPO.glob("scripts/*.sh"), *REPO.glob(".github/**/*.y*ml"),
                                              *REPO.glob(".github/scripts/*.sh"), Path(__file__)])
    for key in PINS:
        assert re.search(rf"\b{key}\b", readers), f"deps/versions.env pins {key} but nothing reads it"


def test_installed_go_tools_are_the_pinned_versions():
    for tool, module, key in (("cosign", "github.com/sigstore/cosign/v2", "COSIGN_VERSION"),
                              ("grpcurl", "github.com/fullstorydev/grpcurl", "GRPCURL_VERSION"),
                              ("helm", "helm.sh/helm/v3", "HELM_VERSION")):
        info = subprocess.run(["go", "version", "-m", str(GOBIN / tool)], capture_output=True, text=True).stdout
        assert re.search(rf"^\s+mod\s+{re.escape(module)}\s+{re.escape(PINS[key])}\s", info, re.M), \
            f"{tool} is not {PINS[key]} (scripts/install-deps.sh installs it)"


# --- CI workflows ----------------------------------------------------------------------------------------

WORKFLOWS = REPO / ".github" / "workflows"
SCRIPT_RE = re.compile(r"(?:^|[\s;&|(])(?:bash\s+)?(\.?/?(?:scripts|\.github/scripts|\.ci)/[\w./-]+)")


def test_workflows_parse_and_every_run_step_calls_an_existing_script():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"ci.yml", "release.yml"}
    for f in files:
        wf = yaml.safe_load(f.read_text())
        assert wf.get("jobs"), f.name
        assert wf.get("on", wf.get(True)), f"{f.name}: no triggers"  # YAML 1.1 reads a bare `on` as true
        for job_name, job in wf["jobs"].items():
            assert job.get("steps"), (f.name, job_name)
            for step in job["steps"]:
                assert ("run" in step) != ("uses" in step), (f.name, job_name, step)
                if "uses" in step:
                    assert re.fullmatch(r"[\w.-]+/[\w.-]+@[\w.-]+", step["uses"]), step["uses"]
                    continue
                scripts = SCRIPT_RE.findall(step["run"])
                assert scripts, f"{f.name} {job_name}: run step calls no script: {step['run']!r}"
                for s in scripts:
                    path = REPO / (s[2:] if s.startswith("./") else s)
                    assert path.is_file() and os.access(path, os.X_OK), f"{f.name}: {s} is not an executable script"


def test_ci_runs_the_readme_test_command_and_release_runs_release_sh():
    ci = yaml.safe_load((WORKFLOWS / "ci.yml").read_text())
    runs = [s.get("run", "") for job in ci["jobs"].values() for s in job["steps"]]
    assert "./scripts/test.sh" in runs and "./scripts/build.sh" in runs and "./.github/scripts/lint.sh" in runs
    assert "./scripts/test.sh" in (REPO / ".ci/run").read_text()
    rel = yaml.safe_load((WORKFLOWS / "release.yml").read_text())
    trigger = rel.get("on", rel.get(True))
    assert trigger["push"]["tags"] == ["v*"]
    step = next(s for s in rel["jobs"]["release"]["steps"] if s.get("run") == "./scripts/release.sh")
    assert step["env"]["AION_RELEASE_REQUIRE_KEY"] == "true" and step["env"]["COSIGN_KEY"].startswith("env://")
