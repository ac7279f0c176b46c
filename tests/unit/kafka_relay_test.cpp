// The outbox relay against librdkafka's in-process mock cluster: records
// leave the outbox only once acknowledged, in order per task, and survive a
// broker outage. (tests/e2e/test_kafka.py runs a real broker.)
#include "events/kafka_relay.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <boost/json.hpp>
#include <future>
#include <map>
#include <thread>

#include "common/ids.h"
#include "store/sqlite_store.h"
#include "temp_dir.h"

namespace aion::events {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

struct Message {
  std::string key;
  json::object value;
  std::string traceparent;
};

// A mock cluster (one broker) and a consumer reading it from the start.
class MockKafka {
 public:
  MockKafka() {
    char err[256];
    handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), err, sizeof err);
    cluster_ = rd_kafka_mock_cluster_new(handle_, 1);
    rd_kafka_mock_topic_create(cluster_, "aion.task-events", 3, 1);
    rd_kafka_mock_topic_create(cluster_, "aion.usage", 3, 1);
  }
  ~MockKafka() {
    if (consumer_) {
      rd_kafka_consumer_close(consumer_);
      rd_kafka_destroy(consumer_);
    }
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(handle_);
  }
  std::string brokers() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }
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
  rd_kafka_t* handle_;
  rd_kafka_mock_cluster_t* cluster_;
  rd_kafka_t* consumer_ = nullptr;
  std::map<std::string, std::vector<Message>> got_;
};

struct KafkaRelayTest : ::testing::Test {
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

TEST_F(KafkaRelayTest, RelaysEventsAndUsageInOrderThenEmptiesTheOutbox) {
  MockKafka kafka;
  write(1, 3, true);
  EXPECT_EQ(outboxSize(), 4u);  // committed with the change itself
  auto relay = KafkaRelay::start({.brokers = kafka.brokers()}, *db, metrics);
  ASSERT_TRUE(relay) << relay.error().message;
  write(4, 2);
  (*relay)->poke();
  auto events = kafka.read("aion.task-events", 5);
  ASSERT_EQ(events.size(), 5u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].key, task.id);  // one task: one partition, in order
    EXPECT_EQ(events[i].value.at("seq").as_int64(), static_cast<int64_t>(i + 1));
    EXPECT_EQ(events[i].value.at("schemaVersion"), 1);
    EXPECT_EQ(events[i].value.at("tenant"), "acme");
    EXPECT_EQ(events[i].value.at("intent"), "chat");
    EXPECT_EQ(events[i].value.at("type"), "delta");
    EXPECT_TRUE(events[i].traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"))
        << events[i].traceparent;
  }
  auto usage = kafka.read("aion.usage", 1);
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_EQ(usage[0].value.at("costUsd").as_double(), 1.5e-6);
  EXPECT_EQ(usage[0].value.at("completionTokens"), 5);
  EXPECT_TRUE(waitOutboxEmpty());
}

TEST_F(KafkaRelayTest, KeepsRecordsThroughAnOutageAndDeliversThemAfter) {
  MockKafka kafka;
  auto relay =
      KafkaRelay::start({.brokers = kafka.brokers(), .deliveryTimeout = 1000ms}, *db, metrics);
  ASSERT_TRUE(relay) << relay.error().message;
  write(1, 2);
  ASSERT_EQ(kafka.read("aion.task-events", 2).size(), 2u);
  ASSERT_TRUE(waitOutboxEmpty());
  kafka.down();
  write(3, 3);
  std::this_thread::sleep_for(2500ms);  // at least one failed attempt
  EXPECT_EQ(outboxSize(), 3u);          // nothing acknowledged, nothing removed
  kafka.up();
  auto events = kafka.read("aion.task-events", 5, 30s);
  ASSERT_GE(events.size(), 5u);
  std::map<int64_t, int> seen;
  for (auto& e : events) ++seen[e.value.at("seq").as_int64()];
  for (int64_t seq = 1; seq <= 5; ++seq) EXPECT_GE(seen[seq], 1) << seq;  // at least once
  EXPECT_TRUE(waitOutboxEmpty(30s));
}

TEST_F(KafkaRelayTest, RecordsLeftAtStopAreRelayedByTheNextStart) {
  MockKafka kafka;
  kafka.down();
  write(1, 2);
  {
    auto relay =
        KafkaRelay::start({.brokers = "127.0.0.1:1", .connectTimeout = 500ms}, *db, metrics);
    ASSERT_FALSE(relay);
    EXPECT_NE(relay.error().message.find("KAFKA_BROKERS"), std::string::npos);
    EXPECT_NE(relay.error().message.find("127.0.0.1:1"), std::string::npos);
  }
  EXPECT_EQ(outboxSize(), 2u);
  kafka.up();
  auto relay = KafkaRelay::start({.brokers = kafka.brokers()}, *db, metrics);
  ASSERT_TRUE(relay) << relay.error().message;
  EXPECT_EQ(kafka.read("aion.task-events", 2).size(), 2u);
  EXPECT_TRUE(waitOutboxEmpty());
}

}  // namespace
}  // namespace aion::events
