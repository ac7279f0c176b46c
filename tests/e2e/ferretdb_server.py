"""A real MongoDB-wire-protocol server for the e2e tests: FerretDB (Apache-2.0)
on its SQLite backend, one process on a free loopback port, its data under a
given dir. No MongoDB server is packaged for these machines; FerretDB is what
aiond's MongoDB document store (AION_CONTROL_MONGO_DSN) is tested against.

scripts/install-deps.sh builds the FerretDB version deps/versions.env pins
(FERRETDB_VERSION) into $(go env GOPATH)/bin; AION_FERRETDB_BIN overrides the
binary. Python stdlib only (pymongo is used by the tests, not here).

    server = FerretDB(tmp_path / "ferretdb").start()
    server.dsn      # "mongodb://127.0.0.1:PORT/aion"
    server.stop()
"""
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from conftest import free_port

REPO = Path(__file__).resolve().parents[2]
FERRETDB_VERSION = next(line.split("=", 1)[1].split()[0]
                        for line in (REPO / "deps/versions.env").read_text().splitlines()
                        if line.startswith("FERRETDB_VERSION="))
INSTALL_HINT = "scripts/install-deps.sh builds it (FERRETDB_VERSION in deps/versions.env)"


def ferretdb_bin():
    """The ferretdb binary, or None."""
    if os.environ.get("AION_FERRETDB_BIN"):
        return Path(os.environ["AION_FERRETDB_BIN"])
    gopath = os.environ.get("GOPATH") or os.path.expanduser("~/go")
    p = Path(gopath) / "bin" / "ferretdb"
    if p.exists():
        return p
    found = shutil.which("ferretdb")
    return Path(found) if found else None


class FerretDB:
    def __init__(self, root, database="aion"):
        self.root = Path(root)
        self.database = database
        self.bin = ferretdb_bin()
        if self.bin is None or not self.bin.exists():
            raise RuntimeError(f"ferretdb not found: {INSTALL_HINT}")
        self.port = None
        self.proc = None
        self.log = self.root / "ferretdb.log"

    @property
    def dsn(self):
        return f"mongodb://127.0.0.1:{self.port}/{self.database}"

    def version(self):
        out = subprocess.run([str(self.bin), "--version"], capture_output=True, text=True,
                             timeout=30).stdout
        return next((l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("version:")), "")

    def start(self, timeout=30):
        v = self.version()
        if v != FERRETDB_VERSION:
            raise RuntimeError(f"{self.bin} is FerretDB {v or '?'}, not {FERRETDB_VERSION}: {INSTALL_HINT}")
        data = self.root / "data"
        data.mkdir(parents=True, exist_ok=True)
        if self.port is None:
            self.port = free_port()
        self.proc = subprocess.Popen(
            [str(self.bin), "--handler=sqlite", f"--sqlite-url=file:{data}/",
             f"--listen-addr=127.0.0.1:{self.port}", "--debug-addr=-", f"--state-dir={self.root}",
             "--telemetry=disable", "--log-level=warn"],
            stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ferretdb exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"ferretdb did not listen on {self.port} within {timeout}s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
