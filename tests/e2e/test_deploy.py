"""Deployability (issue 16): the aiond image, docker-compose.yml and the Helm
chart, checked without a Docker engine or a cluster (none exists here):

- Dockerfile: hadolint, plus focused checks (pinned bases, multi-stage, non-root,
  healthcheck, COPY sources, build packages in step with install-deps.sh,
  runtime packages covering every library the built aiond links);
- the image's healthcheck script against a real aiond, and aiond writing
  nothing outside AION_DATA_DIR (what a read-only root needs);
- docker-compose.yml against the Compose specification's schema, its paths,
  variables and the wiring between services;
- the chart: helm lint, helm template per values profile, every rendered
  manifest against Kubernetes' OpenAPI schema (strict), the ServiceMonitor
  against its CRD schema, and what the chart promises (security contexts,
  probes, NetworkPolicies, HPA, PDB, policies identical to policies/).
Tools and schemas come at pinned versions (deploy_schemas.py).
"""
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import time
from fnmatch import fnmatch
from pathlib import Path

import pytest
import yaml

from conftest import AIOND, MODULES, REPO, free_port
from deploy_schemas import (KUBE_VERSION, PINS, compose_validator, hadolint_path, helm_path, kubernetes_schemas,
                            service_monitor_validator)

DOCKERFILE = REPO / "deploy" / "docker" / "aiond.Dockerfile"
HEALTHCHECK = REPO / "deploy" / "docker" / "healthcheck.sh"
COMPOSE = REPO / "docker-compose.yml"
CHART = REPO / "deploy" / "helm" / "aionos"

# Variables of issue 12's split roles (DESIGN.md, issue 12 and the roles work
# under way: a gateway dials control at AION_CONTROL_GRPC, control listens on
# AION_CONTROL_GRPC_PORT; the module host likewise); allowed here until
# docs/configuration.md lists them.
ROLE_VARIABLES = {"AION_CONTROL_GRPC", "AION_CONTROL_GRPC_PORT", "AION_MODHOST_GRPC", "AION_MODHOST_GRPC_PORT",
                  "AION_INTERNAL_TLS_CERT", "AION_INTERNAL_TLS_KEY", "AION_INTERNAL_TLS_CA"}
# Where each role listens for the role that dials it.
LISTEN_PORT = {"AION_CONTROL_GRPC": ("control", "AION_CONTROL_GRPC_PORT"),
               "AION_MODHOST_GRPC": ("modhost", "AION_MODHOST_GRPC_PORT")}

# Packages of scripts/install-deps.sh that only tests, fuzzing or releases use
# (fnmatch patterns, after deps/versions.env is applied): the image's build
# stage leaves them out. Anything else install-deps.sh installs, it installs too.
TEST_ONLY_PACKAGES = {
    "clang-format": "formatting check",
    "python3-pytest": "the e2e suite",
    "curl": "scripts and tests",
    "redis-server": "the Redis e2e",
    "prometheus": "the observability e2e",
    "postgresql-*": "the PostgreSQL e2e",
    "openjdk-*-jre-headless": "the Kafka broker of the e2e",
    "maven": "fetches the Kafka broker",
    "clang-[0-9]*": "fuzzing and sanitizer builds",
    "libfuzzer-*-dev": "fuzzing",
    "libclang-rt-*-dev": "sanitizer runtimes",
    "llvm-[0-9]*": "llvm-symbolizer for sanitizer reports",
}


def is_test_only(pkg):
    return any(fnmatch(pkg, pat) for pat in TEST_ONLY_PACKAGES)


# ---------------------------------------------------------------------------
# documented variables


@functools.lru_cache(maxsize=None)
def env_example_vars():
    return {m.group(1) for m in re.finditer(r"^([A-Z][A-Z0-9_]*)=", (REPO / ".env.example").read_text(), re.M)}


def _doc_vars(name):
    return set(re.findall(r"`([A-Z][A-Z0-9_]{2,})`", (REPO / "docs" / name).read_text()))


@functools.lru_cache(maxsize=None)
def configuration_vars():
    return env_example_vars() | _doc_vars("configuration.md")


@functools.lru_cache(maxsize=None)
def aiond_vars():
    """Every variable aiond reads, as documented: configuration.md, .env.example,
    and the provider variables of policies.md."""
    return configuration_vars() | _doc_vars("policies.md") | ROLE_VARIABLES


# ---------------------------------------------------------------------------
# Dockerfile


def dockerfile_instructions(path=DOCKERFILE):
    """(keyword, argument text) per instruction; continuations joined, comments dropped."""
    out, cur = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not cur):
            continue
        cur += " " + line
        if cur.endswith("\\"):
            cur = cur[:-1]
            continue
        kw, _, rest = cur.strip().partition(" ")
        out.append((kw.upper(), rest.strip()))
        cur = ""
    return out


def dockerfile_stages(path=DOCKERFILE):
    stages = []
    for kw, arg in dockerfile_instructions(path):
        if kw == "FROM":
            parts = [p for p in arg.split() if not p.startswith("--")]
            stages.append({"image": parts[0], "name": parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else None,
                           "instructions": []})
        else:
            assert stages, f"{kw} before the first FROM"
            stages[-1]["instructions"].append((kw, arg))
    return stages


def bash_words(text):
    """The words bash makes of `text` with deps/versions.env sourced."""
    script = 'set -e; [[ -f deps/versions.env ]] && . deps/versions.env; eval "set -- $1"; printf "%s\\n" "$@"'
    r = subprocess.run(["bash", "-c", script, "words", " ".join(text.split("\n"))], cwd=REPO, capture_output=True, text=True, check=True)
    return r.stdout.splitlines()


def apt_installed(run_arg):
    """Packages an `apt-get install` in a RUN installs."""
    m = re.search(r"apt-get install (.*?)(?:&&|$)", run_arg)
    return [t for t in bash_words(m.group(1)) if not t.startswith("-")] if m else []


def install_deps_packages():
    text = (REPO / "scripts" / "install-deps.sh").read_text()
    m = re.search(r"^apt_packages=\((.*?)^\)", text, re.S | re.M)
    assert m, "scripts/install-deps.sh has no apt_packages=( ... ) list"
    return set(bash_words("\n".join(line.split("#")[0] for line in m.group(1).splitlines())))


def dockerignore_patterns():
    pats = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            pats.append(line)
    return pats


def dockerignored(rel):
    """Docker's rule: the last matching pattern wins; '!' re-includes."""
    ignored = False
    parts = rel.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for pat in dockerignore_patterns():
        neg = pat.startswith("!")
        p = pat[1:] if neg else pat
        p = p.lstrip("/").rstrip("/")
        matched = any(fnmatch(pre, p) or (p.startswith("**/") and any(fnmatch(seg, p[3:]) for seg in pre.split("/")))
                      for pre in prefixes)
        if matched:
            ignored = not neg
    return ignored


def test_dockerfile_passes_hadolint():
    hadolint = hadolint_path()
    r = subprocess.run([hadolint, "--config", str(REPO / "deploy" / "docker" / ".hadolint.yaml"),
                        "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_dockerfile_is_multistage_pinned_non_root_with_healthcheck():
    stages = dockerfile_stages()
    assert len(stages) >= 2, "a build stage and a runtime stage"
    names = set()
    for st in stages:
        image = st["image"]
        if image in names:
            continue
        repo_tag = image.split("@")[0]
        tag = repo_tag.rsplit(":", 1)[1] if ":" in repo_tag.rsplit("/", 1)[-1] else ""
        assert "@sha256:" in image or (tag and tag != "latest" and re.search(r"\d", tag)), \
            f"base image {image} is not pinned to a version"
        if st["name"]:
            names.add(st["name"])
    all_instructions = [kw for st in stages for kw, _ in st["instructions"]]
    assert "ADD" not in all_instructions, "COPY, not ADD (no remote URLs, no implicit unpacking)"

    build, runtime = stages[0], stages[-1]
    # Debian 12 with the Rust of deps/versions.env (the wasmtime C API needs it).
    rust, debian = PINS.get("RUST_VERSION", "1.95.0"), PINS.get("DEBIAN_RELEASE", "bookworm")
    assert build["image"] == f"rust:{rust}-{debian}", f"build stage {build['image']}: want rust:{rust}-{debian}"
    assert runtime["image"].startswith("debian:12") and runtime["image"].endswith("-slim"), runtime["image"]
    rt = runtime["instructions"]
    kws = [kw for kw, _ in rt]
    # Non-root: the last USER is a numeric uid other than 0 (Kubernetes' runAsNonRoot checks numbers).
    users = [arg for kw, arg in rt if kw == "USER"]
    assert users, "runtime stage has no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {users[-1]}: a numeric non-root uid"
    # The uid exists in the image and owns the data directory.
    run_text = " ".join(arg for kw, arg in rt if kw == "RUN")
    assert f"--uid {uid}" in run_text, f"runtime stage creates no user with uid {uid}"

    env = {}
    for kw, arg in rt:
        if kw == "ENV":
            env.update(dict(re.findall(r"(\w+)=(\S+)", arg)))
    data_dir = env.get("AION_DATA_DIR")
    assert data_dir, "runtime stage sets AION_DATA_DIR"
    volumes = [arg for kw, arg in rt if kw == "VOLUME"]
    assert any(data_dir in v for v in volumes), f"AION_DATA_DIR {data_dir} is not a VOLUME"
    assert re.search(rf"install -d -o {uid} -g \d+ .*{re.escape(data_dir)}", run_text), \
        f"{data_dir} is not created owned by uid {uid}"
    for var in ("AION_POLICY_DIR", "AION_MODULE_DIR"):
        assert var in env and env[var].startswith("/opt/aionos/"), f"{var} points into the image: {env.get(var)}"
    assert set(env) <= aiond_vars(), f"undocumented variables in ENV: {set(env) - aiond_vars()}"

    # The healthcheck runs a file the runtime stage copies in.
    hc = [arg for kw, arg in rt if kw == "HEALTHCHECK"]
    assert len(hc) == 1 and "CMD" in hc[0], "one HEALTHCHECK with a CMD"
    hc_cmd = json.loads(hc[0].split("CMD", 1)[1].strip())
    copies = [arg for kw, arg in rt if kw == "COPY"]
    assert any(c.split()[-1] == hc_cmd[0] and "healthcheck.sh" in c for c in copies), \
        f"HEALTHCHECK runs {hc_cmd[0]}, which no COPY provides"
    # The role is the argument: ENTRYPOINT aiond, CMD --role all.
    entry = json.loads(next(arg for kw, arg in rt if kw == "ENTRYPOINT"))
    cmd = json.loads(next(arg for kw, arg in rt if kw == "CMD"))
    assert entry[0].endswith("/aiond") and cmd[:2] == ["--role", "all"], (entry, cmd)
    assert any(c.startswith("--from=") and c.split()[-1] == str(Path(entry[0]).parent.parent)
               for c in copies), "aiond comes from the build stage"
    exposed = {p for kw, arg in rt if kw == "EXPOSE" for p in arg.split()}
    assert {"8080", "50051", "8000"} <= exposed, exposed
    assert kws.index("USER") < kws.index("ENTRYPOINT")


def test_dockerfile_copy_sources_exist_and_are_in_the_context():
    stages = dockerfile_stages()
    seen = set()
    for st in stages:
        for kw, arg in st["instructions"]:
            if kw != "COPY":
                continue
            parts = arg.split()
            flags = [p for p in parts if p.startswith("--")]
            paths = [p for p in parts if not p.startswith("--")]
            frm = [f.split("=", 1)[1] for f in flags if f.startswith("--from=")]
            if frm:
                assert frm[0] in seen, f"COPY --from={frm[0]}: no earlier stage of that name"
                continue
            for src in paths[:-1]:
                if src == ".":
                    continue
                assert (REPO / src).exists(), f"COPY {src}: no such file in the build context"
                assert not dockerignored(src), f"COPY {src}: excluded by .dockerignore"
        if st["name"]:
            seen.add(st["name"])
    # What the build needs is in the context; what must not be is kept out.
    for needed in ("CMakeLists.txt", "src/app/main.cpp", "scripts/build.sh", "scripts/install-deps.sh",
                   "deploy/docker/build-aiond.sh", "deps/wasmtime/Cargo.toml", "policies/intents.yml",
                   "modules/CMakeLists.txt", "tests/CMakeLists.txt", "bench/CMakeLists.txt"):
        assert (REPO / needed).exists() and not dockerignored(needed), f"{needed} must reach the build"
    for kept_out in (".git/config", "build/aiond", ".env", "data/aion.db", ".env.local"):
        assert dockerignored(kept_out), f"{kept_out} must not reach the build context"


def test_dockerfile_build_stage_installs_install_deps_build_packages():
    build = dockerfile_stages()[0]
    pkgs = {p for kw, arg in build["instructions"] if kw == "RUN" for p in apt_installed(arg)}
    wanted = {p for p in install_deps_packages() if not is_test_only(p)}
    assert wanted - pkgs == set(), f"install-deps.sh installs these for the build; the image does not: {wanted - pkgs}"
    assert pkgs - install_deps_packages() == set(), \
        f"the image installs packages install-deps.sh does not: {pkgs - install_deps_packages()}"
    runs = " ".join(arg for kw, arg in build["instructions"] if kw == "RUN")
    assert "deploy/docker/build-aiond.sh" in runs
    # build-aiond.sh takes install-deps.sh's wasmtime block: it must still be there and parse.
    script = (REPO / "deploy" / "docker" / "build-aiond.sh").read_text()
    sed = re.search(r"sed -n '([^']+)'", script).group(1)
    block = subprocess.run(["sed", "-n", sed, str(REPO / "scripts" / "install-deps.sh")],
                           capture_output=True, text=True, check=True).stdout
    assert "libwasmtime.a" in block and block.rstrip().endswith("fi"), block[:500]
    r = subprocess.run(["bash", "-n"], input=block, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for f in ("build-aiond.sh", "healthcheck.sh"):
        r = subprocess.run(["bash", "-n", str(REPO / "deploy" / "docker" / f)], capture_output=True, text=True)
        assert r.returncode == 0, f"{f}: {r.stderr}"
        assert os.access(REPO / "deploy" / "docker" / f, os.X_OK), f"{f} is not executable"


def test_runtime_stage_installs_the_package_of_every_library_aiond_links():
    if not AIOND.exists():
        pytest.skip(f"{AIOND} not built: the runtime list is checked against the built binary (./scripts/build.sh)")
    if not (shutil.which("ldd") and shutil.which("dpkg")):
        pytest.skip("ldd or dpkg missing: this check maps libraries to Debian packages")
    ldd = subprocess.run(["ldd", str(AIOND)], capture_output=True, text=True, check=True).stdout
    libs = sorted({m.group(1) for m in re.finditer(r"=>\s+(/\S+)", ldd)} |
                  {m.group(1) for m in re.finditer(r"^\s+(/\S+)\s+\(", ldd, re.M)})
    assert libs, ldd
    # One dpkg -S for all (Debian 12 merged /lib into /usr/lib: try the real path, then the linked one).
    owners = {}
    for paths in ({lib: os.path.realpath(lib) for lib in libs}, {lib: lib for lib in libs}):
        todo = {lib: p for lib, p in paths.items() if lib not in owners}
        if not todo:
            break
        out = subprocess.run(["dpkg", "-S", *sorted(set(todo.values()))], capture_output=True, text=True).stdout
        found = {}
        for line in out.splitlines():
            pkgs_part, _, path = line.rpartition(": ")
            found[path.strip()] = pkgs_part.split(",")[0].split(":")[0].strip()
        for lib, p in todo.items():
            if p in found:
                owners[lib] = found[p]
    unowned = [lib for lib in libs if lib not in owners]
    assert not unowned, f"no Debian package owns {unowned}"
    needed = {}
    for lib, owner in owners.items():
        needed.setdefault(owner, []).append(Path(lib).name)
    runtime = dockerfile_stages()[-1]
    pkgs = {p for kw, arg in runtime["instructions"] if kw == "RUN" for p in apt_installed(arg)}
    missing = {p: v for p, v in needed.items() if p not in pkgs}
    assert not missing, f"the runtime image lacks packages aiond links: {missing}"
    extra = pkgs - set(needed) - {"ca-certificates"}
    assert not extra, f"the runtime image installs packages aiond does not link: {extra}"


def _start_aiond(tmp, env):
    ports = {"AION_GATEWAY_PORT": free_port(), "AION_CONTROL_PORT": free_port(), "AION_GATEWAY_GRPC_PORT": free_port()}
    full = {k: v for k, v in os.environ.items() if not k.startswith(("AION_", "OPENAI_", "KAFKA_", "OTEL_"))}
    full.update({k: str(v) for k, v in ports.items()})
    full.update({"AION_BIND_ADDRESS": "127.0.0.1", "AION_MODULE_DIR": str(MODULES),
                 "AION_GATEWAY_API_KEYS": "demo-key:admin|manager"})
    full.update(env)
    cwd = tmp / "cwd"
    cwd.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([str(AIOND), "--role", "all"], env=full, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=open(tmp / "aiond.log", "ab"))
    deadline = time.time() + 20
    while time.time() < deadline:
        line = proc.stdout.readline().decode()
        if not line:
            break
        if line.strip().startswith("control"):
            return proc, ports
    proc.kill()
    raise AssertionError(f"aiond did not start: {(tmp / 'aiond.log').read_text()}")


def _stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _healthcheck(*args, **env):
    e = {k: v for k, v in os.environ.items() if not k.startswith("AION_")}
    e.update({k: str(v) for k, v in env.items()})
    return subprocess.run(["bash", str(HEALTHCHECK), *args], env=e, capture_output=True, text=True, timeout=20)


def test_image_healthcheck_checks_the_role_it_runs(tmp_path):
    if not AIOND.exists():
        pytest.skip(f"{AIOND} not built (./scripts/build.sh)")
    proc, ports = _start_aiond(tmp_path, {"AION_POLICY_DIR": str(REPO / "policies"),
                                          "AION_DATA_DIR": str(tmp_path / "data")})
    try:
        gw, ctl, grpc = ports["AION_GATEWAY_PORT"], ports["AION_CONTROL_PORT"], ports["AION_GATEWAY_GRPC_PORT"]
        for role, env in (("all", {"AION_GATEWAY_PORT": gw}), ("gateway", {"AION_GATEWAY_PORT": gw}),
                          ("control", {"AION_CONTROL_PORT": ctl}),
                          ("modhost", {"AION_MODHOST_GRPC_PORT": grpc}),
                          ("modhost", {"AION_MODHOST_GRPC": f"127.0.0.1:{grpc}"})):
            r = _healthcheck(role, **env)
            assert r.returncode == 0, f"{role}: {r.stderr}"
        # A listener that does not answer /healthz with 200 (gRPC), and a closed port.
        r = _healthcheck("gateway", AION_GATEWAY_PORT=grpc)
        assert r.returncode == 1 and "/healthz answered" in r.stderr, r.stderr
        closed = free_port()
        r = _healthcheck("control", AION_CONTROL_PORT=closed)
        assert r.returncode == 1 and "nothing listens" in r.stderr, r.stderr
        # TLS listeners: a connect is the check (bash speaks no TLS).
        assert _healthcheck("gateway", AION_GATEWAY_PORT=grpc, AION_TLS_CERT="/x.pem").returncode == 0
        assert _healthcheck("sidecar").returncode == 1
    finally:
        _stop(proc)
    r = _healthcheck("all", AION_GATEWAY_PORT=gw)
    assert r.returncode == 1, "a stopped aiond is unhealthy"


def test_aiond_writes_nothing_outside_its_data_dir(tmp_path):
    """What a read-only root filesystem needs: with the image's layout (policies
    and modules read-only, AION_DATA_DIR the one volume), a task run leaves no
    file in the working directory, HOME or TMPDIR."""
    if not AIOND.exists():
        pytest.skip(f"{AIOND} not built (./scripts/build.sh)")
    import http.client
    home, tmpdir, data = tmp_path / "home", tmp_path / "tmp", tmp_path / "data"
    for d in (home, tmpdir):
        d.mkdir()
    proc, ports = _start_aiond(tmp_path, {"AION_POLICY_DIR": str(REPO / "policies"), "AION_DATA_DIR": str(data),
                                          "HOME": str(home), "TMPDIR": str(tmpdir)})
    try:
        conn = http.client.HTTPConnection("127.0.0.1", ports["AION_GATEWAY_PORT"], timeout=10)
        body = json.dumps({"schemaVersion": "1.0", "intent": "summarize", "params": {"text": "One. Two. Three."}})
        conn.request("POST", "/v1/tasks", body, {"X-API-Key": "demo-key", "Content-Type": "application/json"})
        r = conn.getresponse()
        task = json.loads(r.read())
        assert r.status == 202, task
        deadline = time.time() + 15
        while time.time() < deadline:
            conn.request("GET", f"/v1/tasks/{task['taskId']}", headers={"X-API-Key": "demo-key"})
            got = json.loads(conn.getresponse().read())
            if got["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.05)
        assert got["status"] == "succeeded", got
    finally:
        _stop(proc)
    for d in (tmp_path / "cwd", home, tmpdir):
        assert list(d.iterdir()) == [], f"aiond wrote outside AION_DATA_DIR: {list(d.iterdir())}"
    assert (data / "aion.db").exists()


# ---------------------------------------------------------------------------
# docker-compose.yml


@functools.lru_cache(maxsize=None)
def compose():
    return yaml.safe_load(COMPOSE.read_text())


AIOND_SERVICES = ("gateway", "control", "modhost", "embedded")
VAR_RE = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|([A-Za-z_][A-Za-z0-9_]*))")


def interpolate(node, env):
    def sub(m):
        name = m.group(1) or m.group(2)
        expr = m.group(0)
        default = ""
        d = re.match(r"\$\{[A-Za-z0-9_]+:?-(.*)\}$", expr)
        if d:
            default = d.group(1)
        val = env.get(name, "")
        return val if val else default

    if isinstance(node, str):
        return VAR_RE.sub(sub, node).replace("$$", "$")
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    return node


def service_env(svc):
    env = svc.get("environment", {})
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
    return env


def test_compose_file_matches_the_compose_specification():
    validator = compose_validator()
    raw = compose()
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(raw)]
    assert not errors, "\n".join(errors)
    # As compose sees it once .env.example's values are in.
    example = dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", (REPO / ".env.example").read_text(), re.M))
    resolved = interpolate(raw, example)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(resolved)]
    assert not errors, "\n".join(errors)
    for name, svc in resolved["services"].items():
        for p in svc.get("ports", []):
            host, _, container = str(p).rpartition(":")
            assert host.isdigit() and container.isdigit(), f"{name}: port {p} does not resolve"


def test_compose_references_only_existing_paths():
    for name, svc in compose()["services"].items():
        build = svc.get("build")
        if build:
            ctx = REPO / build.get("context", ".")
            assert ctx.is_dir(), f"{name}: build context {ctx}"
            assert (ctx / build["dockerfile"]).is_file(), f"{name}: dockerfile {build['dockerfile']}"
        for ef in svc.get("env_file", []):
            path, required = (ef, True) if isinstance(ef, str) else (ef["path"], ef.get("required", True))
            assert not required or (REPO / path).exists(), f"{name}: env_file {path} is required but missing"
            if path == ".env":
                assert (REPO / ".env.example").exists(), ".env is made from .env.example"
        for v in svc.get("volumes", []):
            src = v.split(":")[0] if isinstance(v, str) else v.get("source", "")
            if src.startswith((".", "/")):
                assert (REPO / src).exists(), f"{name}: bind mount source {src} does not exist"
            elif src:
                assert src in (compose().get("volumes") or {}), f"{name}: volume {src} is not declared"
        for dep in svc.get("depends_on", {}):
            assert dep in compose()["services"], f"{name} depends on unknown service {dep}"


def test_compose_variables_are_defined_or_documented():
    text = COMPOSE.read_text()
    used = {m.group(1) or m.group(2) for m in VAR_RE.finditer(text)}
    undocumented = used - configuration_vars()
    assert not undocumented, f"${{VAR}} neither in .env.example nor in docs/configuration.md: {undocumented}"
    for name in AIOND_SERVICES:
        env = service_env(compose()["services"][name])
        unknown = set(env) - aiond_vars()
        assert not unknown, f"{name}: aiond reads no such variable: {unknown}"
        # .env.example's host paths (./policies, ./data) must not reach a container.
        for var, value in re.findall(r"^([A-Z][A-Z0-9_]*)=(\./.*)$", (REPO / ".env.example").read_text(), re.M):
            assert var in env and env[var].startswith("/"), f"{name}: {var} from .env ({value}) is not overridden"


def test_compose_services_are_wired_together():
    services = compose()["services"]
    assert {"gateway", "control", "modhost", "postgres", "redis", "kafka", "embedded"} <= set(services)
    aiond = {n: services[n] for n in AIOND_SERVICES}
    images = {(s["image"], json.dumps(s["build"], sort_keys=True)) for s in aiond.values()}
    assert len(images) == 1, f"one aiond image for every role: {images}"
    assert all(s.get("profiles") is None for n, s in services.items() if n != "embedded"), \
        "`docker compose up` runs everything but the embedded profile"
    assert services["embedded"].get("profiles") == ["embedded"]
    for name, role in (("gateway", "gateway"), ("control", "control"), ("modhost", "modhost"), ("embedded", "all")):
        assert services[name]["command"] == ["--role", role], name
        s = services[name]
        assert s.get("read_only") is True and s.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in s.get("security_opt", []), name
        assert any(str(t).startswith("/tmp") for t in s.get("tmpfs", [])), f"{name}: /tmp on a tmpfs"
        env = service_env(s)
        data_dir = env.get("AION_DATA_DIR")
        assert any(str(v).endswith(":" + data_dir) for v in s.get("volumes", [])) or \
            any(str(t).split(":")[0] == data_dir for t in s.get("tmpfs", [])), f"{name}: {data_dir} is not writable"
        for p in s.get("ports", []):
            container_port = str(p).rsplit(":", 1)[1]
            assert container_port in {env.get("AION_GATEWAY_PORT"), env.get("AION_GATEWAY_GRPC_PORT"),
                                      env.get("AION_CONTROL_PORT")}, f"{name}: publishes {p}, aiond listens elsewhere"

    gw, ctl, mh = (service_env(services[n]) for n in ("gateway", "control", "modhost"))
    # gateway -> control -> modhost: each dials the service and port the next one listens on.
    for client, var in ((gw, "AION_CONTROL_GRPC"), (ctl, "AION_MODHOST_GRPC")):
        server, listen_var = LISTEN_PORT[var]
        host, _, port = client[var].rpartition(":")
        assert host == server and port == service_env(services[server])[listen_var], \
            f"{var}={client[var]}, but {server} listens on {listen_var}={service_env(services[server]).get(listen_var)}"
    for env in (gw, ctl):
        assert re.fullmatch(r"redis://redis:6379/\d+", env["AION_CONTROL_REDIS_URL"])
    pg = service_env(services["postgres"])
    assert ctl["AION_CONTROL_POSTGRES_DSN"] == \
        f"postgresql://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/{pg['POSTGRES_DB']}"
    kafka = service_env(services["kafka"])
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"] and "broker" in kafka["KAFKA_PROCESS_ROLES"], "KRaft"
    assert f"PLAINTEXT://{ctl['KAFKA_BROKERS']}" in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert kafka["KAFKA_CONTROLLER_QUORUM_VOTERS"].endswith("@kafka:9093")
    from kafka_broker import KAFKA_VERSION
    assert services["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}", "the broker version the e2e tests run"
    for dep, cond in services["control"]["depends_on"].items():
        assert cond["condition"] == "service_healthy" and (services[dep].get("healthcheck") or dep in aiond), dep
    for name, svc in services.items():
        if name in aiond:
            continue
        image = svc["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image else ""
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: image {image} not pinned"
        assert "ports" not in svc, f"{name}: engines stay inside the compose network"


# ---------------------------------------------------------------------------
# Helm chart

PROFILES = {
    "embedded": ["-f", "values.yaml"],
    "split": ["-f", "values-split.yaml"],
    "engines": ["-f", "values-engines.yaml"],
    # Split without a module host (control runs the modules), with mutual TLS between roles.
    "split-no-modhost": ["-f", "values-split.yaml", "--set", "modhost.enabled=false",
                         "--set", "secrets.internalTls.existingSecret=aionos-internal-tls"],
    # The embedded profile with every optional piece on.
    "embedded-full": ["-f", "values.yaml", "--set", "serviceMonitor.enabled=true",
                      "--set", "secrets.tls.existingSecret=aionos-tls",
                      "--set", "secrets.apiKeys.existingSecret=aionos-api-keys",
                      "--set", "secrets.providers.existingSecret=aionos-providers",
                      "--set", "secrets.internalTls.existingSecret=aionos-internal-tls",
                      "--set", "sandbox.hostUsers=false", "--set", "sandbox.procMount=Unmasked",
                      "--set", "sandbox.seccompProfile.type=Localhost",
                      "--set", "sandbox.seccompProfile.localhostProfile=profiles/aiond-sandbox.json",
                      "--set", "persistence.enabled=false",
                      "--set-json", 'networkPolicy.adminFrom=[{"podSelector":{"matchLabels":{"app":"ops"}}}]',
                      "--set-string", "policies.overrides.extra\\.yml=version: 1",
                      "--set-json", 'extraEnv=[{"name":"OTEL_SERVICE_NAME","value":"aiond"}]'],
}


def helm(*args, check=True):
    r = subprocess.run([str(helm_path()), *args], cwd=CHART, capture_output=True, text=True, timeout=120)
    if check:
        assert r.returncode == 0, f"helm {' '.join(args)}:\n{r.stdout}\n{r.stderr}"
    return r


@functools.lru_cache(maxsize=None)
def _render(profile):
    out = helm("template", "rel", ".", "--namespace", "aion", "--kube-version", KUBE_VERSION,
               *PROFILES[profile]).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def render(profile):
    return json.loads(json.dumps(_render(profile)))  # a copy each test may change


def by_kind(docs, kind):
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_of(dep):
    return dep["spec"]["template"]


def container(dep):
    cs = pod_of(dep)["spec"]["containers"]
    assert len(cs) == 1 and cs[0]["name"] == "aiond"
    return cs[0]


def env_of(c):
    return {e["name"]: e for e in c.get("env", [])}


def role_of(dep):
    return dep["metadata"]["labels"]["app.kubernetes.io/component"]


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("profile", ["embedded", "split", "engines"])
def test_helm_lint(profile):
    r = helm("lint", ".", "--strict", "--kube-version", KUBE_VERSION, *PROFILES[profile])
    assert "0 chart(s) failed" in r.stdout, r.stdout


@pytest.mark.parametrize("profile", list(PROFILES))
def test_helm_manifests_match_the_kubernetes_schema(profile):
    schemas = kubernetes_schemas()
    docs = render(profile)
    problems = []
    for d in docs:
        where = f"{d.get('kind')}/{d.get('metadata', {}).get('name')}"
        if d.get("apiVersion", "").startswith("monitoring.coreos.com/"):
            assert d["apiVersion"] == "monitoring.coreos.com/v1" and d["kind"] == "ServiceMonitor", where
            errs = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                    for e in service_monitor_validator().iter_errors(d)]
        else:
            errs = schemas.errors(d)
        problems += [f"{where}: {e}" for e in errs]
        names = [e["name"] for dep in [d] if d["kind"] == "Deployment" for e in container(dep).get("env", [])]
        assert len(names) == len(set(names)), f"{where}: an environment variable is set twice: {names}"
    assert not problems, "\n".join(problems)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "ConfigMap", "NetworkPolicy", "ServiceAccount"} <= kinds, kinds
    assert "Secret" not in kinds, "secrets are referenced, never rendered"
    if profile in ("engines", "embedded-full"):
        assert "ServiceMonitor" in kinds


@pytest.mark.parametrize("profile", list(PROFILES))
def test_helm_pods_are_locked_down(profile):
    for name, dep in by_kind(render(profile), "Deployment").items():
        spec = pod_of(dep)["spec"]
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] != 0, name
        assert psc["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["enableServiceLinks"] is False, f"{name}: service links can shadow AION_* variables"
        c = container(dep)
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["privileged"] is False, name
        assert sc["readOnlyRootFilesystem"] is True and sc["runAsNonRoot"] is True, name
        assert sc["capabilities"] == {"drop": ["ALL"]}, name
        if profile != "embedded-full":
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", name
        else:
            # The opted-in sandbox profile: a Localhost seccomp profile in a user namespace.
            assert sc["seccompProfile"] == {"type": "Localhost", "localhostProfile": "profiles/aiond-sandbox.json"}
            assert spec["hostUsers"] is False and sc["procMount"] == "Unmasked"
        mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        env = env_of(c)
        assert "emptyDir" in volumes[mounts["/tmp"]["name"]], f"{name}: /tmp is a writable emptyDir"
        data = env["AION_DATA_DIR"]["value"]
        assert data in mounts and not mounts[data].get("readOnly"), f"{name}: AION_DATA_DIR on a volume"
        policy = env["AION_POLICY_DIR"]["value"]
        assert mounts[policy].get("readOnly") and "configMap" in volumes[mounts[policy]["name"]], name
        assert c["args"][0] == "--role"
        assert c["resources"].get("requests", {}).get("cpu") and c["resources"].get("limits", {}).get("memory"), \
            f"{name}: CPU requests (HPA needs them) and a memory limit"


@pytest.mark.parametrize("profile", list(PROFILES))
def test_helm_roles_probes_and_wiring(profile):
    docs = render(profile)
    deps = by_kind(docs, "Deployment")
    services = by_kind(docs, "Service")
    roles = {role_of(d): d for d in deps.values()}
    expected = {"embedded": {"embedded"}, "embedded-full": {"embedded"},
                "split-no-modhost": {"gateway", "control"}}.get(profile, {"gateway", "control", "modhost"})
    assert set(roles) == expected
    cli = {"embedded": "all", "gateway": "gateway", "control": "control", "modhost": "modhost"}
    tls = profile == "embedded-full"
    for role, dep in roles.items():
        c = container(dep)
        assert c["args"] == ["--role", cli[role]]
        env = env_of(c)
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        # Ports the container declares are the ones aiond listens on.
        if "http" in ports:
            assert str(ports["http"]) == env["AION_GATEWAY_PORT"]["value"]
            assert str(ports["grpc"]) == env["AION_GATEWAY_GRPC_PORT"]["value"]
        if "admin" in ports:
            assert str(ports["admin"]) == env["AION_CONTROL_PORT"]["value"]
        # Probes: /healthz (liveness, startup) and /readyz (readiness) on the role's HTTP port.
        http_port = {"embedded": "http", "gateway": "http", "control": "admin"}.get(role)
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
            p = c[probe]
            if http_port:
                assert p["httpGet"]["path"] == path and p["httpGet"]["port"] == http_port, (role, probe, p)
                assert p["httpGet"]["scheme"] == ("HTTPS" if tls else "HTTP")
            else:
                assert p["tcpSocket"]["port"] == "grpc" and "grpc" in ports, (role, probe, p)
        # A Service per role selects exactly its pods and targets declared ports.
        svc = services[dep["metadata"]["name"]]
        pod_labels = pod_of(dep)["metadata"]["labels"]
        assert selects(svc["spec"]["selector"], pod_labels)
        assert [d for d in deps.values() if selects(svc["spec"]["selector"], pod_of(d)["metadata"]["labels"])] == [dep]
        assert selects(dep["spec"]["selector"]["matchLabels"], pod_labels)
        for sp in svc["spec"]["ports"]:
            assert sp["targetPort"] in ports and sp["port"] == ports[sp["targetPort"]], (role, sp)
        if role != "gateway" and role != "embedded":
            assert svc["spec"]["type"] == "ClusterIP", f"{role} is internal"
        # Data on a claim only where SQLite lives: the embedded aiond, or control without PostgreSQL.
        data = next(v for v in pod_of(dep)["spec"]["volumes"] if v["name"] == "data")
        pg = "AION_CONTROL_POSTGRES_DSN" in env
        wants_claim = profile != "embedded-full" and (role == "embedded" or (role == "control" and not pg))
        assert ("persistentVolumeClaim" in data) == wants_claim, (role, data)
        if wants_claim:
            assert dep["spec"]["strategy"]["type"] == "Recreate", f"{role}: one SQLite writer at a time"
            assert data["persistentVolumeClaim"]["claimName"] in by_kind(docs, "PersistentVolumeClaim")

    def env_value(role, var):
        return env_of(container(roles[role]))[var]["value"]

    if "gateway" in roles:
        # gateway -> control (-> modhost) over gRPC: each dials a Service port that
        # reaches the port the next role listens on.
        for client, var in (("gateway", "AION_CONTROL_GRPC"), ("control", "AION_MODHOST_GRPC")):
            server, listen_var = LISTEN_PORT[var]
            if server not in roles:
                assert var not in env_of(container(roles[client])), f"{client} dials a {server} that is not there"
                continue
            host, _, port = env_value(client, var).rpartition(":")
            svc = services[host]
            sp = next(p for p in svc["spec"]["ports"] if p["port"] == int(port))
            server_ports = {p["name"]: p["containerPort"] for p in container(roles[server])["ports"]}
            assert server_ports[sp["targetPort"]] == int(env_value(server, listen_var)), (var, sp)
            assert selects(svc["spec"]["selector"], pod_of(roles[server])["metadata"]["labels"])
        for var in ("AION_CONTROL_POSTGRES_DSN", "KAFKA_BROKERS"):
            assert var not in env_of(container(roles["gateway"])), f"the gateway never touches the store ({var})"
    else:
        env = env_of(container(roles["embedded"]))
        assert not ROLE_VARIABLES & set(env), "the embedded aiond calls its roles in-process"
    # Files named by the environment are mounted.
    for role, dep in roles.items():
        c = container(dep)
        mounts = [m["mountPath"] for m in c["volumeMounts"]]
        for e in c["env"]:
            v = e.get("value", "")
            if v.startswith("/etc/aionos/"):
                assert any(v.startswith(m.rstrip("/") + "/") or v == m for m in mounts), f"{role}: {e['name']}={v}"
    # The pods that run modules carry the sandbox settings: control runs them when there is no module host.
    runs_modules = {"embedded"} if "embedded" in roles else ({"modhost"} if "modhost" in roles else {"control"})
    if profile == "embedded-full":
        for role, dep in roles.items():
            assert (container(dep)["securityContext"]["seccompProfile"]["type"] == "Localhost") == (role in runs_modules)
    for role, dep in roles.items():
        assert ("AION_SANDBOX_ALLOW_WEAK" in env_of(container(dep))) == (role in runs_modules), role


@pytest.mark.parametrize("profile", list(PROFILES))
def test_helm_environment_is_documented_and_secrets_are_references(profile):
    docs = render(profile)
    for name, dep in by_kind(docs, "Deployment").items():
        c = container(dep)
        env = env_of(c)
        unknown = set(env) - aiond_vars()
        assert not unknown, f"{name}: aiond reads no such variable: {unknown}"
        role = role_of(dep)
        for secret_var in ("AION_GATEWAY_API_KEYS", "AION_CONTROL_POSTGRES_DSN"):
            if secret_var in env:
                assert "secretKeyRef" in env[secret_var].get("valueFrom", {}), f"{name}: {secret_var} inline"
        env_from = c.get("envFrom", [])
        if env_from:
            assert role in ("control", "embedded"), f"{name}: provider keys only where providers are called"
            assert all("secretRef" in e for e in env_from)
    if profile == "engines":
        deps = {role_of(d): d for d in by_kind(docs, "Deployment").values()}
        ctl = env_of(container(deps["control"]))
        assert ctl["AION_CONTROL_POSTGRES_DSN"]["valueFrom"]["secretKeyRef"]["name"] == "aionos-postgres"
        assert ctl["KAFKA_BROKERS"]["value"] and ctl["AION_CONTROL_REDIS_URL"]["value"].startswith("redis://")
        assert env_of(container(deps["gateway"]))["AION_CONTROL_REDIS_URL"] == ctl["AION_CONTROL_REDIS_URL"], \
            "gateways share the Redis limits"
        assert "AION_CONTROL_REDIS_URL" not in env_of(container(deps["modhost"]))


@pytest.mark.parametrize("profile", list(PROFILES))
def test_helm_autoscaling_and_disruption_budgets(profile):
    docs = render(profile)
    deps = by_kind(docs, "Deployment")
    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    scaled = {}
    for name, hpa in hpas.items():
        ref = hpa["spec"]["scaleTargetRef"]
        assert ref["kind"] == "Deployment" and ref["name"] in deps, name
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        assert any(m["resource"]["name"] == "cpu" for m in hpa["spec"]["metrics"])
        scaled[role_of(deps[ref["name"]])] = hpa
        assert "replicas" not in deps[ref["name"]]["spec"], f"{name}: the HPA owns the replica count"
    expected = {"embedded": set(), "embedded-full": set(), "split": {"gateway"}, "split-no-modhost": {"gateway"},
                "engines": {"gateway", "control"}}
    assert set(scaled) == expected[profile]
    for dep in deps.values():
        if role_of(dep) == "embedded":
            assert dep["spec"]["replicas"] == 1, "SQLite: one embedded aiond"
    for name, pdb in by_kind(docs, "PodDisruptionBudget").items():
        sel = pdb["spec"]["selector"]["matchLabels"]
        matched = [d for d in deps.values() if selects(sel, pod_of(d)["metadata"]["labels"])]
        assert len(matched) == 1, f"PDB {name} selects {len(matched)} Deployments"
    pdb_roles = {role_of(d) for d in deps.values()
                 for p in by_kind(docs, "PodDisruptionBudget").values()
                 if selects(p["spec"]["selector"]["matchLabels"], pod_of(d)["metadata"]["labels"])}
    if profile in ("split", "engines", "split-no-modhost"):
        assert pdb_roles == {r for r in (role_of(d) for d in deps.values())}


@pytest.mark.parametrize("profile", list(PROFILES))
def test_helm_network_policies(profile):
    docs = render(profile)
    deps = {role_of(d): d for d in by_kind(docs, "Deployment").values()}
    pols = by_kind(docs, "NetworkPolicy")
    labels = {r: pod_of(d)["metadata"]["labels"] for r, d in deps.items()}
    policy = {}
    for name, p in pols.items():
        matched = [r for r in deps if selects(p["spec"]["podSelector"]["matchLabels"], labels[r])]
        assert len(matched) == 1, f"{name} selects {matched}"
        assert p["spec"]["policyTypes"] == ["Ingress"]
        policy[matched[0]] = p["spec"]["ingress"]
    assert set(policy) == set(deps), "every pod is behind a NetworkPolicy"

    def ports_of(r):
        return {p["name"]: p["containerPort"] for p in container(deps[r])["ports"]}

    def rule_ports(rule):
        return {p["port"] for p in rule["ports"]}

    def prometheus_only(rule):
        return (len(rule["from"]) == 1 and "namespaceSelector" in rule["from"][0]
                and rule["from"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"})

    extra_admin = profile == "embedded-full"
    for role, rules in policy.items():
        ports = ports_of(role)
        open_rules = [r for r in rules if "from" not in r]
        if role in ("gateway", "embedded"):
            assert [rule_ports(r) for r in open_rules] == [{ports["http"], ports["grpc"]}], \
                f"{role}: REST and gRPC open to all, nothing else"
        else:
            assert not open_rules, f"{role} is not open to everyone"
        if role == "control":
            gw = [r for r in rules if "from" in r and any("podSelector" in f and "namespaceSelector" not in f
                                                          for f in r["from"])]
            assert len(gw) == 1 and rule_ports(gw[0]) == {ports["grpc"]}
            assert gw[0]["from"] == [{"podSelector": {"matchLabels": {
                k: labels["gateway"][k] for k in gw[0]["from"][0]["podSelector"]["matchLabels"]}}}]
            assert selects(gw[0]["from"][0]["podSelector"]["matchLabels"], labels["gateway"])
            for other in set(labels) - {"gateway"}:
                assert not selects(gw[0]["from"][0]["podSelector"]["matchLabels"], labels[other]), other
        if role == "modhost":
            assert len(rules) == 1 and rule_ports(rules[0]) == {ports["grpc"]}
            sel = rules[0]["from"][0]["podSelector"]["matchLabels"]
            assert len(rules[0]["from"]) == 1 and selects(sel, labels["control"])
            assert not selects(sel, labels["gateway"])
        if "admin" in ports:
            admin = [r for r in rules if rule_ports(r) == {ports["admin"]}]
            assert any(prometheus_only(r) for r in admin), f"{role}: metrics from the monitoring namespace"
            assert len(admin) == (2 if extra_admin else 1), admin
        for r in rules:
            if "from" in r and ports.get("admin") in rule_ports(r):
                assert rule_ports(r) == {ports["admin"]}


def test_helm_service_monitors_scrape_one_port_per_process():
    docs = render("engines")
    deps = {role_of(d): d for d in by_kind(docs, "Deployment").values()}
    services = by_kind(docs, "Service")
    sms = by_kind(docs, "ServiceMonitor")
    scraped = {}
    for name, sm in sms.items():
        assert sm["metadata"]["labels"].get("release") == "prometheus"
        svc = [s for s in services.values() if selects(sm["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])]
        assert len(svc) == 1, name
        (ep,) = sm["spec"]["endpoints"]
        assert ep["path"] == "/metrics" and ep["port"] in {p["name"] for p in svc[0]["spec"]["ports"]}
        scraped[svc[0]["metadata"]["labels"]["app.kubernetes.io/component"]] = ep["port"]
    assert scraped == {"gateway": "http", "control": "admin"}
    (sm,) = by_kind(render("embedded-full"), "ServiceMonitor").values()
    assert sm["spec"]["endpoints"][0]["port"] == "admin", "the embedded aiond: its control port only"
    assert sm["spec"]["endpoints"][0]["scheme"] == "https"


def test_chart_policies_are_the_repository_policies(tmp_path):
    repo = {p.name: p.read_bytes() for p in (REPO / "policies").glob("*.yml")}
    chart = {p.name: p.read_bytes() for p in (CHART / "files" / "policies").glob("*.yml")}
    assert set(chart) == set(repo), "deploy/helm/aionos/files/policies/ lists other files than policies/"
    for name in repo:
        assert chart[name] == repo[name], (f"deploy/helm/aionos/files/policies/{name} differs from policies/{name}: "
                                           f"cp policies/*.yml deploy/helm/aionos/files/policies/")
    (cm,) = by_kind(render("embedded"), "ConfigMap").values()
    assert {k: v.encode() for k, v in cm["data"].items()} == repo
    deps = by_kind(render("embedded"), "Deployment")
    ann = [pod_of(d)["metadata"]["annotations"]["checksum/policies"] for d in deps.values()]
    assert all(re.fullmatch(r"[0-9a-f]{64}", a) for a in ann), "a policy change rolls the pods"
    (cm_full,) = by_kind(render("embedded-full"), "ConfigMap").values()
    assert cm_full["data"]["extra.yml"] == "version: 1" and set(repo) < set(cm_full["data"])
    # What the pods mount is a policy set aiond accepts.
    if not AIOND.exists():
        pytest.skip(f"{AIOND} not built: the ConfigMap's policies are not run through aiond check-policies")
    for name, content in cm["data"].items():
        (tmp_path / name).write_text(content)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AION_")}
    env.update({"AION_POLICY_DIR": str(tmp_path), "AION_MODULE_DIR": str(MODULES),
                "AION_DATA_DIR": str(tmp_path / "data")})
    r = subprocess.run([str(AIOND), "check-policies"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("args, message", [
    (["-f", "values-split.yaml", "--set", "control.replicas=2"], "needs engines.postgres"),
    (["-f", "values-split.yaml", "--set", "control.autoscaling.enabled=true"], "needs engines.postgres"),
    (["--set", "gateway.replicsa=3"], "replicsa"),
    (["--set", "mode=cluster"], "mode"),
    (["--set", "config.AION_DATA_DIR=/elsewhere"], "AION_DATA_DIR"),
    (["--set", "config.NOT_AIOND=1"], "NOT_AIOND"),
    (["--set", "sandbox.procMount=Unmasked"], "hostUsers"),
    (["--set", "engines.kafka.brokers=kafka"], "brokers"),
    (["--set", "engines.postgres.dsn=postgresql://x", "--set", "engines.postgres.existingSecret=pg"], "not both"),
])
def test_helm_refuses_values_that_cannot_work(args, message):
    r = helm("template", "rel", ".", "--kube-version", KUBE_VERSION, *args, check=False)
    assert r.returncode != 0 and message in r.stderr, r.stderr or r.stdout[:300]
