"""The TaskStore conformance suite (tests/unit/task_store_conformance_test.cpp)
against a real PostgreSQL 15: starts a throwaway cluster and runs the suite's
PostgreSQL half with AION_TEST_POSTGRES_DSN pointing at it. Each test makes
and drops a schema of its own."""
import os
import re
import subprocess
from pathlib import Path

import pytest

from postgres_server import PostgresServer

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("AION_BUILD_DIR", REPO / "build"))
SUITE = BUILD / "tests" / "unit" / "unit_store_conformance"
PG_FILTER = "*Postgres*:*Pg*"


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    server = PostgresServer(tmp_path_factory.mktemp("pg")).start()
    yield server
    server.stop()


def run_suite(dsn, gtest_filter):
    assert SUITE.exists(), f"{SUITE} missing: build first (scripts/build.sh)"
    env = dict(os.environ, AION_TEST_POSTGRES_DSN=dsn)
    return subprocess.run([str(SUITE), f"--gtest_filter={gtest_filter}", "--gtest_color=no"],
                          env=env, capture_output=True, text=True, timeout=600)


def test_conformance_suite_passes_against_postgres(postgres):
    r = run_suite(postgres.dsn, PG_FILTER)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    assert "[  SKIPPED ]" not in out, out[-6000:]
    passed = re.search(r"\[  PASSED  \] (\d+) tests?", out)
    assert passed and int(passed.group(1)) > 10, out[-6000:]
    # Every typed case ran for PostgreSQL too, not only the PG-specific ones.
    assert "TaskStoreConformance/Postgres." in out
    assert "[       OK ] TaskStoreConformance/Postgres.OutboxKeepsCommitOrderAndTrims" in out


def test_tests_leave_no_schema_behind(postgres):
    r = run_suite(postgres.dsn, "TaskStoreConformance/Postgres.CreateAndGetRoundTrip")
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    psql = postgres.bin / "psql"
    q = subprocess.run([str(psql), "-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres",
                        "-d", "postgres", "-Atc",
                        "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 't\\_%'"],
                       capture_output=True, text=True, timeout=60)
    assert q.returncode == 0, q.stderr
    assert q.stdout.strip() == "0"
