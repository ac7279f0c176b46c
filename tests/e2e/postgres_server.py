"""A throwaway PostgreSQL 15 cluster for the e2e tests: initdb into a temp
dir, one postmaster on a free loopback port (trust auth, fsync off), its
socket in the same dir. Python stdlib only.

    server = PostgresServer(tmp_path / "pg").start()
    server.dsn      # "host=127.0.0.1 port=PORT user=postgres dbname=postgres"
    server.stop()

initdb and postgres refuse to run as root: as root the cluster runs as an
unprivileged user (`aionpg`, created with useradd if missing) in a dir of its
own under /tmp, removed by stop(). The binaries come from Debian's postgresql-15 package
(scripts/install-deps.sh installs `postgresql`); AION_PG_BIN overrides their
dir.
"""
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

INSTALL_HINT = "scripts/install-deps.sh installs it (apt package postgresql)"
SERVICE_USER = "aionpg"

from conftest import free_port


def pg_bin_dir():
    """The dir holding initdb, pg_ctl and pg_isready, or None."""
    if os.environ.get("AION_PG_BIN"):
        return Path(os.environ["AION_PG_BIN"])
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / "initdb").exists():
            return d
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _service_user():
    """The unprivileged user a root caller runs the cluster as."""
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        SERVICE_USER], check=True, capture_output=True)
    return pwd.getpwnam(SERVICE_USER)


class PostgresServer:
    def __init__(self, root):
        self.root = Path(root)
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = None
        self.bin = pg_bin_dir()
        if self.bin is None or not (self.bin / "initdb").exists():
            raise RuntimeError(f"PostgreSQL server binaries not found: {INSTALL_HINT}")
        self._as_user = []
        self._own_root = None
        if os.geteuid() == 0:
            # The caller's temp dir may not be reachable by another user (pytest's
            # are 0700): the cluster gets a dir of its own in /tmp instead, owned
            # by the service user and removed by stop().
            pw = _service_user()
            self._as_user = ["runuser", "-u", SERVICE_USER, "--"]
            self._own_root = Path(tempfile.mkdtemp(prefix="aion-pg-"))
            os.chown(self._own_root, pw.pw_uid, pw.pw_gid)
            self.root = self._own_root
            self.data = self.root / "data"
            self.log = self.root / "postgres.log"

    @property
    def dsn(self):
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def _run(self, *args, check=True, timeout=120):
        return subprocess.run([*self._as_user, *map(str, args)], check=check, timeout=timeout,
                              capture_output=True, text=True)

    def start(self, timeout=60):
        self.root.mkdir(parents=True, exist_ok=True)
        if not (self.data / "PG_VERSION").exists():
            r = self._run(self.bin / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust",
                          "--encoding=UTF8", "--locale=C.UTF-8", check=False)
            if r.returncode != 0:
                raise RuntimeError(f"initdb failed: {r.stdout}{r.stderr}")
        self.port = free_port()
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c full_page_writes=off -c max_connections=200")
        r = self._run(self.bin / "pg_ctl", "-D", self.data, "-l", self.log, "-o", opts, "-w",
                      "-t", str(timeout), "start", check=False)
        if r.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {r.stdout}{r.stderr}\n{self.log_text()}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = self._run(self.bin / "pg_isready", "-h", "127.0.0.1", "-p", self.port,
                              "-U", "postgres", check=False)
            if ready.returncode == 0:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"PostgreSQL not ready in {timeout}s:\n{self.log_text()}")

    def log_text(self):
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self):
        if (self.data / "postmaster.pid").exists():
            self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop",
                      check=False)
        if self._own_root is not None:
            shutil.rmtree(self._own_root, ignore_errors=True)
            self._own_root = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
