"""Real engines for the big-data tests, each on free loopback ports under a
temp dir, stopped by the caller: ClickHouse (Debian's clickhouse-server 18.16),
SeaweedFS's S3 server, and the Spark streaming job as a child process.
Kafka is tests/e2e/kafka_broker.py's broker.

Where the tools live is decided by scripts/test-bigdata.sh, which installs them
and exports AION_BIGDATA_CACHE (default ~/.cache/aionos/bigdata).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bigdata" / "sql"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e import harness  # noqa: E402

free_port = harness.free_port

CACHE = Path(os.environ.get("AION_BIGDATA_CACHE")
             or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aionos" / "bigdata")
SPARK_PY = CACHE / "venv-spark" / "bin" / "python"
AIRFLOW_BIN = CACHE / "venv-airflow" / "bin"
WEED = CACHE / "bin" / "weed"
SPARK_KAFKA_JARS = CACHE / "spark-kafka-jars"
STREAM_JOB = REPO / "bigdata" / "pipelines" / "streaming" / "aion_stream.py"
HINT = "scripts/test-bigdata.sh installs it"


def wait_port(port, proc, deadline, what, log):
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{Path(log).read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port}:\n{Path(log).read_text()[-3000:]}")


def stop_proc(proc, timeout=15):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class ClickHouseServer:
    CONFIG = """<yandex>
  <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/error.log</errorlog><console>0</console></logger>
  <http_port>{http}</http_port>
  <tcp_port>{tcp}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
</yandex>
"""
    USERS = """<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
"""

    def __init__(self, tmp):
        self.dir = Path(tmp)
        self.http_port = None
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout=60):
        exe = shutil.which("clickhouse-server") or "/usr/sbin/clickhouse-server"
        if not os.path.exists(exe):
            raise RuntimeError(f"clickhouse-server is not installed ({HINT})")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.http_port, tcp = free_port(), free_port()
        (self.dir / "config.xml").write_text(self.CONFIG.format(d=self.dir, http=self.http_port, tcp=tcp))
        (self.dir / "users.xml").write_text(self.USERS)
        log = self.dir / "stdout.log"
        self.proc = subprocess.Popen([exe, f"--config-file={self.dir / 'config.xml'}"], stdout=open(log, "ab"),
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + timeout
        wait_port(self.http_port, self.proc, deadline, "clickhouse-server", self.dir / "error.log")
        while time.time() < deadline:
            try:
                if self.query("SELECT 1").strip() == "1":
                    return self
            except Exception:
                time.sleep(0.1)
        raise RuntimeError("clickhouse-server did not answer")

    def query(self, sql, data=None):
        from apply import ClickHouse
        return ClickHouse(self.url).query(sql, data)

    def rows(self, sql):
        """[{column: value}] of a SELECT (JSONEachRow)."""
        text = self.query(sql + " FORMAT JSONEachRow")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def scalar(self, sql):
        return self.query(sql).strip()

    def stop(self):
        stop_proc(self.proc, 30)


class SeaweedS3:
    """`weed server -s3`: master, volume, filer and the S3 gateway in one
    process, with one identity (access/secret key) allowed everything."""

    access_key = "aion-test-access"
    secret_key = "aion-test-secret-0123456789"

    def __init__(self, tmp):
        self.dir = Path(tmp)
        self.port = None
        self.proc = None

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=90):
        if not WEED.exists():
            raise RuntimeError(f"no SeaweedFS at {WEED} ({HINT})")
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "data").mkdir(exist_ok=True)
        ports = set()
        while len(ports) < 8:
            ports.add(free_port())
        p = sorted(ports)
        self.port = p[3]
        cfg = {"identities": [{"name": "aion", "credentials": [
            {"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
        (self.dir / "s3.json").write_text(json.dumps(cfg))
        log = self.dir / "weed.log"
        cmd = [str(WEED), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={self.dir / 'data'}",
               # every port explicit (the gRPC ones default to HTTP port + 10000)
               f"-master.port={p[0]}", f"-master.port.grpc={p[4]}", f"-volume.port={p[1]}",
               f"-volume.port.grpc={p[5]}", f"-filer.port={p[2]}", f"-filer.port.grpc={p[6]}",
               "-master.volumeSizeLimitMB=64", "-volume.max=8", "-master.telemetry=false",
               "-s3", f"-s3.port={self.port}", f"-s3.port.grpc={p[7]}", "-s3.port.iceberg=0", "-s3.port.lance=0",
               f"-s3.config={self.dir / 's3.json'}"]
        self.proc = subprocess.Popen(cmd, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        wait_port(self.port, self.proc, time.time() + timeout, "weed server -s3", log)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class StreamJob:
    """bigdata/pipelines/streaming/aion_stream.py in the Spark venv, as its own
    process group (the Python driver and its JVM), so kill() is a crash."""

    def __init__(self, tmp, env):
        self.dir = Path(tmp)
        self.env = env
        self.proc = None
        self.log_path = self.dir / "stream.log"
        self.starts = 0

    def start(self):
        if not SPARK_PY.exists():
            raise RuntimeError(f"no Spark venv at {SPARK_PY} ({HINT})")
        self.dir.mkdir(parents=True, exist_ok=True)
        e = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK", "SPARK_"))}
        e.update({"CHECKPOINT_DIR": str(self.dir / "checkpoint"), "SPARK_KAFKA_JARS": str(SPARK_KAFKA_JARS),
                  "TRIGGER_SECONDS": "1", "AION_POLICY_DIR": str(REPO / "policies"),
                  "PYSPARK_PYTHON": str(SPARK_PY), "SPARK_LOCAL_IP": "127.0.0.1"})
        e.update(self.env)
        with open(self.log_path, "ab") as log:
            log.write(f"---- start {self.starts} ----\n".encode())
            self.proc = subprocess.Popen(["nice", str(SPARK_PY), str(STREAM_JOB)], env=e, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        self.starts += 1
        return self

    def batches(self):
        """The per-batch lines the job printed (all runs)."""
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith('{"batch"'):
                out.append(json.loads(line))
        return out

    def wait_started(self, timeout=180):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the streaming job exited with {self.proc.returncode}:\n{self.tail()}")
            if '{"started"' in self.log_path.read_text(errors="replace").split(f"---- start {self.starts - 1} ----")[-1]:
                return self
            time.sleep(0.2)
        raise RuntimeError(f"the streaming job did not start:\n{self.tail()}")

    def tail(self, chars=5000):
        return self.log_path.read_text(errors="replace")[-chars:]

    def kill(self):
        """A crash: SIGKILL to the driver and its JVM at once."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
