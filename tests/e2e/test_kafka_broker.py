"""The real Kafka broker the Kafka sink e2e runs against (kafka_broker.py):
it starts, takes keyed JSON messages with headers, gives them back, keeps them
across a restart and a pause, and Debian's librdkafka 2.0 (what aiond links)
speaks to it."""
import ctypes
import ctypes.util
import json
import re
import shutil
import time
from pathlib import Path

import pytest

from kafka_broker import KAFKA_VERSION, KafkaBroker, kafka_libs

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def kafka_broker(tmp_path):
    if not shutil.which("java"):
        pytest.fail("java is not installed: the Kafka broker needs Java 17+ (scripts/install-deps.sh installs it)")
    if not any(kafka_libs().glob("kafka_2.13-*.jar")):
        pytest.fail(f"no Kafka {KAFKA_VERSION} jars in {kafka_libs()} (scripts/install-deps.sh fetches them)")
    b = KafkaBroker(tmp_path / "kafka").start()
    yield b
    b.stop()


def produce(brokers, topic, messages, **conf):
    """Sends (key, value, headers) tuples; returns the delivery reports."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": brokers, "enable.idempotence": True, "acks": "all",
                  "linger.ms": 5, **conf})
    reports = []
    for key, value, headers in messages:
        p.produce(topic, key=key, value=json.dumps(value), headers=headers,
                  on_delivery=lambda err, msg: reports.append((err, msg.partition(), msg.offset())))
    assert p.flush(30) == 0, "messages still queued after 30 s"
    assert [r for r in reports if r[0] is not None] == []
    return reports


EVENTS = [(f"task-{i % 3}", {"type": "task.succeeded", "n": i, "text": "héllo"}, {"event": "task", "n": str(i)})
          for i in range(6)]


def test_the_pinned_version_is_the_one_install_deps_fetches():
    m = re.search(r"^KAFKA_VERSION=(\S+)", (REPO / "deps/versions.env").read_text(), re.M)
    assert m and m.group(1) == KAFKA_VERSION
    assert "kafka-$KAFKA_VERSION" in (REPO / "scripts/install-deps.sh").read_text()


def test_keyed_json_messages_come_back_and_survive_a_restart(kafka_broker):
    b = kafka_broker
    assert re.fullmatch(r"127\.0\.0\.1:\d+", b.brokers)
    produce(b.brokers, "aion.events", EVENTS)  # the topic is created on first use
    got = b.consume("aion.events", len(EVENTS))
    assert len(got) == len(EVENTS)
    assert sorted(m["value"]["n"] for m in got) == list(range(6))
    by_n = {m["value"]["n"]: m for m in got}
    for key, value, headers in EVENTS:
        m = by_n[value["n"]]
        assert (m["key"], m["value"], m["headers"]) == (key, value, headers)
    # The broker's default of 3 partitions; one key always lands on one partition.
    assert {m["partition"] for m in got} <= {0, 1, 2}
    for key in {k for k, _, _ in EVENTS}:
        assert len({m["partition"] for m in got if m["key"] == key}) == 1
    before = sorted((m["partition"], m["offset"], m["value"]["n"]) for m in got)

    port = b.port
    b.restart()
    assert b.port == port
    again = b.consume("aion.events", len(EVENTS))
    assert sorted((m["partition"], m["offset"], m["value"]["n"]) for m in again) == before
    produce(b.brokers, "aion.events", [("task-9", {"n": 9}, {})])
    assert len(b.consume("aion.events", len(EVENTS) + 1)) == len(EVENTS) + 1


def test_a_producer_rides_out_a_paused_broker(kafka_broker):
    from confluent_kafka import Producer
    b = kafka_broker
    b.create_topic("aion.pause", partitions=3)
    produce(b.brokers, "aion.pause", EVENTS[:2])
    p = Producer({"bootstrap.servers": b.brokers, "enable.idempotence": True, "acks": "all",
                  "message.timeout.ms": 60000})
    reports = []
    b.pause()
    try:
        p.produce("aion.pause", key="late", value=json.dumps({"late": True}),
                  on_delivery=lambda err, msg: reports.append(err))
        p.flush(3)
        assert reports == []  # the broker is stopped: nothing is acknowledged
    finally:
        b.resume()
    assert p.flush(30) == 0 and reports == [None]
    got = b.consume("aion.pause", 3)
    assert sorted(m["key"] for m in got) == ["late", "task-0", "task-1"]


def test_create_topic_and_a_consume_that_reads_to_the_end(kafka_broker):
    b = kafka_broker
    t = b.create_topic("aion.five", partitions=5)
    assert len(t.partitions) == 5
    b.create_topic("aion.five", partitions=5)  # exists already: no error
    t0 = time.monotonic()
    assert b.consume("aion.five", 0, timeout=20) == []  # empty: returns at the end, not the timeout
    assert time.monotonic() - t0 < 15
    produce(b.brokers, "aion.five", [("k", "plain", {})])
    b.consume("aion.five", 1)
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": b.brokers})
    p.produce("aion.five", key=b"raw", value=b"not json")
    p.flush(10)
    values = sorted(m["value"] for m in b.consume("aion.five", 0, timeout=20))
    assert values == ["not json", "plain"]


# ---- Debian's librdkafka (what aiond links) against this broker ----------
# confluent_kafka bundles a newer librdkafka; Kafka 4 dropped the oldest protocol
# versions (KIP-896), so this checks the 2.0 C library itself, through ctypes.

class _Vu(ctypes.Structure):
    class _U(ctypes.Union):
        class _Mem(ctypes.Structure):
            _fields_ = [("ptr", ctypes.c_void_p), ("size", ctypes.c_size_t)]

        class _Header(ctypes.Structure):
            _fields_ = [("name", ctypes.c_char_p), ("val", ctypes.c_void_p), ("size", ctypes.c_ssize_t)]

        _fields_ = [("cstr", ctypes.c_char_p), ("i", ctypes.c_int), ("mem", _Mem), ("header", _Header),
                    ("_pad", ctypes.c_char * 64)]

    _fields_ = [("vtype", ctypes.c_int), ("u", _U)]


class _Message(ctypes.Structure):
    _fields_ = [("err", ctypes.c_int), ("rkt", ctypes.c_void_p), ("partition", ctypes.c_int32),
                ("payload", ctypes.c_void_p), ("len", ctypes.c_size_t), ("key", ctypes.c_void_p),
                ("key_len", ctypes.c_size_t), ("offset", ctypes.c_int64), ("_private", ctypes.c_void_p)]


VTYPE_TOPIC, VTYPE_VALUE, VTYPE_KEY, VTYPE_MSGFLAGS, VTYPE_HEADER = 1, 4, 5, 7, 9
MSG_F_COPY = 0x2


def test_debian_librdkafka_produces_to_this_broker(kafka_broker):
    b = kafka_broker
    path = ctypes.util.find_library("rdkafka")
    if not path:
        pytest.fail("Debian's librdkafka is not installed (scripts/install-deps.sh installs librdkafka-dev)")
    rk_lib = ctypes.CDLL(path)
    rk_lib.rd_kafka_version_str.restype = ctypes.c_char_p
    version = rk_lib.rd_kafka_version_str().decode()
    rk_lib.rd_kafka_conf_new.restype = ctypes.c_void_p
    rk_lib.rd_kafka_conf_set.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
                                         ctypes.c_char_p, ctypes.c_size_t]
    rk_lib.rd_kafka_new.restype = ctypes.c_void_p
    rk_lib.rd_kafka_new.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    rk_lib.rd_kafka_produceva.restype = ctypes.c_void_p
    rk_lib.rd_kafka_produceva.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Vu), ctypes.c_size_t]
    rk_lib.rd_kafka_flush.argtypes = [ctypes.c_void_p, ctypes.c_int]
    rk_lib.rd_kafka_destroy.argtypes = [ctypes.c_void_p]
    dr_cb_t = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(_Message), ctypes.c_void_p)
    rk_lib.rd_kafka_conf_set_dr_msg_cb.argtypes = [ctypes.c_void_p, dr_cb_t]

    # The producer settings recommended for aiond's sink.
    settings = {"bootstrap.servers": b.brokers, "client.id": "aiond-test", "enable.idempotence": "true",
                "acks": "all", "compression.type": "lz4", "linger.ms": "20", "message.timeout.ms": "30000",
                "socket.keepalive.enable": "true", "reconnect.backoff.max.ms": "2000"}
    errstr = ctypes.create_string_buffer(512)
    conf = rk_lib.rd_kafka_conf_new()
    for k, v in settings.items():
        assert rk_lib.rd_kafka_conf_set(conf, k.encode(), v.encode(), errstr, 512) == 0, errstr.value
    reports = []
    cb = dr_cb_t(lambda rk, m, _: reports.append((m.contents.err, m.contents.partition, m.contents.offset)))
    rk_lib.rd_kafka_conf_set_dr_msg_cb(conf, cb)
    rk = rk_lib.rd_kafka_new(0, conf, errstr, 512)  # RD_KAFKA_PRODUCER
    assert rk, errstr.value
    try:
        keep = []
        for i in range(3):
            key, value = f"lib-{i}".encode(), json.dumps({"lib": version, "i": i}).encode()
            keep += [key, value]
            vus = (_Vu * 5)()
            vus[0].vtype, vus[0].u.cstr = VTYPE_TOPIC, b"aion.librdkafka"
            vus[1].vtype, vus[1].u.mem.ptr, vus[1].u.mem.size = VTYPE_KEY, ctypes.cast(key, ctypes.c_void_p), len(key)
            vus[2].vtype, vus[2].u.mem.ptr = VTYPE_VALUE, ctypes.cast(value, ctypes.c_void_p)
            vus[2].u.mem.size = len(value)
            vus[3].vtype, vus[3].u.header.name = VTYPE_HEADER, b"event"
            vus[3].u.header.val, vus[3].u.header.size = ctypes.cast(b"task", ctypes.c_void_p), 4
            vus[4].vtype, vus[4].u.i = VTYPE_MSGFLAGS, MSG_F_COPY
            assert not rk_lib.rd_kafka_produceva(rk, vus, 5)
        assert rk_lib.rd_kafka_flush(rk, 30000) == 0, f"librdkafka {version}: messages still queued"
    finally:
        rk_lib.rd_kafka_destroy(rk)
    assert [r[0] for r in reports] == [0, 0, 0], f"librdkafka {version} delivery errors: {reports}"
    got = b.consume("aion.librdkafka", 3)
    assert sorted((m["key"], m["value"]["i"], m["headers"]["event"]) for m in got) == \
        [("lib-0", 0, "task"), ("lib-1", 1, "task"), ("lib-2", 2, "task")]
    print(f"librdkafka {version} -> Kafka {KAFKA_VERSION}: ok")
