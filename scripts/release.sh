#!/usr/bin/env bash
# Builds a release into dist/ (or --out DIR, or AION_DIST_DIR): aiond, every
# guest module with a manifest aiond verifies, a CycloneDX 1.5 SBOM for aiond
# and for each module, a cosign signature (.sig) for each of those files, the
# public key, and SHA256SUMS (signed too). docs/release.md says what is in it,
# how the SBOMs are made and how to verify it.
#
#   COSIGN_KEY=cosign.key COSIGN_PASSWORD=… ./scripts/release.sh [--out DIR]
#
# COSIGN_KEY is a cosign key file or reference (env://VAR, a KMS URI). Without
# it the release is signed with an ephemeral key pair made in the out dir (and
# says so loudly); AION_RELEASE_REQUIRE_KEY=true refuses that instead.
# AION_RELEASE_TAG=vX.Y.Z (CI, on a tag) must match `aiond --version`.
# AION_BUILD_DIR picks the build tree (default build/), as for build.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/lib.sh"
cd "$here"

out="${AION_DIST_DIR:-$here/dist}"
while (($#)); do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --out=*) out="${1#*=}"; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) log "release.sh: unknown argument $1 (see --help)"; exit 2 ;;
  esac
done
fail() { log "release: error: $*"; exit 1; }

export AION_BUILD_DIR="${AION_BUILD_DIR:-$here/build}"
build_dir="$AION_BUILD_DIR"
./scripts/install-deps.sh
./scripts/build.sh

cosign="$(go env GOPATH)/bin/cosign"
version="$("$build_dir/aiond" --version | awk '{print $2}')"
[[ -z "${AION_RELEASE_TAG:-}" || "$AION_RELEASE_TAG" == "v$version" ]] ||
  fail "tag $AION_RELEASE_TAG does not match aiond's version $version (CMakeLists.txt project VERSION)"

# The out dir is replaced only if this script wrote it (or it is empty).
mkdir -p "$out"
out="$(cd "$out" && pwd)"
if [[ -n "$(ls -A "$out")" && ! -f "$out/.aion-release" ]]; then
  fail "$out is not empty and was not written by release.sh; choose another --out"
fi
if [[ -n "${COSIGN_KEY:-}" && "$COSIGN_KEY" != *://* && "$(realpath -m "$COSIGN_KEY")" == "$out"/* ]]; then
  fail "COSIGN_KEY lies inside the out dir $out, which is replaced: keep it elsewhere"
fi
find "$out" -mindepth 1 -delete
mkdir -p "$out/modules/trusted-keys"
touch "$out/.aion-release"
log "release $version into $out"

# --- signing key ----------------------------------------------------------------------------------
if [[ -n "${COSIGN_KEY:-}" ]]; then
  # A key file, or any key reference cosign takes (env://VAR in CI, a KMS URI).
  [[ -f "$COSIGN_KEY" || "$COSIGN_KEY" == *://* ]] || fail "COSIGN_KEY=$COSIGN_KEY is not a file"
  [[ -n "${COSIGN_PASSWORD+set}" ]] || fail "COSIGN_PASSWORD is not set (export it, empty if the key has none)"
  key="$COSIGN_KEY"
  "$cosign" public-key --key "$key" >"$out/cosign.pub" </dev/null
else
  [[ "${AION_RELEASE_REQUIRE_KEY:-}" != true ]] || fail "AION_RELEASE_REQUIRE_KEY=true and no COSIGN_KEY is set"
  export COSIGN_PASSWORD="${COSIGN_PASSWORD:-}"
  (cd "$out" && "$cosign" generate-key-pair >/dev/null 2>&1 </dev/null)
  key="$out/cosign.key"
  log "****************************************************************************************"
  log "WARNING: COSIGN_KEY is not set: this release is signed with an EPHEMERAL key pair just"
  log "made in $out (cosign.key, cosign.pub). Its signatures only show the files are unchanged"
  log "since this run, not who made them. Publish nothing signed this way: set COSIGN_KEY and"
  log "COSIGN_PASSWORD to the project's release key (docs/release.md#signing)."
  log "****************************************************************************************"
fi
cp "$out/cosign.pub" "$out/modules/trusted-keys/cosign.pub"  # aiond's default trust dir beside it

# --- artifacts --------------------------------------------------------------------------------------
# Every module the build made (modules/CMakeLists.txt signs each one into
# <build>/modules/<name>.module.json): its artifact, name, version and kind.
cp "$build_dir/aiond" "$out/aiond"
mapfile -t modules < <(python3 - "$build_dir/modules" <<'PY'
import glob, json, os, sys
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.module.json"))):
    m = json.load(open(path))
    print(path, m["artifact"], m["name"], m["version"], m["kind"], sep="\t")
PY
)
((${#modules[@]})) || fail "no module manifests in $build_dir/modules"
for line in "${modules[@]}"; do
  IFS=$'\t' read -r _ artifact _ _ _ <<<"$line"
  cp "$build_dir/modules/$artifact" "$out/modules/$artifact"
done

# --- SBOMs ------------------------------------------------------------------------------------------
# From the build's own dependency data, not a scanner (docs/release.md#sboms):
# aiond: the Debian packages of the shared libraries it loads (ldd), of the
# headers and archives compiled into it (ninja's dependency log), and the
# wasmtime crate graph (cargo metadata for this platform, Cargo.lock hashes);
# modules: their crate graph and Rust standard library the same way.
cargo_bin="$(rustup_cargo)"
wasmtime_dir="$(wasmtime_cache_dir)"
wasmtime_rustc="$(cat "$wasmtime_dir/rustc-version" 2>/dev/null || "$(dirname "$cargo_bin")/rustc" -V)"
python3 - "$out" "$build_dir" "$here" "$version" "$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  "$cargo_bin" "$wasmtime_rustc" "${modules[@]}" <<'PY'
import concurrent.futures, datetime, glob, hashlib, json, os, re, subprocess, sys, tomllib, uuid
from packageurl import PackageURL

out, build, repo, version, commit, rustup_cargo, wasmtime_rustc = sys.argv[1:8]
modules = [dict(zip(("manifest", "artifact", "name", "version", "kind"), m.split("\t"))) for m in sys.argv[8:]]
os_release = dict(l.rstrip("\n").split("=", 1) for l in open("/etc/os-release") if "=" in l)
distro = f"{os_release.get('ID', 'debian')}-{os_release.get('VERSION_ID', '').strip(chr(34))}"
epoch = os.environ.get("SOURCE_DATE_EPOCH")
now = (datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc) if epoch
       else datetime.datetime.now(datetime.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def prop(name, value):
    return {"name": f"aion:{name}", "value": value}


# --- Debian packages ------------------------------------------------------------------------------
def deb_owners(paths):
    """{path: 'package[:arch]'} through dpkg's own records; a path dpkg does not know is missing."""
    alts = {}
    for p in paths:
        real = os.path.realpath(p)
        alts[p] = [p, real] + (["/usr" + p] if p.startswith(("/lib", "/bin", "/sbin")) else [])
    wanted = sorted({a for v in alts.values() for a in v})
    owner = {}
    for i in range(0, len(wanted), 400):
        r = subprocess.run(["dpkg-query", "-S", *wanted[i:i + 400]], capture_output=True, text=True)
        for line in r.stdout.splitlines():
            if line.startswith(("diversion by", "local diversion")):
                continue
            pkgs, _, path = line.partition(": ")
            owner[path] = pkgs.split(", ")[0]
    return {p: next(owner[a] for a in v if a in owner) for p, v in alts.items() if any(a in owner for a in v)}


deb_info_cache = {}


def deb_component(pkg, linkage, files=()):
    if pkg not in deb_info_cache:
        f = "${Package}\t${Architecture}\t${Version}\t${source:Package}\t${source:Version}"
        deb_info_cache[pkg] = run(["dpkg-query", "-W", "-f", f, pkg]).split("\t")
    name, arch, ver, src, src_ver = deb_info_cache[pkg]
    purl = PackageURL("deb", "debian", name, ver, {"arch": arch, "distro": distro}).to_string()
    c = {"type": "library", "bom-ref": purl, "name": name, "version": ver, "scope": "required", "purl": purl,
         "properties": [prop("linkage", linkage), prop("deb-source", f"{src} {src_ver}")]}
    if files:
        c["properties"].append(prop("files", " ".join(sorted(files))))
    return c


def merge_debs(found):
    """found: [(owner, linkage, file or None)] -> components, one per package."""
    by = {}
    for pkg, linkage, f in found:
        e = by.setdefault(pkg, {"linkage": [], "files": set()})
        if linkage not in e["linkage"]:
            e["linkage"].append(linkage)
        if f:
            e["files"].add(os.path.basename(f))
    return [deb_component(p, ", ".join(e["linkage"]), e["files"]) for p, e in sorted(by.items())]


def elf_shared_libs(path):
    libs = []
    for line in run(["ldd", path]).splitlines():
        m = re.match(r"\s*(?:\S+ => )?(/\S+) \(0x", line)
        if m:
            libs.append(m.group(1))
    return libs


def owned(paths, linkage, what):
    owners = deb_owners(paths)
    unknown = sorted(set(paths) - set(owners))
    if unknown:
        sys.exit(f"release: error: {what} not from a Debian package, so the SBOM cannot name it: {unknown[:5]}")
    return [(owners[p], linkage, p if linkage != "headers" else None) for p in paths]


def aiond_debs():
    found = owned(elf_shared_libs(os.path.join(out, "aiond")), "dynamic", "aiond loads a library")
    inputs = run(["ninja", "-C", build, "-t", "inputs", "aiond"]).split()
    archives = [p for p in inputs if p.startswith("/usr/") and p.endswith(".a")]
    found += owned(archives, "static", "aiond links an archive")
    objects = [p for p in inputs if p.endswith(".o")]
    headers = set()
    for line in run(["ninja", "-C", build, "-t", "deps", *objects]).splitlines():
        p = line.strip()
        if line.startswith((" ", "\t")) and p.startswith("/usr/"):
            headers.add(p)
    local = sorted(h for h in headers if h.startswith("/usr/local/"))
    if local:
        sys.exit(f"release: error: aiond compiles headers from /usr/local, which no package records: {local[:5]}")
    found += owned(sorted(headers), "headers", "aiond includes a header")
    return merge_debs(found)


# --- Rust crates ----------------------------------------------------------------------------------
def license_expression(text):
    return re.sub(r"\s*/\s*", " OR ", text.strip()) if text else None


def cargo_components(crate_dir, cargo, target, env, std_version=None):
    """The crates built into `crate_dir`'s artifact for `target`, as cargo's own feature
    resolver sees them (cargo tree): the crates normal dependencies reach, not through a
    proc macro, are linked in (scope required); the ones only proc macros and build
    scripts need run at build time (scope excluded). Licenses and descriptions come from
    cargo metadata, hashes from Cargo.lock. Returns (components, dependencies, root refs)."""
    env = {**os.environ, **env}

    def tree(edges):
        nodes, children, stack = set(), {}, []
        text = run([cargo, "tree", "--locked", "--offline", "--target", target, "-e", edges,
                    "--prefix", "depth", "-f", "{p}"], cwd=crate_dir, env=env)
        for line in text.splitlines():
            m = re.match(r"(\d+)(\S+) v(\S+)", line)
            if not m:
                continue
            depth, key = int(m.group(1)), (m.group(2), m.group(3))
            del stack[depth:]
            if stack:
                children.setdefault(stack[-1], set()).add(key)
            stack.append(key)
            nodes.add(key)
        return nodes, children, stack[0] if stack else None

    built, children, _ = tree("normal,build")
    linked, _, root = tree("normal,no-proc-macro")
    built.discard(root)
    meta = json.loads(run([cargo, "metadata", "--format-version", "1", "--locked", "--offline",
                           "--filter-platform", target], cwd=crate_dir, env=env))
    pkgs = {(p["name"], p["version"]): p for p in meta["packages"]}
    with open(os.path.join(meta["workspace_root"], "Cargo.lock"), "rb") as f:
        # A checksum is the .crate's SHA-256; Debian's registry writes a placeholder for some.
        checksums = {(p["name"], p["version"]): p["checksum"] for p in tomllib.load(f)["package"]
                     if re.fullmatch(r"[0-9a-f]{64}", p.get("checksum", ""))}
    ref = {k: PackageURL("cargo", None, k[0], k[1]).to_string() for k in built}
    manifests = {k: pkgs[k]["manifest_path"] for k in built}
    debian_owned = deb_owners(list(manifests.values()))
    comps, graph = [], []
    for k in sorted(built, key=lambda k: ref[k]):
        p = pkgs[k]
        c = {"type": "library", "bom-ref": ref[k], "name": k[0], "version": k[1],
             "scope": "required" if k in linked else "excluded", "purl": ref[k]}
        if p.get("description"):
            c["description"] = " ".join(p["description"].split())
        if k in checksums:
            c["hashes"] = [{"alg": "SHA-256", "content": checksums[k]}]
        if license_expression(p.get("license")):
            c["licenses"] = [{"expression": license_expression(p["license"])}]
        c["properties"] = [prop("linkage", "static" if k in linked else "build-time (proc macro or build script)")]
        if manifests[k] in debian_owned:
            c["properties"].append(prop("deb-package", debian_owned[manifests[k]].split(":")[0]))
        comps.append(c)
        graph.append({"ref": ref[k], "dependsOn": sorted(ref[x] for x in children.get(k, ()) if x in ref)})
    # The Rust standard library (and, on WASI, the libc it carries) is linked in as well.
    rustc = env.get("RUSTC") or os.path.join(os.path.dirname(cargo), "rustc")
    sysroot = run([rustc, "--print", "sysroot"]).strip()
    std = glob.glob(os.path.join(sysroot, "lib", "rustlib", target, "lib", "libstd-*.rlib"))
    if not std:
        sys.exit(f"release: error: no Rust standard library for {target} under {sysroot}")
    owners = deb_owners(std[:1])
    if owners:
        std_comp = deb_component(owners[std[0]], "static (Rust standard library)")
    else:
        v = std_version or run([rustc, "-V"]).strip()
        n = v.split()[1]
        purl = PackageURL("generic", "rust-lang", "rust-std", n).to_string()
        std_comp = {"type": "library", "bom-ref": purl, "name": "rust-std", "version": n, "scope": "required",
                    "purl": purl, "licenses": [{"expression": "MIT OR Apache-2.0"}],
                    "properties": [prop("linkage", "static (Rust standard library)"), prop("toolchain", v)]}
    comps.append(std_comp)
    direct = sorted({ref[x] for x in children.get(root, ()) if x in ref} | {std_comp["bom-ref"]})
    return comps, graph, direct


def bom(component, comps, graph):
    # A component named twice (a Debian package both loaded and compiled against) is listed once.
    unique = {}
    for c in comps:
        unique.setdefault(c["bom-ref"], c)
    return {
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX", "specVersion": "1.5", "serialNumber": f"urn:uuid:{uuid.uuid4()}", "version": 1,
        "metadata": {
            "timestamp": now,
            "tools": {"components": [{"type": "application", "name": "aionOS scripts/release.sh", "version": version}]},
            "component": component,
            "properties": [prop("git-commit", commit)],
        },
        "components": list(unique.values()),
        "dependencies": graph,
    }


def write(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


# --- aiond and each module, two at a time (mostly waiting on cargo and dpkg) -------------------------
host = re.search(r"^host: (\S+)$", run([os.path.join(os.path.dirname(rustup_cargo), "rustc"), "-vV"]), re.M).group(1)


def aiond_sbom():
    debs = aiond_debs()
    crates, graph, direct = cargo_components(os.path.join(repo, "deps", "wasmtime"), rustup_cargo, host, {},
                                             std_version=wasmtime_rustc)
    aiond = {"type": "application", "bom-ref": "aiond", "name": "aiond", "version": version,
             "hashes": [{"alg": "SHA-256", "content": sha256(os.path.join(out, "aiond"))}],
             "licenses": [{"license": {"id": "Apache-2.0"}}]}
    graph.insert(0, {"ref": "aiond", "dependsOn": sorted({c["bom-ref"] for c in debs} | set(direct))})
    write(os.path.join(out, "aiond.cdx.json"), bom(aiond, debs + crates, graph))
    return f"aiond.cdx.json: {len(debs)} Debian packages, {len(crates) - 1} crates and the Rust std"


# Which crate builds which module: the manifest templates in modules/<crate>/ name it.
crate_of = {}
for t in glob.glob(os.path.join(repo, "modules", "*", "module*.yml")):
    found = re.search(r"^name:\s*(\S+)", open(t).read(), re.M)
    if found:
        crate_of[found.group(1)] = os.path.dirname(t)


def module_sbom(m):
    if m["name"] not in crate_of:
        sys.exit(f"release: error: no modules/*/module*.yml names module {m['name']}")
    artifact = os.path.join(out, "modules", m["artifact"])
    target = "wasm32-wasi" if m["kind"] == "wasm" else host
    comps, graph, direct = cargo_components(crate_of[m["name"]], "/usr/bin/cargo", target, {"RUSTC": "/usr/bin/rustc"})
    if m["kind"] != "wasm":
        debs = merge_debs(owned(elf_shared_libs(artifact), "dynamic", f"{m['name']} loads a library"))
        comps += debs
        direct += [c["bom-ref"] for c in debs]
    top = {"type": "application", "bom-ref": m["name"], "name": m["name"], "version": m["version"],
           "hashes": [{"alg": "SHA-256", "content": sha256(artifact)}],
           "properties": [prop("module-kind", m["kind"]), prop("target", target)]}
    graph.insert(0, {"ref": m["name"], "dependsOn": sorted(set(direct))})
    write(os.path.join(out, "modules", f"{m['name']}.cdx.json"), bom(top, comps, graph))
    return f"modules/{m['name']}.cdx.json: {len(comps)} components"


with concurrent.futures.ThreadPoolExecutor(2) as pool:
    jobs = [pool.submit(aiond_sbom)] + [pool.submit(module_sbom, m) for m in modules]
    for job in jobs:
        print(job.result(), file=sys.stderr)
PY

# Every SBOM must pass the official CycloneDX 1.5 JSON schema (shipped by the
# pinned cyclonedx-python-lib) before anything is signed.
python3 - "$out"/aiond.cdx.json "$out"/modules/*.cdx.json <<'PY'
import sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
v = JsonStrictValidator(SchemaVersion.V1_5)
bad = [(p, e) for p in sys.argv[1:] for e in [v.validate_str(open(p).read())] if e is not None]
for p, e in bad:
    print(f"release: error: {p} fails the CycloneDX 1.5 schema: {e}", file=sys.stderr)
sys.exit(1 if bad else 0)
PY

# --- signatures ---------------------------------------------------------------------------------------
# cosign sign-blob, key-based, no transparency log (keyless: docs/release.md#keyless).
# Two at a time: each one spends most of its time unlocking the key.
sign_all() {
  local logs
  logs="$(mktemp -d)"
  if ! printf '%s\0' "$@" | xargs -0 -P 2 -I{} sh -c \
    '"$0" sign-blob --yes --key "$1" --tlog-upload=false --output-signature "$2.sig" "$2" >"$3/$(basename "$2").log" 2>&1 </dev/null' \
    "$cosign" "$key" {} "$logs"; then
    cat "$logs"/*.log >&2; rm -rf "$logs"; fail "cosign sign-blob failed"
  fi
  rm -rf "$logs"
  for f in "$@"; do chmod 0644 "$f.sig"; done  # cosign writes them owner-only; they are public
}
artifacts=("$out/aiond" "$out/aiond.cdx.json")
for line in "${modules[@]}"; do
  IFS=$'\t' read -r _ artifact name _ _ <<<"$line"
  artifacts+=("$out/modules/$artifact" "$out/modules/$name.cdx.json")
done
sign_all "${artifacts[@]}"

# Module manifests as the build wrote them, but signed by the release key: the
# artifact's cosign signature and the public key, and the release SBOM.
python3 - "$out" "${modules[@]}" <<'PY'
import json, os, sys
out = sys.argv[1]
pub = open(os.path.join(out, "cosign.pub")).read()
for line in sys.argv[2:]:
    manifest, artifact, name = line.split("\t")[:3]
    m = json.load(open(manifest))
    sig = open(os.path.join(out, "modules", artifact + ".sig")).read().strip()
    m.update({"sbom": f"{name}.cdx.json", "signature": {"value": sig, "public_key": pub}})
    with open(os.path.join(out, "modules", f"{name}.module.json"), "w") as f:
        json.dump(m, f, indent=2)
        f.write("\n")
PY
manifests=()
for line in "${modules[@]}"; do
  IFS=$'\t' read -r _ _ name _ _ <<<"$line"
  manifests+=("$out/modules/$name.module.json")
  # aiond's own verifier must accept what it will be handed: digest, signature, SBOM.
  "$out/aiond" module verify "$out/modules/$name.module.json" --trusted-key "$out/cosign.pub" >/dev/null ||
    fail "aiond module verify refuses modules/$name.module.json"
done
sign_all "${manifests[@]}"

# --- checksums ------------------------------------------------------------------------------------------
(
  cd "$out"
  find . -type f ! -name SHA256SUMS ! -name SHA256SUMS.sig ! -name cosign.key ! -name .aion-release -printf '%P\n' |
    LC_ALL=C sort | xargs -d '\n' sha256sum >SHA256SUMS
)
sign_all "$out/SHA256SUMS"
log "release $version: $(($(wc -l <"$out/SHA256SUMS"))) files in $out, checksums in SHA256SUMS"
log "verify: (cd $out && sha256sum -c SHA256SUMS && cosign verify-blob --key cosign.pub --insecure-ignore-tlog --signature aiond.sig aiond)"
