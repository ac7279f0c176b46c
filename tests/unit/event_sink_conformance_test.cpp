// The EventSink contract (src/events/event_sink.h), one suite run through
// OutboxRelay against every sink (STYLE.md §3): Kafka against librdkafka's
// in-process mock cluster (tests/e2e/test_kafka.py runs a real broker), and
// the JSON-lines files. Records leave the outbox only once the sink took them,
// in order per task, the same bytes on every sink, and survive an outage and
// a restart.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <boost/json.hpp>
#include <fstream>
#include <future>
#include <map>
#include <thread>

#include "common/ids.h"
#include "events/file_sink.h"
#include "events/kafka_sink.h"
#include "store/outbox.h"
#include "store/sqlite_store.h"
#include "temp_dir.h"

namespace aion::events {
namespace {
namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

struct Message {
  std::string key;  // Kafka's message key; the files keep none (taskId is in the body)
  json::object value;
  std::string traceparent;  // a Kafka header
};

// A mock cluster (one broker) and a consumer reading it from the start.
class KafkaBackend {
 public:
  static constexpr bool kHasKeys = true;
  KafkaBackend() {
    char err[256];
    handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), err, sizeof err);
    cluster_ = rd_kafka_mock_cluster_new(handle_, 1);
    rd_kafka_mock_topic_create(cluster_, "aion.task-events", 3, 1);
    rd_kafka_mock_topic_create(cluster_, "aion.usage", 3, 1);
  }
  ~KafkaBackend() {
    if (consumer_) {
      rd_kafka_consumer_close(consumer_);
      rd_kafka_destroy(consumer_);
    }
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(handle_);
  }
  Result<std::unique_ptr<EventSink>> open() {
    auto s = KafkaSink::open({.brokers = brokers(), .deliveryTimeout = 1000ms});
    if (!s) return std::unexpected(s.error());
    return std::unique_ptr<EventSink>(std::move(*s));
  }
  //! A sink whose engine cannot be reached at start.
  Result<std::unique_ptr<EventSink>> openUnusable() {
    auto s = KafkaSink::open({.brokers = "127.0.0.1:1", .connectTimeout = 500ms});
    if (!s) return std::unexpected(s.error());
    return std::unique_ptr<EventSink>(std::move(*s));
  }
  static constexpr const char* kVariable = "KAFKA_BROKERS";
  void down() { rd_kafka_mock_broker_set_down(cluster_, 1); }
  void up() { rd_kafka_mock_broker_set_up(cluster_, 1); }

  //! Reads until `n` messages of `topic` arrived or `timeout` passed.
  std::vector<Message> read(const std::string& topic, size_t n,
                            std::chrono::seconds timeout = 20s) {
    if (!consumer_) {
      char err[256];
      rd_kafka_conf_t* c = rd_kafka_conf_new();
      rd_kafka_conf_set(c, "bootstrap.servers", brokers().c_str(), err, sizeof err);
      rd_kafka_conf_set(c, "group.id", "test", err, sizeof err);
      rd_kafka_conf_set(c, "auto.offset.reset", "earliest", err, sizeof err);
      consumer_ = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
      rd_kafka_poll_set_consumer(consumer_);
      auto* topics = rd_kafka_topic_partition_list_new(2);
      rd_kafka_topic_partition_list_add(topics, "aion.task-events", RD_KAFKA_PARTITION_UA);
      rd_kafka_topic_partition_list_add(topics, "aion.usage", RD_KAFKA_PARTITION_UA);
      rd_kafka_subscribe(consumer_, topics);
      rd_kafka_topic_partition_list_destroy(topics);
    }
    auto until = std::chrono::steady_clock::now() + timeout;
    while (got_[topic].size() < n && std::chrono::steady_clock::now() < until) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer_, 100);
      if (!m) continue;
      if (!m->err) {
        Message msg;
        msg.key.assign(static_cast<const char*>(m->key), m->key_len);
        msg.value =
            json::parse(std::string_view(static_cast<const char*>(m->payload), m->len)).as_object();
        rd_kafka_headers_t* h = nullptr;
        const void* v;
        size_t len;
        if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            rd_kafka_header_get_last(h, "traceparent", &v, &len) == RD_KAFKA_RESP_ERR_NO_ERROR)
          msg.traceparent.assign(static_cast<const char*>(v), len);
        got_[rd_kafka_topic_name(m->rkt)].push_back(std::move(msg));
      }
      rd_kafka_message_destroy(m);
    }
    return got_[topic];
  }

 private:
  std::string brokers() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }
  rd_kafka_t* handle_;
  rd_kafka_mock_cluster_t* cluster_;
  rd_kafka_t* consumer_ = nullptr;
  std::map<std::string, std::vector<Message>> got_;
};

// The files in a temporary directory. An outage is a disk that is full: the
// topic's file is a symbolic link to /dev/full (every write fails ENOSPC)
// until up() puts a regular file back.
class FileBackend {
 public:
  static constexpr bool kHasKeys = false;
  static constexpr const char* kVariable = "AION_EVENTS_DIR";
  Result<std::unique_ptr<EventSink>> open() {
    auto s = FileSink::open(dir_.path() / "events");
    if (!s) return std::unexpected(s.error());
    return std::unique_ptr<EventSink>(std::move(*s));
  }
  Result<std::unique_ptr<EventSink>> openUnusable() {
    std::ofstream(dir_.path() / "plain-file") << "x";
    auto s = FileSink::open(dir_.path() / "plain-file" / "events");  // under a file
    if (!s) return std::unexpected(s.error());
    return std::unique_ptr<EventSink>(std::move(*s));
  }
  void down() {
    auto f = events("aion.task-events");
    fs::rename(f, dir_.path() / "kept");
    fs::create_symlink("/dev/full", f);
  }
  void up() {
    auto f = events("aion.task-events");
    fs::remove(f);
    fs::rename(dir_.path() / "kept", f);
  }
  std::vector<Message> read(const std::string& topic, size_t n,
                            std::chrono::seconds timeout = 20s) {
    std::vector<Message> out;
    auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      out.clear();
      std::ifstream in(events(topic));
      std::string line;
      while (std::getline(in, line)) {
        Message m;
        m.value = json::parse(line).as_object();  // a half line would throw: there is none
        out.push_back(std::move(m));
      }
      if (out.size() >= n || std::chrono::steady_clock::now() >= until) return out;
      std::this_thread::sleep_for(20ms);
    }
  }

 private:
  fs::path events(const std::string& topic) {
    return FileSink::fileOf(dir_.path() / "events", topic);
  }
  testing::TempDir dir_;
};

template <typename Backend>
struct EventSinkConformance : ::testing::Test {
  Backend sink;
  testing::TempDir dir;
  std::unique_ptr<store::SqliteTaskStore> db;
  telemetry::Metrics metrics;
  store::Task task;

  void SetUp() override {
    store::SqliteTaskStore::Options o;
    o.outbox = true;
    auto s = store::SqliteTaskStore::open(dir.path() / "aion.db", o);
    ASSERT_TRUE(s);
    db = std::move(*s);
    task.id = newTaskId();
    task.tenant = "acme";
    task.intent = "chat";
    task.traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    task.status = store::TaskStatus::kRunning;
  }
  std::unique_ptr<OutboxRelay> relay() {
    auto s = sink.open();
    EXPECT_TRUE(s) << s.error().message;
    if (!s) return nullptr;
    return std::make_unique<OutboxRelay>(std::move(*s), *db, metrics);
  }
  void write(int64_t fromSeq, int n, bool withUsage = false) {
    store::Write w{.taskId = task.id};
    if (fromSeq == 1) w.create = task;
    for (int i = 0; i < n; ++i)
      w.events.push_back({task.id, fromSeq + i, "delta", 1, json::object{{"n", fromSeq + i}}});
    if (withUsage)
      w.usage.push_back({.id = task.id + ":0:0",
                         .taskId = task.id,
                         .tsMs = 1,
                         .tenant = "acme",
                         .keyId = "k1",
                         .intent = "chat",
                         .provider = "openai",
                         .model = "gpt-4o-mini",
                         .promptTokens = 3,
                         .completionTokens = 5,
                         .costNanoUsd = 1500,
                         .estimated = false});
    std::promise<Status> p;
    db->write(std::move(w), [&p](const Status& st, store::Write&) { p.set_value(st); });
    ASSERT_TRUE(p.get_future().get());
  }
  size_t outboxSize() {
    auto r = db->outbox(0, 1000);
    return r ? r->size() : 9999;
  }
  bool waitOutboxEmpty(std::chrono::seconds t = 20s) {
    auto until = std::chrono::steady_clock::now() + t;
    while (outboxSize() != 0 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(20ms);
    return outboxSize() == 0;
  }
};

using Backends = ::testing::Types<KafkaBackend, FileBackend>;
TYPED_TEST_SUITE(EventSinkConformance, Backends);

TYPED_TEST(EventSinkConformance, RelaysEventsAndUsageInOrderThenEmptiesTheOutbox) {
  this->write(1, 3, true);
  EXPECT_EQ(this->outboxSize(), 4u);  // committed with the change itself
  auto relay = this->relay();
  ASSERT_TRUE(relay);
  this->write(4, 2);
  relay->poke();
  auto events = this->sink.read("aion.task-events", 5);
  ASSERT_EQ(events.size(), 5u);
  for (size_t i = 0; i < events.size(); ++i) {
    if (TypeParam::kHasKeys) {
      EXPECT_EQ(events[i].key, this->task.id);  // one partition, in order
    }
    EXPECT_EQ(events[i].value.at("taskId").as_string(), this->task.id);
    EXPECT_EQ(events[i].value.at("seq").as_int64(), static_cast<int64_t>(i + 1));
    EXPECT_EQ(events[i].value.at("schemaVersion"), kEventSchemaVersion);
    EXPECT_EQ(events[i].value.at("tenant"), "acme");
    EXPECT_EQ(events[i].value.at("intent"), "chat");
    EXPECT_EQ(events[i].value.at("traceId").as_string(), this->task.traceId);
    EXPECT_EQ(events[i].value.at("type"), "delta");
    EXPECT_EQ(events[i].value.at("data").at("n").as_int64(), static_cast<int64_t>(i + 1));
    if (TypeParam::kHasKeys) {
      EXPECT_TRUE(events[i].traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"))
          << events[i].traceparent;
    }
  }
  auto usage = this->sink.read("aion.usage", 1);
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_EQ(usage[0].value.at("costUsd").as_double(), 1.5e-6);
  EXPECT_EQ(usage[0].value.at("completionTokens"), 5);
  EXPECT_EQ(usage[0].value.at("id").as_string(), this->task.id + ":0:0");
  EXPECT_TRUE(this->waitOutboxEmpty());
}

TYPED_TEST(EventSinkConformance, KeepsRecordsThroughAnOutageAndDeliversThemAfter) {
  auto relay = this->relay();
  ASSERT_TRUE(relay);
  this->write(1, 2);
  ASSERT_EQ(this->sink.read("aion.task-events", 2).size(), 2u);
  ASSERT_TRUE(this->waitOutboxEmpty());
  this->sink.down();
  this->write(3, 3);
  std::this_thread::sleep_for(2500ms);  // at least one failed attempt
  EXPECT_EQ(this->outboxSize(), 3u);    // nothing taken, nothing removed
  this->sink.up();
  auto events = this->sink.read("aion.task-events", 5, 30s);
  ASSERT_GE(events.size(), 5u);
  std::map<int64_t, int> seen;
  for (auto& e : events) ++seen[e.value.at("seq").as_int64()];
  for (int64_t seq = 1; seq <= 5; ++seq) EXPECT_GE(seen[seq], 1) << seq;  // at least once
  EXPECT_TRUE(this->waitOutboxEmpty(30s));
}

TYPED_TEST(EventSinkConformance, AnUnusableSinkFailsNamingItsVariableAndTheNextStartRelays) {
  this->write(1, 2);
  {
    auto bad = this->sink.openUnusable();
    ASSERT_FALSE(bad);
    EXPECT_TRUE(bad.error().message.starts_with(TypeParam::kVariable)) << bad.error().message;
  }
  EXPECT_EQ(this->outboxSize(), 2u);
  auto relay = this->relay();
  ASSERT_TRUE(relay);
  EXPECT_EQ(this->sink.read("aion.task-events", 2).size(), 2u);
  EXPECT_TRUE(this->waitOutboxEmpty());
}

TYPED_TEST(EventSinkConformance, WhatIsLeftAtStopStaysForTheNextRelay) {
  {
    auto relay = this->relay();
    ASSERT_TRUE(relay);
    this->sink.down();
    this->write(1, 3);
    relay->poke();
    relay->drain(300ms);  // cannot deliver: stops with the records kept
  }
  EXPECT_EQ(this->outboxSize(), 3u);
  this->sink.up();
  auto relay = this->relay();
  ASSERT_TRUE(relay);
  auto events = this->sink.read("aion.task-events", 3);
  ASSERT_EQ(events.size(), 3u);
  for (size_t i = 0; i < events.size(); ++i)
    EXPECT_EQ(events[i].value.at("seq").as_int64(), static_cast<int64_t>(i + 1));
  EXPECT_TRUE(this->waitOutboxEmpty());
}

// Files only: a file moved away (rotated) is recreated by the next batch.
TEST(FileSink, AFileMovedAwayIsRecreated) {
  testing::TempDir dir;
  auto sink = FileSink::open(dir.path() / "ev");
  ASSERT_TRUE(sink) << sink.error().message;
  auto record = [](int64_t id, int seq) {
    store::OutboxRecord r;
    r.id = id;
    r.topic = store::kTaskEventsTopic;
    r.key = "tsk_1";
    r.payload = json::serialize(json::object{{"taskId", "tsk_1"}, {"seq", seq}});
    return r;
  };
  auto never = [] { return false; };
  auto file = FileSink::fileOf(dir.path() / "ev", store::kTaskEventsTopic);
  ASSERT_TRUE((*sink)->deliver({record(1, 1), record(2, 2)}, never));
  fs::rename(file, dir.path() / "rotated");
  ASSERT_TRUE((*sink)->deliver({record(3, 3)}, never));
  std::ifstream in(file);
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(json::parse(lines[0]).at("seq"), 3);
  std::ifstream old(dir.path() / "rotated");
  lines.clear();
  while (std::getline(old, line)) lines.push_back(line);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(json::parse(lines[1]).at("seq"), 2);
}

}  // namespace
}  // namespace aion::events
