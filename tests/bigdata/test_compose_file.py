"""bigdata/docker-compose.bigdata.yml is a valid Compose file (the Compose
specification's JSON schema from compose-go, as tests/e2e/test_deploy.py
checks the main one; there is no Docker engine here), once
.env.bigdata.example's values are in, and it agrees with that file and with
the tree: every variable it requires is in the example, every bind mount
exists, the example holds placeholders only."""
import re
from pathlib import Path

import yaml

from e2e import harness  # noqa: F401  (puts tests/e2e on sys.path)
from deploy_schemas import compose_validator  # tests/e2e/deploy_schemas.py

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "bigdata" / "docker-compose.bigdata.yml"
EXAMPLE = REPO / ".env.bigdata.example"


def example():
    return dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", EXAMPLE.read_text(), re.M))


def interpolate(node, env):
    """${VAR}, ${VAR:-default}, ${VAR:?message} and $$ as compose resolves them."""
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    if not isinstance(node, str):
        return node

    def sub(m):
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if name in env and env[name] != "":
            return env[name]
        if op == ":-":
            return arg
        raise AssertionError(f"${{{name}}} is required ({arg}) and .env.bigdata.example does not set it")
    return re.sub(r"\$\{([A-Z_][A-Z0-9_]*)(?:(:-|:\?)([^}]*))?\}", sub, node.replace("$$", "\0")).replace("\0", "$")


def test_the_bigdata_compose_file_is_valid_and_matches_the_example_env():
    raw = yaml.safe_load(COMPOSE.read_text())
    validator = compose_validator()
    for doc in (raw, interpolate(raw, example())):
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]
        assert not errors, "\n".join(errors)
    resolved = interpolate(raw, example())
    assert {"kafka", "clickhouse", "clickhouse-schema", "seaweedfs", "spark-streaming", "airflow",
            "superset"} <= set(resolved["services"])
    for name, svc in resolved["services"].items():
        for p in svc.get("ports", []):
            host, _, container = str(p).rpartition(":")
            assert host.isdigit() and container.isdigit(), f"{name}: port {p} does not resolve"
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith("."):
                assert (COMPOSE.parent / src).exists(), f"{name}: bind mount {src} does not exist"
        for image in [svc.get("image", "")]:
            assert re.search(r":[\w.\-]+$", image), f"{name}: image {image} not pinned to a tag"
    env = resolved["services"]["spark-streaming"]["environment"]
    for var in ("KAFKA_BROKERS", "CLICKHOUSE_URL", "S3_ENDPOINT", "S3_BUCKET", "S3_ACCESS_KEY", "S3_SECRET_KEY"):
        assert env[var], var
    assert "minio" not in COMPOSE.read_text().lower().replace("minio's server is agpl", "")


def test_the_example_env_names_the_seeds_variables_and_holds_placeholders_only():
    ex = example()
    for var in ("KAFKA_BROKERS", "CLICKHOUSE_URL", "S3_ENDPOINT", "S3_BUCKET", "S3_ACCESS_KEY", "S3_SECRET_KEY"):
        assert var in ex, var
    for k, v in ex.items():
        if re.search(r"KEY|SECRET|PASSWORD", k):
            assert v.startswith("change-me"), f"{k} must be a placeholder, not {v!r}"
