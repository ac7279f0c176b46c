"""A real Apache Kafka broker for the e2e tests: one KRaft node (broker and
controller in one JVM) on free loopback ports, its data under a given temp dir.

The jars come from scripts/install-deps.sh, which copies the pinned kafka_2.13
and its runtime dependencies from Maven Central into a cache outside the tree
(~/.cache/aionos/kafka-<version>/libs); the broker runs as
`java -cp '<libs>/*' kafka.Kafka server.properties`. Python stdlib and
confluent_kafka only.

    broker = KafkaBroker(tmp_path / "kafka").start()
    broker.brokers                      # "127.0.0.1:PORT", for bootstrap.servers
    broker.create_topic("aion.events", partitions=3)
    broker.consume("aion.events", 3)    # [{"key", "value", "headers", "partition", "offset"}, ...]
    broker.pause(); broker.resume()     # a hung broker: SIGSTOP / SIGCONT, connections kept
    broker.restart()                    # a down broker: stop() then start(), same ports and data
    broker.stop()

Both outages are reliable here: an idempotent librdkafka producer that kept
producing through a 3-70 s pause or a 3-15 s restart lost and duplicated
nothing. A pause answers again within 0.2 s of resume(); a restart takes
about 2 s. kill() is a crash (SIGKILL); start() after it recovers the log.
"""
import base64
import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

# The pinned version, from deps/versions.env (which scripts/install-deps.sh fetches).
KAFKA_VERSION = next(line.split("=", 1)[1].split()[0]
                     for line in (Path(__file__).resolve().parents[2] / "deps/versions.env").read_text().splitlines()
                     if line.startswith("KAFKA_VERSION="))

# One JVM on a 2-core machine: a small heap, the serial collector, and only the
# C1 compiler (faster start, plenty for a test broker).
JVM_FLAGS = ["-Xms64m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
             "-XX:-UsePerfData", "-Djava.awt.headless=true"]

INSTALL_HINT = "scripts/install-deps.sh installs it"

LOG4J2 = """\
status = warn
# Kafka shuts itself down on SIGTERM; log4j's own hook would cut its last lines.
shutdownHook = disable
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
# Every start would dump its ~700 settings (server.properties is beside the log).
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
"""

from conftest import free_port


def kafka_libs():
    """The dir of jars install-deps.sh fills; AION_KAFKA_LIBS overrides it."""
    if os.environ.get("AION_KAFKA_LIBS"):
        return Path(os.environ["AION_KAFKA_LIBS"])
    root = os.environ.get("AION_CACHE_DIR") or \
        os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "aionos")
    return Path(root) / f"kafka-{KAFKA_VERSION}" / "libs"


def find_java():
    java = shutil.which("java")
    if not java:
        raise RuntimeError(f"java is not installed: the Kafka broker needs Java 17+ ({INSTALL_HINT})")
    return java


def _cds_archive(java, libs):
    """Where the broker's class-data archive (Java's AppCDS) lives, beside the
    jars: the first broker writes it as it exits, and every later start (and
    storage format) maps it, about a second faster. Keyed by the JVM build and
    flags, so another JDK makes its own; None when the cache is not writable."""
    real = Path(os.path.realpath(java))
    jvm = real.parent.parent / "lib" / "server" / "libjvm.so"
    st = (jvm if jvm.exists() else real).stat()
    key = hashlib.sha1(f"{real}|{st.st_size}|{st.st_mtime_ns}|{' '.join(JVM_FLAGS)}".encode()).hexdigest()[:12]
    return libs.parent / f"broker-{key}.jsa" if os.access(libs.parent, os.W_OK) else None


def _cluster_id():
    # What kafka-storage random-uuid prints: 16 random bytes, url-safe base64, no
    # padding, never starting with '-'.
    while True:
        cid = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _client_logger():
    # librdkafka's connection-refused chatter while the broker starts goes nowhere.
    log = logging.getLogger("kafka_broker.client")
    log.addHandler(logging.NullHandler())
    log.propagate = False
    return log


def _text(b):
    return None if b is None else b.decode("utf-8", "replace")


class KafkaBroker:
    """One KRaft broker+controller process; its ports and data dir live as long
    as the object, across stop()/start()."""

    def __init__(self, tmp, node_id=1):
        self.tmp = Path(tmp)
        self.node_id = node_id
        self.data_dir = self.tmp / "data"
        self.config_path = self.tmp / "server.properties"
        self.log_path = self.tmp / "kafka.log"
        self.port = None
        self.controller_port = None
        self.proc = None
        self.paused = False
        self.start_seconds = None  # wall time of the last start(), for the curious
        self._dump = None
        self._log_offset = 0

    @property
    def brokers(self):
        return f"127.0.0.1:{self.port}"

    # ---- lifecycle -------------------------------------------------------

    def start(self, timeout=60):
        """Starts the broker (formatting the storage the first time) and waits
        until it answers a metadata request. On a second call after stop(), the
        same ports and data are used again."""
        if self.proc and self.proc.poll() is None:
            return self
        t0 = time.monotonic()
        libs = kafka_libs()
        if not any(libs.glob("kafka_2.13-*.jar")):
            raise RuntimeError(f"no Kafka {KAFKA_VERSION} jars in {libs} ({INSTALL_HINT})")
        java = find_java()
        self.tmp.mkdir(parents=True, exist_ok=True)
        fresh = self.port is None
        if fresh:
            self.port, self.controller_port = free_port(), free_port()
            while self.controller_port == self.port:
                self.controller_port = free_port()
            self._write_config()
        cmd = [java, *JVM_FLAGS, f"-Dlog4j2.configurationFile={self.tmp / 'log4j2.properties'}"]
        archive = _cds_archive(java, libs)
        if archive and archive.exists():
            cmd.append(f"-XX:SharedArchiveFile={archive}")
        cmd += ["-cp", f"{libs}/*"]
        if not (self.data_dir / "meta.properties").exists():
            fmt = subprocess.run([*cmd, "kafka.tools.StorageTool", "format", "--standalone",
                                  "--cluster-id", _cluster_id(), "--config", str(self.config_path)],
                                 capture_output=True, text=True, timeout=60)
            if fmt.returncode != 0:
                raise RuntimeError(f"kafka-storage format failed ({fmt.returncode}):\n{fmt.stdout}\n{fmt.stderr}")
        self._dump = None
        if archive and not archive.exists():
            # This run writes the class-data archive when it exits; stop() moves it in place.
            self._dump = archive.with_name(f"{archive.name}.{os.getpid()}.{id(self)}.tmp")
            cmd.insert(1, f"-XX:ArchiveClassesAtExit={self._dump}")
        for attempt in range(5):
            with open(self.log_path, "ab") as log:
                log.write(f"---- start {time.strftime('%H:%M:%S')} ----\n".encode())
                log.flush()
                self._log_offset = log.tell()
                self.proc = subprocess.Popen([*cmd, "kafka.Kafka", str(self.config_path)],
                                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            self.paused = False
            try:
                self._wait_ready(t0 + timeout)
                self.start_seconds = time.monotonic() - t0
                return self
            except RuntimeError:
                # After a restart the old ports must be taken again (clients know
                # them); one may briefly be held by some other socket.
                if self.proc.poll() is None or "Address already in use" not in self._run_log() or attempt == 4:
                    self.stop()
                    raise
                time.sleep(0.5)

    def stop(self, timeout=10):
        """SIGTERM (a controlled shutdown, logs flushed), SIGKILL after `timeout` s."""
        p = self.proc
        if p is not None and p.poll() is None:
            if self.paused:
                p.send_signal(signal.SIGCONT)
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.paused = False
        if p is not None:
            self._keep_archive()

    def kill(self):
        """SIGKILL: a crash; the next start() recovers the logs."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.paused = False
        self._keep_archive()

    def restart(self, timeout=60):
        """An outage that clients see as refused connections: stop() then start()
        on the same ports and log dir; every committed message survives."""
        self.stop()
        return self.start(timeout)

    def pause(self):
        """An outage that clients see as a hung broker: SIGSTOP. Connections stay
        open and requests go unanswered until resume()."""
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self, timeout=30):
        """SIGCONT, then waits until the broker answers again."""
        self.proc.send_signal(signal.SIGCONT)
        self.paused = False
        self._wait_ready(time.monotonic() + timeout)
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- clients ---------------------------------------------------------

    def admin(self):
        from confluent_kafka.admin import AdminClient
        return AdminClient({"bootstrap.servers": self.brokers, "logger": _client_logger()})

    def create_topic(self, name, partitions=3, timeout=30):
        """Creates the topic (no error if it exists) and waits until every
        partition has a leader."""
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import NewTopic
        admin = self.admin()
        fut = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)],
                                  operation_timeout=timeout, request_timeout=timeout)[name]
        # exception(), not result(): a raised error would tie the future, its
        # traceback and the caller's frame (with its clients) into a cycle.
        err = fut.exception(timeout)
        if err is not None and err.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise KafkaException(err.args[0])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            t = admin.list_topics(name, timeout=5).topics.get(name)
            if t and not t.error and t.partitions and all(p.leader >= 0 for p in t.partitions.values()):
                return t
            time.sleep(0.1)
        raise RuntimeError(f"topic {name} has no leader after {timeout}s")

    def consume(self, topic, min_count, timeout=30):
        """Reads `topic` from the beginning with a fresh consumer group until at
        least min_count messages arrived (min_count <= 0: until the end of every
        partition) or `timeout` s passed; returns what it read, in arrival order
        (each partition in offset order), as dicts with key, value (parsed JSON,
        else the text), headers (dict of text), partition and offset."""
        from confluent_kafka import Consumer, KafkaError
        c = Consumer({
            "bootstrap.servers": self.brokers,
            "group.id": f"kafka-broker-fixture-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "topic.metadata.refresh.interval.ms": 500,
            "logger": _client_logger(),
        })
        out, at_eof = [], set()
        try:
            c.subscribe([topic])
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                m = c.poll(min(0.2, max(0.0, deadline - time.monotonic())))
                if m is None:
                    continue
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        at_eof.add(m.partition())
                        assigned = {tp.partition for tp in c.assignment()}
                        if min_count <= 0 and assigned and assigned <= at_eof:
                            break
                    continue  # e.g. the topic is not created yet
                at_eof.discard(m.partition())
                out.append({
                    "key": _text(m.key()),
                    "value": self._value(m.value()),
                    "headers": {k: _text(v) for k, v in (m.headers() or [])},
                    "partition": m.partition(),
                    "offset": m.offset(),
                })
                if 0 < min_count <= len(out):
                    break
        finally:
            c.close()
        return out

    @staticmethod
    def _value(b):
        if b is None:
            return None
        s = b.decode("utf-8", "replace")
        try:
            return json.loads(s)
        except ValueError:
            return s

    # ---- diagnostics -----------------------------------------------------

    def log_tail(self, chars=4000):
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def rss_mb(self):
        """The broker JVM's resident memory, in MiB."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return None

    # ---- internals -------------------------------------------------------

    def _write_config(self):
        (self.tmp / "log4j2.properties").write_text(LOG4J2)
        self.config_path.write_text(f"""\
process.roles=broker,controller
node.id={self.node_id}
listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}
log.dirs={self.data_dir}
auto.create.topics.enable=true
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
# The log cleaner (compacted topics such as __consumer_offsets) would take 128 MiB of heap.
log.cleaner.dedupe.buffer.size=16777216
""")

    def _run_log(self):
        """The log of the current (or last) run only."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def _failure_report(self):
        text = self._run_log()
        lines = text.splitlines()
        errors = [i for i, line in enumerate(lines) if " ERROR " in line or " FATAL " in line][:3]
        first = "\n".join("\n".join(lines[i:i + 3]) for i in errors)
        return (f"first errors:\n{first}\n" if first else "") + f"log tail:\n{text[-3000:]}"

    def _keep_archive(self):
        dump, self._dump = self._dump, None
        if not dump:
            return
        # Written only by a JVM that exited by itself (SIGTERM included), not a killed one.
        if self.proc.returncode != -signal.SIGKILL and dump.exists() and dump.stat().st_size > 1 << 20:
            os.replace(dump, dump.with_name(dump.name.split(".jsa.")[0] + ".jsa"))
        else:
            dump.unlink(missing_ok=True)

    def _wait_ready(self, deadline):
        from confluent_kafka import KafkaException
        admin = self.admin()
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the Kafka broker exited with {self.proc.returncode} "
                                   f"(log {self.log_path}):\n{self._failure_report()}")
            try:
                md = admin.list_topics(timeout=max(0.5, min(2.0, deadline - time.monotonic())))
                if self.node_id in md.brokers:
                    return
                last = f"metadata lists brokers {list(md.brokers)}"
            except KafkaException as e:
                last = str(e)
            time.sleep(0.1)
        raise RuntimeError(f"the Kafka broker on {self.brokers} did not answer within the timeout "
                           f"(last: {last}; log {self.log_path}):\n{self._failure_report()}")
