"""Deployability (issue 16): the aiond image, docker-compose.yml and the Helm
chart, checked without a Docker engine or a cluster (none exists here):

- Dockerfile: hadolint, plus focused checks (pinned bases, multi-stage, non-root,
  healthcheck, COPY sources, build packages in step with install-deps.sh,
  runtime packages covering every library the built aiond links);
- the image's healthcheck script against a real aiond, and aiond writing
  nothing outside AION_DATA_DIR (what a read-only root needs);
- docker-compose.yml against the Compose specification's schema, its paths,
  variables and the wiring between services;
- no file under deploy/, nor docker-compose.yml, names an AION_* variable that
  docs/configuration.md's table does not list (what aiond reads);
- the gateway, control and module-host roles started with the very
  environment, arguments and files Compose and the chart give them (paths
  mapped to temp folders, service names to 127.0.0.1): they start, become
  ready and run a task whose modules run on the module host;
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

# The roles apart (docs/roles.md): a gateway dials the control role at
# AION_CONTROL_GRPC (host:port); control listens on AION_CONTROL_GRPC_PORT.
# Control dials the module host at AION_MODHOST_GRPC, which listens on
# AION_MODHOST_GRPC_PORT (and serves /healthz, /readyz, /metrics on
# AION_MODHOST_PORT); without AION_MODHOST_GRPC control runs the modules itself.
ROLE_VARIABLES = {"AION_CONTROL_GRPC", "AION_CONTROL_GRPC_PORT", "AION_MODHOST_GRPC", "AION_MODHOST_GRPC_PORT",
                  "AION_MODHOST_PORT", "AION_INTERNAL_TLS_CERT", "AION_INTERNAL_TLS_KEY", "AION_INTERNAL_TLS_CA"}
# What the pod or container that runs the modules gets, and no other.
SANDBOX_VARIABLES = ("AION_SANDBOX_ALLOW_WEAK", "AION_MODULE_HOST_GPUS")
INTERNAL_TLS = ("AION_INTERNAL_TLS_CERT", "AION_INTERNAL_TLS_KEY", "AION_INTERNAL_TLS_CA")

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


def _configuration_table():
    """The rows of docs/configuration.md's variable table (| variable | default | meaning |)."""
    lines = (REPO / "docs" / "configuration.md").read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"\|\s*variable\s*\|\s*default\s*\|", line)), None)
    assert start is not None, "docs/configuration.md has no | variable | default | meaning | table"
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


@functools.lru_cache(maxsize=None)
def configuration_table_vars():
    """What aiond reads: every variable docs/configuration.md's table names (its
    first column, and variables its other cells add, e.g. OTEL_SERVICE_NAME).
    Variables the text mentions but the table does not (engines aiond refuses)
    are not among them."""
    found = set()
    for row in _configuration_table():
        for cell in row:
            found |= set(re.findall(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`", cell))
    assert {"AION_GATEWAY_PORT", "AION_CONTROL_GRPC", "AION_CONTROL_GRPC_PORT"} <= found, found
    return frozenset(found)


@functools.lru_cache(maxsize=None)
def configuration_default(var):
    """The default column of `var`'s row in docs/configuration.md's table."""
    for row in _configuration_table():
        if re.fullmatch(rf"`{var}`", row[0]):
            return row[1]
    raise AssertionError(f"docs/configuration.md's table has no row for {var}")


@functools.lru_cache(maxsize=None)
def configuration_vars():
    """Names a deploy file may leave to the user (`${VAR}`): .env.example and the table."""
    return env_example_vars() | configuration_table_vars()


@functools.lru_cache(maxsize=None)
def aiond_vars():
    """Every variable aiond reads, as documented: docs/configuration.md's table,
    and the provider variables of docs/policies.md."""
    return configuration_table_vars() | _doc_vars("policies.md")


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
    # EXPOSE: the default ports of docs/configuration.md, the internal gRPC ports of control and
    # the module host and the module host's health port included; nothing else.
    exposed = {p for kw, arg in rt if kw == "EXPOSE" for p in arg.split()}
    defaults = {configuration_default(v) for v in ("AION_GATEWAY_PORT", "AION_GATEWAY_GRPC_PORT",
                                                   "AION_CONTROL_PORT", "AION_CONTROL_GRPC_PORT",
                                                   "AION_MODHOST_GRPC_PORT", "AION_MODHOST_PORT")}
    assert exposed == defaults, f"EXPOSE {sorted(exposed)}; aiond's default ports are {sorted(defaults)}"
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
    if re.search(r"lib[at]san\.so", ldd):
        pytest.skip(f"{AIOND} is a sanitizer build (scripts/sanitize.sh): the image ships the release "
                    "build, whose libraries differ (the sanitizer runtimes, what -O1 leaves unlinked)")
    libs = sorted({m.group(1) for m in re.finditer(r"=>\s+(/\S+)", ldd)} |
                  {m.group(1) for m in re.finditer(r"^\s+(/\S+)\s+\(", ldd, re.M)})
    assert libs, ldd
    # One dpkg -S for all (Debian 12 merged /lib into /usr/lib: try the real path, then the linked one).
    owners = {}
    for paths in ({lib: os.path.realpath(lib) for lib in libs}, {lib: lib for lib in libs}):
        unowned = {lib: p for lib, p in paths.items() if lib not in owners}
        if not unowned:
            break
        out = subprocess.run(["dpkg", "-S", *sorted(set(unowned.values()))], capture_output=True, text=True).stdout
        found = {}
        for line in out.splitlines():
            pkgs_part, _, path = line.rpartition(": ")
            found[path.strip()] = pkgs_part.split(",")[0].split(":")[0].strip()
        for lib, p in unowned.items():
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


def _start_modhost(tmp):
    """aiond --role modhost on free ports; returns the process and its ports."""
    ports = {"AION_MODHOST_GRPC_PORT": free_port(), "AION_MODHOST_PORT": free_port()}
    full = {k: v for k, v in os.environ.items() if not k.startswith(("AION_", "OPENAI_", "KAFKA_", "OTEL_"))}
    full.update({k: str(v) for k, v in ports.items()})
    full.update({"AION_BIND_ADDRESS": "127.0.0.1", "AION_DATA_DIR": str(tmp / "modhost-data")})
    proc = subprocess.Popen([str(AIOND), "--role", "modhost"], env=full, cwd=tmp, stdout=subprocess.PIPE,
                            stderr=open(tmp / "modhost.log", "ab"))
    deadline = time.time() + 20
    while time.time() < deadline:
        line = proc.stdout.readline().decode()
        if not line:
            break
        if line.strip().startswith("health"):
            return proc, ports
    proc.kill()
    raise AssertionError(f"aiond --role modhost did not start: {(tmp / 'modhost.log').read_text()}")


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
    modhost = None
    try:
        modhost, mh_ports = _start_modhost(tmp_path)
        gw, ctl, grpc = ports["AION_GATEWAY_PORT"], ports["AION_CONTROL_PORT"], ports["AION_GATEWAY_GRPC_PORT"]
        mh, mh_grpc = mh_ports["AION_MODHOST_PORT"], mh_ports["AION_MODHOST_GRPC_PORT"]
        for role, env in (("all", {"AION_GATEWAY_PORT": gw}), ("gateway", {"AION_GATEWAY_PORT": gw}),
                          ("control", {"AION_CONTROL_PORT": ctl}), ("modhost", {"AION_MODHOST_PORT": mh})):
            r = _healthcheck(role, **env)
            assert r.returncode == 0, f"{role}: {r.stderr}"
        # Each role is checked on its own port: the module host's is AION_MODHOST_PORT, not the others'.
        r = _healthcheck("modhost", AION_MODHOST_PORT=free_port(), AION_GATEWAY_PORT=gw, AION_CONTROL_PORT=ctl)
        assert r.returncode == 1 and "nothing listens" in r.stderr, r.stderr
        default = configuration_default("AION_MODHOST_PORT")
        r = _healthcheck("modhost")
        assert r.returncode == 0 or f"127.0.0.1:{default}" in r.stderr, f"default port {default}: {r.stderr}"
        # A listener that does not answer /healthz with 200 (gRPC), and a closed port.
        r = _healthcheck("gateway", AION_GATEWAY_PORT=grpc)
        assert r.returncode == 1 and "/healthz answered" in r.stderr, r.stderr
        r = _healthcheck("modhost", AION_MODHOST_PORT=mh_grpc)
        assert r.returncode == 1 and "/healthz answered" in r.stderr, r.stderr
        closed = free_port()
        r = _healthcheck("control", AION_CONTROL_PORT=closed)
        assert r.returncode == 1 and "nothing listens" in r.stderr, r.stderr
        # TLS listeners: a connect is the check (bash speaks no TLS). Not the module host's port,
        # which is plain HTTP whatever AION_TLS_CERT says: it still gets the GET.
        assert _healthcheck("gateway", AION_GATEWAY_PORT=grpc, AION_TLS_CERT="/x.pem").returncode == 0
        r = _healthcheck("modhost", AION_MODHOST_PORT=mh_grpc, AION_TLS_CERT="/x.pem")
        assert r.returncode == 1 and "/healthz answered" in r.stderr, r.stderr
        assert _healthcheck("modhost", AION_MODHOST_PORT=mh, AION_TLS_CERT="/x.pem").returncode == 0
        r = _healthcheck("sidecar")
        assert r.returncode == 1 and "unknown role" in r.stderr, r.stderr
    finally:
        _stop(proc)
        if modhost:
            _stop(modhost)
    r = _healthcheck("all", AION_GATEWAY_PORT=gw)
    assert r.returncode == 1, "a stopped aiond is unhealthy"
    r = _healthcheck("modhost", AION_MODHOST_PORT=mh)
    assert r.returncode == 1, "a stopped module host is unhealthy"


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
# The path variables of .env.example a role reads: the module host reads no policy files.
READS_PATHS = {"modhost": {"AION_DATA_DIR"}}
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
        # .env.example's host paths (./policies, ./data) must not reach a container that reads them.
        for var, value in re.findall(r"^([A-Z][A-Z0-9_]*)=(\./.*)$", (REPO / ".env.example").read_text(), re.M):
            if name in READS_PATHS and var not in READS_PATHS[name]:
                continue
            assert var in env and env[var].startswith("/"), f"{name}: {var} from .env ({value}) is not overridden"


def test_compose_services_are_wired_together():
    services = compose()["services"]
    assert {"gateway", "control", "modhost", "postgres", "redis", "kafka", "embedded"} <= set(services)
    aiond = {n: s for n, s in services.items() if s.get("image", "").startswith("aionos/aiond:")}
    assert set(aiond) == set(AIOND_SERVICES), f"aiond services {set(aiond)}: the tests know {AIOND_SERVICES}"
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
        # The image's HEALTHCHECK (the role's own port) is what depends_on waits for: not switched off.
        assert not s.get("healthcheck", {}).get("disable") and "test" not in s.get("healthcheck", {}), name
        env = service_env(s)
        data_dir = env.get("AION_DATA_DIR")
        assert any(str(v).endswith(":" + data_dir) for v in s.get("volumes", [])) or \
            any(str(t).split(":")[0] == data_dir for t in s.get("tmpfs", [])), f"{name}: {data_dir} is not writable"
        for p in s.get("ports", []):
            container_port = str(p).rsplit(":", 1)[1]
            assert container_port in {env.get("AION_GATEWAY_PORT"), env.get("AION_GATEWAY_GRPC_PORT"),
                                      env.get("AION_CONTROL_PORT")}, f"{name}: publishes {p}, aiond listens elsewhere"

    gw, ctl, mh = (service_env(services[n]) for n in ("gateway", "control", "modhost"))
    # gateway -> control: the gateway dials the control service on the port control serves
    # aion.internal.v1.Control on; that port stays inside the compose network.
    host, _, port = gw["AION_CONTROL_GRPC"].rpartition(":")
    assert host == "control" and port == ctl["AION_CONTROL_GRPC_PORT"], \
        f"AION_CONTROL_GRPC={gw['AION_CONTROL_GRPC']}, but control listens on {ctl.get('AION_CONTROL_GRPC_PORT')}"
    assert not any(str(p).rsplit(":", 1)[1] == port for p in services["control"].get("ports", [])), \
        "control's internal gRPC port is not published"
    assert services["gateway"]["depends_on"]["control"]["condition"] == "service_healthy"
    # control -> modhost: control dials the modhost service on the port it serves
    # aion.internal.v1.ModuleHost on, waits for it to be healthy, and runs no module itself.
    host, _, port = ctl["AION_MODHOST_GRPC"].rpartition(":")
    assert host == "modhost" and port == mh["AION_MODHOST_GRPC_PORT"], \
        f"AION_MODHOST_GRPC={ctl['AION_MODHOST_GRPC']}, but modhost listens on {mh.get('AION_MODHOST_GRPC_PORT')}"
    assert services["control"]["depends_on"]["modhost"]["condition"] == "service_healthy"
    assert "ports" not in services["modhost"], "the module host publishes nothing: control reaches it inside"
    assert mh["AION_MODHOST_PORT"] != mh["AION_MODHOST_GRPC_PORT"]
    assert "AION_CONTROL_GRPC" not in ctl and "AION_MODHOST_GRPC" not in gw and "AION_MODHOST_GRPC" not in mh, \
        "the gateway dials control, control dials modhost; nobody else dials anything"
    assert "AION_CONTROL_GRPC_PORT" not in gw and "AION_CONTROL_GRPC_PORT" not in mh, "only control serves Control"
    assert "AION_MODHOST_GRPC_PORT" not in gw and "AION_MODHOST_GRPC_PORT" not in ctl, "only modhost serves ModuleHost"
    # The module host holds nothing of the control plane's: no keys, no store, no engines, no policies.
    for var in ("AION_GATEWAY_API_KEYS", "AION_CONTROL_POSTGRES_DSN", "KAFKA_BROKERS", "AION_CONTROL_REDIS_URL",
                "AION_POLICY_DIR", "AION_CONTROL_PORT", "AION_GATEWAY_PORT"):
        assert var not in mh, f"modhost: {var}"
    assert not any(v.endswith(":/etc/aionos/policies:ro") for v in services["modhost"].get("volumes", []))
    roles = {"gateway": gw, "control": ctl, "modhost": mh}
    tls = {name: {v for v in INTERNAL_TLS if v in env} for name, env in roles.items()}
    assert len({frozenset(t) for t in tls.values()}) == 1, f"internal TLS on every role or none: {tls}"
    # The modules run in modhost (and the embedded aiond): they get the sandbox settings;
    # control, which runs none, and the gateway do not.
    for name in ("modhost", "embedded"):
        env = service_env(services[name])
        assert set(SANDBOX_VARIABLES) <= set(env), name
        assert env["AION_SANDBOX_ALLOW_WEAK"] == "${AION_SANDBOX_ALLOW_WEAK:-false}", "false unless .env says"
    for name, env in (("control", ctl), ("gateway", gw)):
        assert not set(SANDBOX_VARIABLES) & set(env), f"{name} runs no module"
    assert not ROLE_VARIABLES & set(service_env(services["embedded"])), "the embedded aiond calls its roles in-process"
    # Named volumes: control's (the registered modules) and modhost's (the artifacts it is sent) apart.
    vols = {n: {str(v).split(":")[0] for v in services[n].get("volumes", []) if not str(v).startswith(".")}
            for n in ("control", "modhost", "embedded")}
    assert not (vols["control"] & vols["modhost"]) and vols["modhost"], vols
    # Redis is the gateways' (rate limits, idempotency); Kafka the control plane's (event stream).
    assert re.fullmatch(r"redis://redis:6379/\d+", gw["AION_CONTROL_REDIS_URL"])
    assert "AION_CONTROL_REDIS_URL" not in ctl, "the control role does not use Redis"
    for var in ("AION_CONTROL_POSTGRES_DSN", "KAFKA_BROKERS"):
        assert var not in gw, f"the gateway keeps no store and sends no events ({var})"
    pg = service_env(services["postgres"])
    assert ctl["AION_CONTROL_POSTGRES_DSN"] == \
        f"postgresql://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/{pg['POSTGRES_DB']}"
    assert services["control"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    kafka = service_env(services["kafka"])
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"] and "broker" in kafka["KAFKA_PROCESS_ROLES"], "KRaft"
    assert f"PLAINTEXT://{ctl['KAFKA_BROKERS']}" in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert kafka["KAFKA_CONTROLLER_QUORUM_VOTERS"].endswith("@kafka:9093")
    from kafka_broker import KAFKA_VERSION
    assert services["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}", "the broker version the e2e tests run"
    for name in ("gateway", "control", "modhost"):
        for dep, cond in services[name].get("depends_on", {}).items():
            assert cond["condition"] == "service_healthy" and (services[dep].get("healthcheck") or dep in aiond), dep
    assert not services["modhost"].get("depends_on"), "the module host waits for nothing"
    for name, svc in services.items():
        if name in aiond or name == "console":  # the console: test_compose_console_service
            continue
        image = svc["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image else ""
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: image {image} not pinned"
        assert "ports" not in svc, f"{name}: engines stay inside the compose network"


# ---------------------------------------------------------------------------
# Variables: what the deploy files name is what aiond reads

AION_NAME_RE = re.compile(r"(?<![A-Za-z0-9_])(AION_[A-Z0-9_]*[A-Z0-9])(_\*)?(?![a-z0-9])")


def deploy_files():
    """docker-compose.yml and every text file under deploy/."""
    files = [COMPOSE]
    for path in sorted((REPO / "deploy").rglob("*")):
        if path.is_file():
            try:
                path.read_text()
            except UnicodeDecodeError:
                continue
            files.append(path)
    return files


def unknown_aion_names(text, known):
    """AION_* names in `text` that are not in `known`; NAME_* stands for every variable it prefixes."""
    bad = set()
    for m in AION_NAME_RE.finditer(text):
        name, star = m.group(1), m.group(2)
        if star:
            if not any(k.startswith(name + "_") for k in known):
                bad.add(name + "_*")
        elif name not in known:
            bad.add(name)
    return bad


@functools.lru_cache(maxsize=None)
def build_script_vars():
    """AION_* variables of the build (scripts/build.sh, scripts/lib.sh), which the
    image's build stage runs: AION_BUILD_DIR and the like, not aiond's."""
    return frozenset(m for f in ("build.sh", "lib.sh")
                     for m in re.findall(r"\$\{?(AION_[A-Z0-9_]+)", (REPO / "scripts" / f).read_text()))


def test_deploy_files_name_only_variables_aiond_reads():
    """Every AION_* name in docker-compose.yml and under deploy/ (settings,
    templates, comments, scripts) is a row of docs/configuration.md's table:
    no guessed variables (say, a module host's address under another name), no
    engine aiond refuses at start-up. The build stage may also name the build scripts' own
    variables. docs/deploy.md may discuss only variables docs/configuration.md
    mentions (and the build's)."""
    known = configuration_table_vars()
    assert "AION_BUILD_DIR" in build_script_vars() and not build_script_vars() & known
    problems = {}
    for path in deploy_files():
        allowed = known | (build_script_vars() if path.parent == REPO / "deploy" / "docker" else set())
        bad = unknown_aion_names(path.read_text(), allowed)
        if bad:
            problems[str(path.relative_to(REPO))] = sorted(bad)
    assert not problems, f"names aiond does not read (docs/configuration.md's table): {problems}"
    mentioned = configuration_vars() | _doc_vars("configuration.md") | build_script_vars()
    bad = unknown_aion_names((REPO / "docs" / "deploy.md").read_text(), mentioned)
    assert not bad, f"docs/deploy.md names variables docs/configuration.md does not: {sorted(bad)}"
    # The scan finds what it should: a made-up name, a wildcard over nothing, a real one.
    assert unknown_aion_names("AION_GUESSED_GRPC_PORT=1 `AION_GUESSED_*` AION_GATEWAY_PORT AION_TLS_*", known) \
        == {"AION_GUESSED_GRPC_PORT", "AION_GUESSED_*"}


# ---------------------------------------------------------------------------
# The roles, run with what the deploy files give them

# Redis and Kafka are not started here: their addresses are dropped (aiond
# without them keeps limits in-process and sends no events). PostgreSQL is, when
# its binaries are installed (tests/e2e/postgres_server.py); everything else is
# used as written.
ENGINE_VARS = {"AION_CONTROL_REDIS_URL", "KAFKA_BROKERS"}
PORT_VARS = ("AION_GATEWAY_PORT", "AION_GATEWAY_GRPC_PORT", "AION_CONTROL_PORT", "AION_CONTROL_GRPC_PORT",
             "AION_MODHOST_GRPC_PORT", "AION_MODHOST_PORT")
# The banner line each role prints last (src/app/main.cpp).
BANNER_LAST = {"gateway": "control", "control": "internal", "modhost": "health"}


def image_env():
    """The runtime stage's ENV: what every container starts with."""
    env = {}
    for kw, arg in dockerfile_stages()[-1]["instructions"]:
        if kw == "ENV":
            env.update(dict(re.findall(r"(\w+)=(\S+)", arg)))
    return env


def _run_role(tmp, name, args, env, mounts):
    """aiond with `args` and the container environment `env` (image ENV under it);
    container paths are mapped through `mounts` (container dir -> local dir)."""
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("AION_", "OPENAI_", "AZURE_OPENAI_", "HF_", "VLLM_", "OLLAMA_", "KAFKA_", "OTEL_"))}
    mounts = {"/opt/aionos/modules": str(MODULES), "/opt/aionos/policies": str(REPO / "policies"), **mounts}
    for k, v in {**image_env(), **env}.items():
        if k in ENGINE_VARS:
            continue
        for cpath, local in sorted(mounts.items(), key=lambda kv: -len(kv[0])):
            if v == cpath or v.startswith(cpath + "/"):
                v = local + v[len(cpath):]
                break
        else:
            assert not v.startswith(("/etc/aionos", "/var/lib/aionos", "/opt/aionos")), \
                f"{name}: {k}={v}, a path nothing mounts"
        full[k] = v
    full["AION_BIND_ADDRESS"] = "127.0.0.1"
    log = tmp / f"{name}.log"
    proc = subprocess.Popen([str(AIOND), *args], env=full, cwd=tmp, stdout=subprocess.PIPE, stderr=open(log, "ab"))
    out = []
    last = BANNER_LAST[args[-1]]
    deadline = time.time() + 40  # control waits up to 30 s for the module host
    while time.time() < deadline:
        line = proc.stdout.readline().decode()
        if not line:
            break
        out.append(line)
        if line.strip().startswith(last):
            return proc, full, "".join(out)
    proc.kill()
    proc.wait()
    raise AssertionError(f"{name} ({' '.join(args)}) did not start:\n{''.join(out)}{log.read_text()}")


def _http(port, method, path, body=None):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"X-API-Key": "demo-key"}
    if body is not None:
        body = json.dumps(body)
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body, headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, json.loads(data) if data else None


def _dials(client, var, server, port_var):
    """The host `client` dials with `var` (host:port), checking the port is the one
    `server` listens on (its `port_var`, else aiond's default)."""
    host, _, port = client[var].rpartition(":")
    listens = server.get(port_var, configuration_default(port_var))
    assert port == listens, f"{var}={client[var]}, but the server's {port_var} is {listens}"
    return host


def _wait_task(port, task_id, timeout=15):
    deadline = time.time() + timeout
    while True:
        status, got = _http(port, "GET", f"/v1/tasks/{task_id}")
        if got["status"] in ("succeeded", "failed", "canceled", "expired") or time.time() > deadline:
            return got
        time.sleep(0.05)


def run_roles(tmp, roles, after=None):
    """Starts the module host (when `roles` has one), control, then the gateway,
    each as roles[name] = (args, env, mounts) describes it; local free ports
    replace the ports the files chose, and 127.0.0.1 the service names. Checks
    what a deployment needs of them: the image's healthcheck passes for each,
    mutual TLS is on exactly where the files set it, the gateway becomes ready
    through the control plane, and a summarize task submitted to the gateway
    succeeds; with a module host, its modules ran there: control loaded the
    module host (its artifacts are in the module host's data directory, none in
    control's). `after(started)`, if given, runs then, with every role still up
    (it may stop some).
    Returns the task's id."""
    if not AIOND.exists():
        pytest.skip(f"{AIOND} not built (./scripts/build.sh)")
    assert set(roles) in ({"gateway", "control"}, {"gateway", "control", "modhost"}), set(roles)
    for name, (args, _, _) in roles.items():
        assert args == ["--role", name], (name, args)
    modhost = "modhost" in roles
    envs = {name: env for name, (_, env, _) in roles.items()}
    _dials(envs["gateway"], "AION_CONTROL_GRPC", envs["control"], "AION_CONTROL_GRPC_PORT")
    # control runs the modules on a module host exactly when there is one to run them
    assert ("AION_MODHOST_GRPC" in envs["control"]) == modhost, envs["control"]
    if modhost:
        _dials(envs["control"], "AION_MODHOST_GRPC", envs["modhost"], "AION_MODHOST_GRPC_PORT")
    ports = {var: str(free_port()) for var in PORT_VARS}
    local = {"AION_CONTROL_GRPC": f"127.0.0.1:{ports['AION_CONTROL_GRPC_PORT']}",
             "AION_MODHOST_GRPC": f"127.0.0.1:{ports['AION_MODHOST_GRPC_PORT']}"}
    started = {}
    try:
        for name in ("modhost", "control", "gateway"):
            if name not in roles:
                continue
            args, env, mounts = roles[name]
            env = {**env, **{v: ports[v] for v in PORT_VARS}, **{k: v for k, v in local.items() if k in env}}
            (tmp / name).mkdir(exist_ok=True)
            proc, full, banner = _run_role(tmp / name, name, args, env, mounts)
            started[name] = (proc, full)
            # The internal API is mutual TLS exactly when the files set AION_INTERNAL_TLS_*.
            assert ("mutual TLS" in banner) == bool(set(INTERNAL_TLS) & set(env)), f"{name}: {banner}"
            r = _healthcheck(name, **{k: v for k, v in full.items() if k.startswith("AION_")})
            assert r.returncode == 0, f"{name}: the image's healthcheck: {r.stderr}"
        gw, ctl = int(ports["AION_GATEWAY_PORT"]), int(ports["AION_CONTROL_PORT"])
        deadline = time.time() + 10
        while True:
            status, ready = _http(gw, "GET", "/readyz")
            if status == 200 or time.time() > deadline:
                break
            time.sleep(0.1)
        assert status == 200, f"the gateway does not become ready through control: {ready}"
        assert _http(ctl, "GET", "/readyz")[0] == 200
        if modhost:
            status, ready = _http(int(ports["AION_MODHOST_PORT"]), "GET", "/readyz")
            assert status == 200 and ready["checks"]["loaded"] is True, f"control did not load the module host: {ready}"
        status, task = _http(gw, "POST", "/v1/tasks", {"schemaVersion": "1.0", "intent": "summarize",
                                                        "params": {"text": "One. Two. Three."}})
        assert status == 202, task
        got = _wait_task(gw, task["taskId"])
        assert got["status"] == "succeeded", got
        # the control plane billed it (its own admin API, on its own port)
        status, usage = _http(ctl, "GET", "/v1/usage")
        assert status == 200, usage
        control_log = (tmp / "control" / "control.log").read_text()
        control_data = Path(started["control"][1]["AION_DATA_DIR"])
        if modhost:
            tls = " (mutual TLS)" if set(INTERNAL_TLS) & set(envs["control"]) else " (without TLS"
            assert f"modules run on the module host at {local['AION_MODHOST_GRPC']}{tls}" in control_log, control_log
            assert "module host: serving" in (tmp / "modhost" / "modhost.log").read_text()
            artifacts = Path(started["modhost"][1]["AION_DATA_DIR"]) / "modhost" / "artifacts"
            assert artifacts.is_dir() and any(artifacts.iterdir()), f"no artifacts in the module host's {artifacts}"
        else:
            assert "modules run on the module host" not in control_log
        assert not (control_data / "modhost").exists(), "control stored module-host artifacts: it ran modules"
        if after:
            after(started)
        return task["taskId"]
    finally:
        for proc, _ in reversed(list(started.values())):
            _stop(proc)


def test_compose_roles_run_as_written(tmp_path):
    """gateway, control and modhost as docker-compose.yml runs them, control on a
    real PostgreSQL with the compose file's DSN (the postgres service's user,
    password and database) when PostgreSQL is installed, else without it. The
    modules run on the module host: stopped, a module task fails naming it (the
    control plane does not run the module itself)."""
    services = interpolate(compose(), {})["services"]  # .env absent: the file's own defaults
    from postgres_server import PostgresServer, pg_bin_dir
    server = None
    ctl_env = service_env(services["control"])
    if pg_bin_dir() and "AION_CONTROL_POSTGRES_DSN" in ctl_env:
        server = PostgresServer(tmp_path / "pg").start()
        pg = service_env(services["postgres"])
        user, password, db = pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], pg["POSTGRES_DB"]
        for q in (f"CREATE ROLE {user} LOGIN PASSWORD '{password}'", f"CREATE DATABASE {db} OWNER {user}"):
            r = subprocess.run([str(server.bin / "psql"), "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres",
                                "-d", "postgres", "-c", q], capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
        dsn = ctl_env["AION_CONTROL_POSTGRES_DSN"]
        assert "@postgres:5432/" in dsn, dsn
        services["control"]["environment"]["AION_CONTROL_POSTGRES_DSN"] = \
            dsn.replace("@postgres:5432/", f"@127.0.0.1:{server.port}/")
    else:
        services["control"]["environment"].pop("AION_CONTROL_POSTGRES_DSN", None)
    roles = {}
    for name in ("gateway", "control", "modhost"):
        svc = services[name]
        mounts = {}
        for v in svc.get("volumes", []):
            src, dst = v.split(":")[:2]
            mounts[dst] = str(REPO / src) if src.startswith(".") else str(tmp_path / name / "volumes" / src)
        for t in svc.get("tmpfs", []):
            dst = t.split(":")[0]
            mounts.setdefault(dst, str(tmp_path / name / "tmpfs" / dst.strip("/").replace("/", "_")))
        for d in mounts.values():
            Path(d).mkdir(parents=True, exist_ok=True)
        roles[name] = (svc["command"], {k: str(v) for k, v in service_env(svc).items()}, mounts)
    def without_the_module_host(started):
        _stop(started["modhost"][0])
        gw = int(started["gateway"][1]["AION_GATEWAY_PORT"])
        status, task = _http(gw, "POST", "/v1/tasks", {"schemaVersion": "1.0", "intent": "summarize",
                                                        "params": {"text": "One. Two. Three."}, "timeoutMs": 1000})
        assert status == 202, task
        got = _wait_task(gw, task["taskId"])
        assert got["status"] == "failed" and "module host" in json.dumps(got["error"]), got

    try:
        task_id = run_roles(tmp_path, roles, after=without_the_module_host)
        if server:
            r = subprocess.run([str(server.bin / "psql"), "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres",
                                "-d", db, "-Atc", f"SELECT count(*) FROM tasks WHERE id = '{task_id}'"],
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0 and r.stdout.strip() == "1", f"the task is not in PostgreSQL: {r}"
            data = Path(roles["control"][2]["/var/lib/aionos"])
            assert not (data / "aion.db").exists(), "control kept its tasks in SQLite, not PostgreSQL"
    finally:
        if server:
            server.stop()


# ---------------------------------------------------------------------------
# Helm chart

PROFILES = {
    "embedded": ["-f", "values.yaml"],
    # gateway + control + modhost with one internal TLS Secret for all three
    "split": ["-f", "values-split.yaml"],
    "engines": ["-f", "values-engines.yaml"],
    # the same with a TLS Secret per role, and without internal TLS
    "split-tls-per-role": ["-f", "values-split.yaml", "--set", "secrets.internalTls.existingSecret=",
                           "--set", "secrets.internalTls.gatewaySecret=aionos-gateway-tls",
                           "--set", "secrets.internalTls.controlSecret=aionos-control-tls",
                           "--set", "secrets.internalTls.modhostSecret=aionos-modhost-tls"],
    "split-plaintext": ["-f", "values-split.yaml", "--set", "secrets.internalTls.existingSecret="],
    # gateway + control without a module host: control runs the modules and takes the sandbox settings
    "split-no-modhost": ["-f", "values-split.yaml", "--set", "modhost.enabled=false",
                         "--set", "sandbox.seccompProfile.type=Localhost",
                         "--set", "sandbox.seccompProfile.localhostProfile=profiles/aiond-sandbox.json",
                         "--set", "sandbox.gpus=none"],
    # The embedded and split profiles with every optional piece on.
    "embedded-full": ["-f", "values.yaml", "--set", "serviceMonitor.enabled=true",
                      "--set", "secrets.tls.existingSecret=aionos-tls",
                      "--set", "secrets.apiKeys.existingSecret=aionos-api-keys",
                      "--set", "secrets.providers.existingSecret=aionos-providers",
                      "--set", "secrets.internalTls.existingSecret=aionos-internal-tls",
                      "--set", "sandbox.allowWeak=true", "--set", "sandbox.gpus=a100:40960",
                      "--set", "sandbox.hostUsers=false", "--set", "sandbox.procMount=Unmasked",
                      "--set", "sandbox.seccompProfile.type=Localhost",
                      "--set", "sandbox.seccompProfile.localhostProfile=profiles/aiond-sandbox.json",
                      "--set", "persistence.enabled=false",
                      "--set-json", 'networkPolicy.adminFrom=[{"podSelector":{"matchLabels":{"app":"ops"}}}]',
                      "--set-string", "policies.overrides.extra\\.yml=version: 1",
                      "--set-json", 'extraEnv=[{"name":"OTEL_SERVICE_NAME","value":"aiond"}]'],
    "split-full": ["-f", "values-split.yaml", "--set", "serviceMonitor.enabled=true",
                   "--set", "secrets.tls.existingSecret=aionos-tls",
                   "--set", "sandbox.allowWeak=true", "--set", "sandbox.gpus=a100:40960",
                   "--set", "sandbox.hostUsers=false", "--set", "sandbox.procMount=Unmasked",
                   "--set", "sandbox.seccompProfile.type=Localhost",
                   "--set", "sandbox.seccompProfile.localhostProfile=profiles/aiond-sandbox.json",
                   "--set", "persistence.enabled=false",
                   "--set-json", 'networkPolicy.adminFrom=[{"podSelector":{"matchLabels":{"app":"ops"}}}]',
                   "--set-string", "policies.overrides.extra\\.yml=version: 1",
                   "--set-json", 'extraEnv=[{"name":"OTEL_SERVICE_NAME","value":"aiond"}]'],
}
FULL = {"embedded-full", "split-full"}
CLI_ROLE = {"embedded": "all", "gateway": "gateway", "control": "control", "modhost": "modhost"}


def profile_roles(profile):
    """The Deployments a profile renders, by role."""
    if profile.startswith("embedded"):
        return {"embedded"}
    return {"gateway", "control"} if profile == "split-no-modhost" else {"gateway", "control", "modhost"}


def module_runner(profile):
    """The role whose pod runs the modules (and so takes the sandbox settings)."""
    roles = profile_roles(profile)
    return "embedded" if "embedded" in roles else "modhost" if "modhost" in roles else "control"


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
    if profile in {"engines"} | FULL:
        assert "ServiceMonitor" in kinds


@pytest.mark.parametrize("profile", list(PROFILES))
def test_helm_pods_are_locked_down(profile):
    runner = module_runner(profile)
    for name, dep in by_kind(render(profile), "Deployment").items():
        role = role_of(dep)
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
        # The opted-in sandbox (a Localhost seccomp profile; in a user namespace with an
        # unmasked /proc) reaches the pod that runs the modules, and only it.
        opted = profile in FULL or profile == "split-no-modhost"
        if role == runner and opted:
            assert sc["seccompProfile"] == {"type": "Localhost", "localhostProfile": "profiles/aiond-sandbox.json"}
        else:
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", name
        if role == runner and profile in FULL:
            assert spec["hostUsers"] is False and sc["procMount"] == "Unmasked", name
        else:
            assert "hostUsers" not in spec and "procMount" not in sc, name
        mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        env = env_of(c)
        assert "emptyDir" in volumes[mounts["/tmp"]["name"]], f"{name}: /tmp is a writable emptyDir"
        data = env["AION_DATA_DIR"]["value"]
        assert data in mounts and not mounts[data].get("readOnly"), f"{name}: AION_DATA_DIR on a volume"
        if role == "modhost":
            # It reads no policy files: it runs what the control plane sends it.
            assert "AION_POLICY_DIR" not in env and not any("configMap" in v for v in volumes.values()), name
        else:
            policy = env["AION_POLICY_DIR"]["value"]
            assert mounts[policy].get("readOnly") and "configMap" in volumes[mounts[policy]["name"]], name
        assert c["args"][0] == "--role"
        assert c["resources"].get("requests", {}).get("cpu") and c["resources"].get("limits", {}).get("memory"), \
            f"{name}: CPU requests (HPA needs them) and a memory limit"


def _tls_secrets(roles):
    """role -> the Secret its AION_INTERNAL_TLS_* files come from (all three files of one
    mounted Secret, cert-manager's layout), for the roles that have them."""
    secrets = {}
    for r, dep in roles.items():
        c = container(dep)
        env = env_of(c)
        if not set(INTERNAL_TLS) & set(env):
            continue
        assert set(INTERNAL_TLS) <= set(env), f"{r}: all three or none"
        files = {Path(env[v]["value"]).name for v in INTERNAL_TLS}
        assert files == {"tls.crt", "tls.key", "ca.crt"}, f"{r}: cert-manager's layout: {files}"
        (mount,) = {str(Path(env[v]["value"]).parent) for v in INTERNAL_TLS}
        vol = next(m["name"] for m in c["volumeMounts"] if m["mountPath"] == mount)
        volume = next(v for v in pod_of(dep)["spec"]["volumes"] if v["name"] == vol)
        secrets[r] = volume["secret"]["secretName"]
    return secrets


def _wired(services, roles, client, var, server, port_var):
    """`client` dials `var`=host:port: a ClusterIP Service that selects exactly the
    `server` pods, whose port reaches the container port `server` listens on
    (its `port_var`)."""
    host, _, port = env_of(container(roles[client]))[var]["value"].rpartition(":")
    svc = services[host]
    sp = next(p for p in svc["spec"]["ports"] if p["port"] == int(port))
    server_ports = {p["name"]: p["containerPort"] for p in container(roles[server])["ports"]}
    listens = int(env_of(container(roles[server]))[port_var]["value"])
    assert server_ports[sp["targetPort"]] == listens, (client, var, sp, listens)
    assert [r for r in roles if selects(svc["spec"]["selector"], pod_of(roles[r])["metadata"]["labels"])] == [server]
    assert svc["spec"]["type"] == "ClusterIP"


@pytest.mark.parametrize("profile", list(PROFILES))
def test_helm_roles_probes_and_wiring(profile):
    docs = render(profile)
    deps = by_kind(docs, "Deployment")
    services = by_kind(docs, "Service")
    roles = {role_of(d): d for d in deps.values()}
    assert set(roles) == profile_roles(profile), set(roles)
    public_tls = profile in FULL
    for role, dep in roles.items():
        c = container(dep)
        assert c["args"] == ["--role", CLI_ROLE[role]]
        env = env_of(c)
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        # Ports the container declares are the ones aiond listens on.
        listens = {"embedded": {"http": "AION_GATEWAY_PORT", "grpc": "AION_GATEWAY_GRPC_PORT",
                                "admin": "AION_CONTROL_PORT"},
                   "gateway": {"http": "AION_GATEWAY_PORT", "grpc": "AION_GATEWAY_GRPC_PORT"},
                   "control": {"admin": "AION_CONTROL_PORT", "grpc": "AION_CONTROL_GRPC_PORT"},
                   "modhost": {"grpc": "AION_MODHOST_GRPC_PORT", "http": "AION_MODHOST_PORT"}}[role]
        assert set(ports) == set(listens), (role, ports)
        for name, var in listens.items():
            assert str(ports[name]) == env[var]["value"], (role, name, var)
        # Probes: /healthz (liveness, startup) and /readyz (readiness) on the role's HTTP port;
        # HTTPS where the public TLS applies (not the module host's plain-HTTP health port).
        http_port = {"embedded": "http", "gateway": "http", "control": "admin", "modhost": "http"}[role]
        https = public_tls and role != "modhost"
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
            p = c[probe]
            assert p["httpGet"]["path"] == path and p["httpGet"]["port"] == http_port, (role, probe, p)
            assert p["httpGet"]["scheme"] == ("HTTPS" if https else "HTTP"), (role, probe)
        assert ("AION_TLS_CERT" in env) == https, f"{role}: the public TLS where it applies"
        # A Service per role selects exactly its pods and targets declared ports.
        svc = services[dep["metadata"]["name"]]
        pod_labels = pod_of(dep)["metadata"]["labels"]
        assert selects(svc["spec"]["selector"], pod_labels)
        assert [d for d in deps.values() if selects(svc["spec"]["selector"], pod_of(d)["metadata"]["labels"])] == [dep]
        assert selects(dep["spec"]["selector"]["matchLabels"], pod_labels)
        assert {sp["targetPort"] for sp in svc["spec"]["ports"]} == set(ports), role
        for sp in svc["spec"]["ports"]:
            assert sp["targetPort"] in ports and sp["port"] == ports[sp["targetPort"]], (role, sp)
            assert sp["appProtocol"] == ("grpc" if sp["name"] == "grpc" else "http"), (role, sp)
        if role not in ("gateway", "embedded"):
            assert svc["spec"]["type"] == "ClusterIP", f"{role} is internal"
        # Data on a claim where SQLite and the registered modules live: the embedded aiond and
        # control. The module host keeps only the artifacts it is sent again after a restart.
        data = next(v for v in pod_of(dep)["spec"]["volumes"] if v["name"] == "data")
        wants_claim = profile not in FULL and role in ("embedded", "control")
        assert ("persistentVolumeClaim" in data) == wants_claim, (role, data)
        if wants_claim:
            assert data["persistentVolumeClaim"]["claimName"] in by_kind(docs, "PersistentVolumeClaim")
        strategy = dep["spec"]["strategy"]
        if role in ("embedded", "control"):
            assert strategy["type"] == "Recreate", f"{role}: one control plane at a time"
        else:
            assert strategy["type"] == "RollingUpdate" and strategy["rollingUpdate"]["maxUnavailable"] == 0, role

    def env_names(role):
        return set(env_of(container(roles[role])))

    if "gateway" in roles:
        # gateway -> control over gRPC, and control -> modhost when there is one.
        _wired(services, roles, "gateway", "AION_CONTROL_GRPC", "control", "AION_CONTROL_GRPC_PORT")
        if "modhost" in roles:
            _wired(services, roles, "control", "AION_MODHOST_GRPC", "modhost", "AION_MODHOST_GRPC_PORT")
        else:
            assert "AION_MODHOST_GRPC" not in env_names("control"), "no module host: control runs the modules"
        dialled = {"gateway": {"AION_CONTROL_GRPC"},
                   "control": {"AION_MODHOST_GRPC"} if "modhost" in roles else set(), "modhost": set()}
        served = {"gateway": set(), "control": {"AION_CONTROL_GRPC_PORT"},
                  "modhost": {"AION_MODHOST_GRPC_PORT", "AION_MODHOST_PORT"}}
        for role in roles:
            assert env_names(role) & ROLE_VARIABLES - set(INTERNAL_TLS) == dialled[role] | served[role], role
        for var in ("AION_CONTROL_POSTGRES_DSN", "KAFKA_BROKERS"):
            assert var not in env_names("gateway"), f"the gateway keeps no store and sends no events ({var})"
        assert "AION_CONTROL_REDIS_URL" not in env_names("control"), "the control role does not use Redis"
        # Mutual TLS: every role or none, each with all three files of one mounted Secret.
        secrets = _tls_secrets(roles)
        assert set(secrets) == (set() if profile == "split-plaintext" else set(roles)), secrets
        if profile == "split-tls-per-role":
            assert secrets == {"gateway": "aionos-gateway-tls", "control": "aionos-control-tls",
                               "modhost": "aionos-modhost-tls"}
        elif secrets:
            assert set(secrets.values()) == {"aionos-internal-tls"}
    else:
        assert not ROLE_VARIABLES & env_names("embedded"), "the embedded aiond calls its roles in-process"
    # Files named by the environment are mounted.
    for role, dep in roles.items():
        c = container(dep)
        mounts = [m["mountPath"] for m in c["volumeMounts"]]
        for e in c["env"]:
            v = e.get("value", "")
            if v.startswith("/etc/aionos/"):
                assert any(v.startswith(m.rstrip("/") + "/") or v == m for m in mounts), f"{role}: {e['name']}={v}"
    # The pod that runs modules carries the sandbox settings: the embedded aiond, else the
    # module host, else (split without one) control. No other pod does.
    runner = module_runner(profile)
    for role in roles:
        env = env_of(container(roles[role]))
        assert ("AION_SANDBOX_ALLOW_WEAK" in env) == (role == runner), role
        if role == runner:
            assert env["AION_SANDBOX_ALLOW_WEAK"]["value"] == ("true" if profile in FULL else "false")
            gpus = {"embedded-full": "a100:40960", "split-full": "a100:40960", "split-no-modhost": "none"}
            assert env.get("AION_MODULE_HOST_GPUS", {}).get("value") == gpus.get(profile), (role, profile)
        else:
            assert "AION_MODULE_HOST_GPUS" not in env, role


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
        if role == "modhost":
            # The module host holds no key, no store, no engine: it runs what it is sent.
            held = {"AION_GATEWAY_API_KEYS", "AION_CONTROL_POSTGRES_DSN", "AION_CONTROL_REDIS_URL", "KAFKA_BROKERS",
                    "AION_TLS_CERT", "AION_TLS_KEY", "AION_CONTROL_PORT", "AION_GATEWAY_PORT"} & set(env)
            assert not held and not env_from, f"{name}: {held or env_from}"
    if profile == "engines":
        deps = {role_of(d): d for d in by_kind(docs, "Deployment").values()}
        ctl, gw = env_of(container(deps["control"])), env_of(container(deps["gateway"]))
        assert ctl["AION_CONTROL_POSTGRES_DSN"]["valueFrom"]["secretKeyRef"]["name"] == "aionos-postgres"
        assert ctl["KAFKA_BROKERS"]["value"], "the control plane's event stream"
        assert gw["AION_CONTROL_REDIS_URL"]["value"].startswith("redis://"), "gateways share the Redis limits"


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
    # Gateways scale; there is one control plane and one module host (docs/roles.md).
    assert set(scaled) == (set() if profile.startswith("embedded") else {"gateway"})
    for dep in deps.values():
        if role_of(dep) in ("embedded", "control", "modhost"):
            assert dep["spec"]["replicas"] == 1, "one embedded aiond, one control plane, one module host"
    for name, pdb in by_kind(docs, "PodDisruptionBudget").items():
        sel = pdb["spec"]["selector"]["matchLabels"]
        matched = [d for d in deps.values() if selects(sel, pod_of(d)["metadata"]["labels"])]
        assert len(matched) == 1, f"PDB {name} selects {len(matched)} Deployments"
    pdb_roles = {role_of(d) for d in deps.values()
                 for p in by_kind(docs, "PodDisruptionBudget").values()
                 if selects(p["spec"]["selector"]["matchLabels"], pod_of(d)["metadata"]["labels"])}
    if not profile.startswith("embedded"):
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

    def only_pods_of(rules, client, server, port_var):
        """The one rule letting `client` pods reach `server`'s internal gRPC port, and no one else."""
        internal = int(env_of(container(deps[server]))[port_var]["value"])
        pod_rules = [r for r in rules if internal in rule_ports(r)]
        assert len(pod_rules) == 1 and rule_ports(pod_rules[0]) == {ports_of(server)["grpc"]} == {internal}, server
        assert "namespaceSelector" not in pod_rules[0]["from"][0], f"{server}: pods of this namespace only"
        sel = pod_rules[0]["from"][0]["podSelector"]["matchLabels"]
        assert pod_rules[0]["from"] == [{"podSelector": {"matchLabels": sel}}]
        assert selects(sel, labels[client])
        for other in set(labels) - {client}:
            assert not selects(sel, labels[other]), f"{server}'s internal port admits {other}"

    extra_admin = profile in FULL
    for role, rules in policy.items():
        ports = ports_of(role)
        open_rules = [r for r in rules if "from" not in r]
        if role in ("gateway", "embedded"):
            assert [rule_ports(r) for r in open_rules] == [{ports["http"], ports["grpc"]}], \
                f"{role}: REST and gRPC open to all, nothing else"
        else:
            assert not open_rules, f"{role} is not open to everyone"
        if role == "control":
            # The gateways reach control's internal gRPC port (AION_CONTROL_GRPC_PORT), and only they.
            only_pods_of(rules, "gateway", "control", "AION_CONTROL_GRPC_PORT")
        if role == "modhost":
            # Control reaches the module host's internal gRPC port (AION_MODHOST_GRPC_PORT), and only it;
            # its health port serves /metrics to the monitoring namespace (kubelet probes are not peers).
            only_pods_of(rules, "control", "modhost", "AION_MODHOST_GRPC_PORT")
            metrics = [r for r in rules if rule_ports(r) == {ports["http"]}]
            assert len(metrics) == 1 and prometheus_only(metrics[0]), metrics
            assert len(rules) == 2, rules
        if "admin" in ports:
            admin = [r for r in rules if rule_ports(r) == {ports["admin"]}]
            assert any(prometheus_only(r) for r in admin), f"{role}: metrics from the monitoring namespace"
            assert len(admin) == (2 if extra_admin else 1), admin
        for r in rules:
            if "from" in r and ports.get("admin") in rule_ports(r):
                assert rule_ports(r) == {ports["admin"]}


def test_helm_service_monitors_scrape_one_port_per_process():
    for profile in ("engines", "split-full"):
        docs = render(profile)
        services = by_kind(docs, "Service")
        scraped = {}
        for name, sm in by_kind(docs, "ServiceMonitor").items():
            if profile == "engines":
                assert sm["metadata"]["labels"].get("release") == "prometheus"
            svc = [s for s in services.values()
                   if selects(sm["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])]
            assert len(svc) == 1, name
            (ep,) = sm["spec"]["endpoints"]
            assert ep["path"] == "/metrics" and ep["port"] in {p["name"] for p in svc[0]["spec"]["ports"]}
            role = svc[0]["metadata"]["labels"]["app.kubernetes.io/component"]
            scraped[role] = ep["port"]
            # HTTPS with the public TLS, but the module host's health port is always plain HTTP.
            assert ep.get("scheme", "http") == ("https" if profile == "split-full" and role != "modhost" else "http")
        assert scraped == {"gateway": "http", "control": "admin", "modhost": "http"}, (profile, scraped)
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
    for profile in ("embedded", "split"):
        for d in by_kind(render(profile), "Deployment").values():
            ann = pod_of(d)["metadata"].get("annotations") or {}
            if role_of(d) == "modhost":
                assert "checksum/policies" not in ann, "the module host reads no policies: a change does not roll it"
            else:
                assert re.fullmatch(r"[0-9a-f]{64}", ann["checksum/policies"]), "a policy change rolls the pods"
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


def _internal_pki(d, secrets):
    """Secrets in cert-manager's layout (tls.crt, tls.key, ca.crt) from one CA:
    secrets[name] = "server" (a server certificate for 127.0.0.1, where the test's
    clients dial), "client" (a client certificate), or "both" (one certificate
    for both uses: control's, which serves gateways and is the module host's
    client, and one Secret shared by every role)."""
    from test_tls import openssl
    d.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=aionos-internal-ca", "-days", "2", cwd=d)
    ext = {"server": "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth",
           "client": "extendedKeyUsage=clientAuth",
           "both": "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth"}
    dirs = {}
    for name, kind in secrets.items():
        out = d / name
        out.mkdir()
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", str(out / "tls.key"), "-out", "req.csr", "-subj", f"/CN={name}", cwd=d)
        (d / "ext.cnf").write_text(ext[kind] + "\n")
        openssl("x509", "-req", "-in", "req.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", str(out / "tls.crt"), "-days", "2", "-extfile", "ext.cnf", cwd=d)
        shutil.copy(d / "ca.pem", out / "ca.crt")
        dirs[name] = str(out)
    return dirs


@pytest.mark.parametrize("profile, secrets", [
    ("split", {"aionos-internal-tls": "both"}),
    ("split-tls-per-role", {"aionos-gateway-tls": "client", "aionos-control-tls": "both",
                            "aionos-modhost-tls": "server"}),
    ("split-plaintext", {}),
    ("split-no-modhost", {"aionos-internal-tls": "both"}),
])
def test_helm_roles_run_as_rendered(tmp_path, profile, secrets):
    """The split profile's containers (gateway, control and, with modhost.enabled,
    the module host), as rendered: their args, environment (Secrets: the API
    keys, the internal TLS files; the policy ConfigMap as mounted) and volumes,
    run against each other with mutual TLS; the task's modules run on the
    module host."""
    if not AIOND.exists():
        pytest.skip(f"{AIOND} not built (./scripts/build.sh)")
    docs = render(profile)
    (cm,) = by_kind(docs, "ConfigMap").values()
    secret_dirs = _internal_pki(tmp_path / "secrets", secrets) if secrets else {}
    roles = {}
    for dep in by_kind(docs, "Deployment").values():
        role = role_of(dep)
        c = container(dep)
        volumes = {v["name"]: v for v in pod_of(dep)["spec"]["volumes"]}
        mounts = {}
        for m in c["volumeMounts"]:
            v = volumes[m["name"]]
            local = tmp_path / role / m["name"]
            if "configMap" in v:
                assert v["configMap"]["name"] == cm["metadata"]["name"]
                local.mkdir(parents=True)
                for fname, content in cm["data"].items():
                    (local / fname).write_text(content)
            elif "secret" in v:
                local = Path(secret_dirs[v["secret"]["secretName"]])
            else:
                local.mkdir(parents=True)
            mounts[m["mountPath"]] = str(local)
        env = {}
        for e in c["env"]:
            if "value" in e:
                env[e["name"]] = e["value"]
            else:
                ref = e["valueFrom"]["secretKeyRef"]
                assert (e["name"], ref["name"]) == ("AION_GATEWAY_API_KEYS", "aionos-api-keys"), e
                env[e["name"]] = "demo-key:admin|manager"
        roles[role] = (c["args"], env, mounts)
    assert set(roles) == profile_roles(profile)
    for client, var in (("gateway", "AION_CONTROL_GRPC"), ("control", "AION_MODHOST_GRPC")):
        if var in roles[client][1]:
            host = roles[client][1][var].rpartition(":")[0]
            assert host in by_kind(docs, "Service"), f"{client} dials {host}, no such Service"
    run_roles(tmp_path, roles)


@pytest.mark.parametrize("values", ["values.yaml", "values-split.yaml", "values-engines.yaml"])
def test_helm_module_host_by_profile(values):
    """The embedded profile has no module host (its aiond runs the modules) and
    refuses one; the split profiles run one; modhost.enabled: false in split
    mode leaves the modules to control."""
    enabled = yaml.safe_load((CHART / values).read_text()).get("modhost", {}).get("enabled", False)
    assert enabled is (values != "values.yaml"), values
    docs = [d for d in yaml.safe_load_all(helm("template", "rel", ".", "--kube-version", KUBE_VERSION,
                                                 "-f", values).stdout) if d]
    named = {d["kind"] for d in docs if d["metadata"]["name"] == "rel-aionos-modhost"}
    if values == "values.yaml":
        assert not [d for d in docs if "modhost" in json.dumps(d)], "nothing rendered names a module host"
        r = helm("template", "rel", ".", "--kube-version", KUBE_VERSION, "-f", values,
                 "--set", "modhost.enabled=true", check=False)
        assert r.returncode != 0 and "modhost.enabled: the module host serves a control role" in r.stderr, r.stderr
    else:
        assert named == {"Deployment", "Service", "NetworkPolicy", "PodDisruptionBudget"} | \
            ({"ServiceMonitor"} if values == "values-engines.yaml" else set()), named
        off = [d for d in yaml.safe_load_all(helm("template", "rel", ".", "--kube-version", KUBE_VERSION, "-f",
                                                  values, "--set", "modhost.enabled=false").stdout) if d]
        assert not [d for d in off if "modhost" in json.dumps(d)], "modhost.enabled: false renders no module host"


@pytest.mark.parametrize("args, message", [
    (["-f", "values-split.yaml", "--set", "control.replicas=2"], "control.replicas: one control plane only"),
    (["-f", "values-engines.yaml", "--set", "control.replicas=3"], "control.replicas: one control plane only"),
    (["-f", "values-split.yaml", "--set", "control.autoscaling.enabled=true"], "autoscaling"),
    (["-f", "values-split.yaml", "--set", "modhost.replicas=2"], "modhost.replicas: one module host per control"),
    (["-f", "values-split.yaml", "--set", "modhost.autoscaling.enabled=true"], "autoscaling"),
    (["--set", "modhost.enabled=true"], "modhost.enabled: the module host serves a control role"),
    (["-f", "values-split.yaml", "--set", "secrets.internalTls.existingSecret=",
      "--set", "secrets.internalTls.gatewaySecret=gw-tls", "--set", "secrets.internalTls.controlSecret=ctl-tls"],
     "needs a Secret for every role (gateway, control, modhost)"),
    (["-f", "values-split.yaml", "--set", "secrets.internalTls.existingSecret=",
      "--set", "secrets.internalTls.modhostSecret=mh-tls"],
     "needs a Secret for every role (gateway, control, modhost)"),
    (["-f", "values-split.yaml", "--set", "modhost.enabled=false", "--set", "secrets.internalTls.existingSecret=",
      "--set", "secrets.internalTls.gatewaySecret=gw-tls"], "needs a Secret for every role (gateway, control)"),
    (["--set", "ports.modhostGrpc=0"], "modhostGrpc"),
    (["--set", "ports.modhostHttp=8090"], "modhostHttp"),
    (["--set", "config.AION_CONTROL_GRPC_PORT=1"], "AION_CONTROL_GRPC_PORT"),
    (["--set", "config.AION_MODHOST_GRPC=x:1"], "AION_MODHOST_GRPC"),
    (["--set", "config.AION_MODULE_HOST_GPUS=none"], "AION_MODULE_HOST_GPUS"),
    (["--set", "sandbox.gpus=a100"], "gpus"),
    (["--set", "gateway.replicsa=3"], "replicsa"),
    (["--set", "mode=cluster"], "mode"),
    (["--set", "config.AION_DATA_DIR=/elsewhere"], "AION_DATA_DIR"),
    (["--set", "config.NOT_AIOND=1"], "NOT_AIOND"),
    (["--set", "sandbox.procMount=Unmasked"], "hostUsers"),
    (["--set", "engines.kafka.brokers=kafka"], "brokers"),
    (["--set", "engines.redis.url=redis://x:6379/0", "--set", "engines.redis.existingSecret=r"], "not both"),
    (["--set", "engines.postgres.dsn=postgresql://x", "--set", "engines.postgres.existingSecret=pg"], "not both"),
])
def test_helm_refuses_values_that_cannot_work(args, message):
    r = helm("template", "rel", ".", "--kube-version", KUBE_VERSION, *args, check=False)
    assert r.returncode != 0 and message in r.stderr, r.stderr or r.stdout[:300]


# ---------------------------------------------------------------------------
# The web console's image and service (issue 14, docs/console.md)

CONSOLE_DOCKERFILE = REPO / "deploy" / "docker" / "console.Dockerfile"
CONSOLE_DOCKERIGNORE = REPO / "deploy" / "docker" / "console.Dockerfile.dockerignore"


def console_ignored(rel):
    """BuildKit's rule for the Dockerfile's own ignore file: the last matching pattern wins."""
    ignored = False
    parts = rel.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for line in CONSOLE_DOCKERIGNORE.read_text().splitlines():
        pat = line.strip()
        if not pat or pat.startswith("#"):
            continue
        neg = pat.startswith("!")
        p = (pat[1:] if neg else pat).strip("/")
        if p == "*":
            matched = True
        elif "**" in p:
            matched = fnmatch(rel, p.replace("**/", "*")) or fnmatch(rel, p.replace("**/", ""))
        else:
            matched = any(fnmatch(pre, p) for pre in prefixes)
        if matched:
            ignored = not neg
    return ignored


def test_console_dockerfile_passes_hadolint():
    hadolint = hadolint_path()
    r = subprocess.run([hadolint, "--config", str(REPO / "deploy" / "docker" / ".hadolint.yaml"),
                        "--no-color", str(CONSOLE_DOCKERFILE)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_console_dockerfile_is_multistage_pinned_non_root_with_healthcheck():
    stages = dockerfile_stages(CONSOLE_DOCKERFILE)
    assert len(stages) >= 2, "a build stage and a runtime stage"
    names = {st["name"] for st in stages if st["name"]}
    node_tags = set()
    for st in stages:
        if st["image"] in names:
            continue
        m = re.fullmatch(r"node:(\d+)\.(\d+)\.(\d+)-bookworm-slim", st["image"])
        assert m, f"base image {st['image']}: node:X.Y.Z-bookworm-slim, pinned"
        node_tags.add(tuple(map(int, m.groups())))
    # Node satisfies the console's engines (and Next's): >= 20.9
    engines = json.loads((REPO / "console" / "package.json").read_text())["engines"]["node"]
    low = tuple(map(int, re.match(r">=(\d+)\.(\d+)\.(\d+)", engines).groups()))
    assert all(t >= low for t in node_tags), (node_tags, engines)
    text = " ".join(arg for st in stages for kw, arg in st["instructions"] if kw == "RUN")
    pnpm = PINS["PNPM_VERSION"]
    assert f"pnpm@{pnpm}" in text, f"pnpm pinned to {pnpm}, as deps/versions.env"
    assert "pnpm install --frozen-lockfile" in text, "installs from the committed lock only"
    assert re.search(r'output:\s*"standalone"', (REPO / "console" / "next.config.ts").read_text())
    runtime = stages[-1]
    rt = runtime["instructions"]
    assert "ADD" not in [kw for st in stages for kw, _ in st["instructions"]]
    users = [arg for kw, arg in rt if kw == "USER"]
    uid = users[-1].split(":")[0] if users else ""
    assert uid.isdigit() and int(uid) != 0, f"USER {users}: a numeric non-root uid"
    rt_run = " ".join(arg for kw, arg in rt if kw == "RUN")
    assert f"--uid {uid}" in rt_run, f"runtime stage creates no user with uid {uid}"
    copies = [arg for kw, arg in rt if kw == "COPY"]
    assert any(c.startswith("--from=") and ".next/standalone" in c for c in copies), "the standalone server"
    assert any(c.startswith("--from=") and ".next/static" in c for c in copies), "the static files"
    # Files the server runs are not its own to change: copied without --chown.
    assert not any("--chown" in c for c in copies), copies
    assert json.loads(next(arg for kw, arg in rt if kw == "ENTRYPOINT")) == ["node", "server.js"]
    env = {}
    for kw, arg in rt:
        if kw == "ENV":
            env.update(dict(re.findall(r"(\w+)=(\S+)", arg)))
    assert env.get("NODE_ENV") == "production" and env.get("HOSTNAME") == "0.0.0.0"
    exposed = {p for kw, arg in rt if kw == "EXPOSE" for p in arg.split()}
    assert exposed == {env["PORT"]}, (exposed, env.get("PORT"))
    hc = [arg for kw, arg in rt if kw == "HEALTHCHECK"]
    assert len(hc) == 1 and "/api/healthz" in hc[0], hc
    assert (REPO / "console" / "src" / "app" / "api" / "healthz" / "route.ts").is_file()
    assert [kw for kw, _ in rt].index("USER") < [kw for kw, _ in rt].index("ENTRYPOINT")


def test_console_dockerfile_copy_sources_exist_and_are_in_its_context():
    seen = set()
    for st in dockerfile_stages(CONSOLE_DOCKERFILE):
        for kw, arg in st["instructions"]:
            if kw != "COPY":
                continue
            parts = [p for p in arg.split() if not p.startswith("--")]
            frm = [f.split("=", 1)[1] for f in arg.split() if f.startswith("--from=")]
            if frm:
                assert frm[0] in seen, f"COPY --from={frm[0]}: no earlier stage of that name"
                continue
            for src in parts[:-1]:
                assert (REPO / src).exists(), f"COPY {src}: no such file"
                assert not console_ignored(src), f"COPY {src}: excluded by {CONSOLE_DOCKERIGNORE.name}"
        if st["name"]:
            seen.add(st["name"])
    for kept_out in ("console/node_modules/next/package.json", "console/.next/BUILD_ID", "console/.env",
                     ".env", ".git/config", "build/aiond", "src/app/main.cpp", "console/src/lib/sse.test.ts"):
        assert console_ignored(kept_out), f"{kept_out} must not reach the console's build context"
    assert not console_ignored("console/src/app/layout.tsx")


def test_compose_console_service():
    services = compose()["services"]
    c = services["console"]
    assert c["image"].startswith("aionos/console:") and re.search(r":\d+\.\d+\.\d+$", c["image"])
    assert c["build"] == {"context": ".", "dockerfile": "deploy/docker/console.Dockerfile"}
    assert c.get("read_only") is True and c.get("cap_drop") == ["ALL"]
    assert "no-new-privileges:true" in c.get("security_opt", [])
    assert any(str(t).startswith("/tmp") for t in c["tmpfs"]) and any(str(t).startswith("/app/.next/cache") for t in c["tmpfs"])
    assert c.get("profiles") is None, "docker compose up starts the console"
    env = service_env(c)
    gw, ctl = service_env(services["gateway"]), service_env(services["control"])
    # Its server reaches the gateway and the control plane inside the network, on their ports.
    assert env["NEXT_PUBLIC_GATEWAY_URL"] == f"http://gateway:{gw['AION_GATEWAY_PORT']}"
    assert env["NEXT_PUBLIC_CONTROL_URL"] == f"http://control:{ctl['AION_CONTROL_PORT']}"
    for dep in ("gateway", "control"):
        assert c["depends_on"][dep]["condition"] == "service_healthy"
    # Published on the port the image listens on; NEXTAUTH_URL names it.
    rt_env = {}
    for kw, arg in dockerfile_stages(CONSOLE_DOCKERFILE)[-1]["instructions"]:
        if kw == "ENV":
            rt_env.update(dict(re.findall(r"(\w+)=(\S+)", arg)))
    (port,) = c["ports"]
    host, _, container = str(port).rpartition(":")
    assert container == rt_env["PORT"] and env["NEXTAUTH_URL"] == f"http://localhost:{host}"
    # Its secrets from console/.env only: never aiond's .env (provider and API keys).
    files = [e if isinstance(e, str) else e["path"] for e in c.get("env_file", [])]
    assert files == ["console/.env"] and all(not e.get("required", True) for e in c["env_file"] if isinstance(e, dict))
    assert not any(k.startswith("AION_") or k.endswith("_API_KEY") for k in env), env
    assert "NEXTAUTH_SECRET" not in env, "the signing secret comes from console/.env, not the compose file"
    assert (REPO / "console" / ".gitignore").read_text().splitlines().count(".env") == 1, "console/.env stays out of git"


def test_console_standalone_server_runs_as_the_image_runs_it(tmp_path):
    """The built standalone server (the image's /app) with the image's
    environment: it serves, and the image's healthcheck command reports healthy
    with NEXTAUTH_SECRET and unhealthy without."""
    standalone = REPO / "console" / ".next" / "standalone"
    if not (standalone / "server.js").is_file() or not (REPO / "console" / ".next" / "static").is_dir():
        pytest.skip("console not built: run scripts/console-build.sh (scripts/test.sh does, before the e2e stage)")
    app = tmp_path / "app"
    shutil.copytree(standalone, app, symlinks=True)
    shutil.copytree(REPO / "console" / ".next" / "static", app / ".next" / "static")
    rt = dockerfile_stages(CONSOLE_DOCKERFILE)[-1]["instructions"]
    hc = next(arg for kw, arg in rt if kw == "HEALTHCHECK")
    hc_cmd = json.loads(hc.split("CMD", 1)[1].strip())
    for secret, healthy in (("s3cret", True), (None, False)):
        port = free_port()
        env = {"PATH": os.environ["PATH"], "NODE_ENV": "production", "NEXT_TELEMETRY_DISABLED": "1",
               "PORT": str(port), "HOSTNAME": "127.0.0.1"}
        if secret:
            env["NEXTAUTH_SECRET"] = secret
        proc = subprocess.Popen(["node", "server.js"], cwd=app, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            import urllib.error
            import urllib.request
            deadline, status = time.time() + 30, None
            while time.time() < deadline and status is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/signin", timeout=5) as page:
                        status, body = page.status, page.read()
                except (urllib.error.URLError, ConnectionError):
                    assert proc.poll() is None, proc.stdout.read().decode()
                    time.sleep(0.2)
            assert status == 200 and b"aionOS" in body, status
            r = subprocess.run(hc_cmd, env=env, capture_output=True, timeout=10)
            assert (r.returncode == 0) == healthy, (secret, r)
        finally:
            proc.terminate()
            proc.wait(10)

