#include "events/event_sink.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "common/json_text.h"
#include "common/thread_name.h"
#include "store/outbox.h"

namespace aion::events {
namespace json = boost::json;

std::string envelope(const store::OutboxRecord& r) {
  json::object head{{"schemaVersion", kEventSchemaVersion}};
  if (r.topic == store::kTaskEventsTopic) {
    head["tenant"] = r.tenant;
    head["intent"] = r.intent;
    head["traceId"] = r.traceId;
  }
  std::string out = jsonText(head);
  if (r.payload.size() > 2 && r.payload.front() == '{') {
    out.back() = ',';
    out.append(r.payload, 1);
  }
  return out;
}

OutboxRelay::OutboxRelay(std::unique_ptr<EventSink> sink, store::TaskStore& store,
                         telemetry::Metrics& metrics, int batch)
    : sink_(std::move(sink)), store_(store), metrics_(metrics), batch_(batch) {
  thread_ = std::thread([this] {
    nameThisThread("aion-outbox");
    loop();
  });
}

OutboxRelay::~OutboxRelay() {
  if (thread_.joinable()) drain(std::chrono::milliseconds(0));
}

void OutboxRelay::poke() {
  {
    std::lock_guard lock(mu_);
    poked_ = true;
  }
  cv_.notify_one();
}

void OutboxRelay::drain(std::chrono::milliseconds deadline) {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    stopBy_ = std::chrono::steady_clock::now() + deadline;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

bool OutboxRelay::pastStop() {
  std::lock_guard lock(mu_);
  return stopping_ && std::chrono::steady_clock::now() >= stopBy_;
}

void OutboxRelay::loop() {
  const std::string name = sink_->name();
  int64_t cursor = 0, trimmed = 0;
  auto lastTrim = std::chrono::steady_clock::now();
  // Delivered records leave the outbox at most once a second (and at the
  // end): a trim per batch would double the store's write transactions. What
  // a crash leaves untrimmed is sent again (at least once).
  auto trim = [&](bool now) {
    if (cursor == trimmed) return;
    if (!now && std::chrono::steady_clock::now() - lastTrim < std::chrono::seconds(1)) return;
    store::Write w;
    w.trimOutboxTo = cursor;
    w.durability = store::Durability::kCommitted;
    store_.write(std::move(w), nullptr);
    trimmed = cursor;
    lastTrim = std::chrono::steady_clock::now();
  };
  auto stopping = [this] { return pastStop(); };
  auto backoff = std::chrono::milliseconds(200);
  for (;;) {
    if (pastStop()) break;
    auto records = store_.outbox(cursor, batch_);
    if (!records) spdlog::warn("{}: reading the outbox: {}", name, records.error().message);
    if (!records || records->empty()) {
      trim(true);  // caught up
      std::unique_lock lock(mu_);
      if (stopping_) break;  // drained
      cv_.wait_for(lock, std::chrono::seconds(1), [&] { return poked_ || stopping_; });
      poked_ = false;
      continue;
    }
    if (sink_->deliver(*records, stopping)) {
      metrics_.sinkMessages(name, "delivered", records->size());
      cursor = records->back().id;
      trim(false);
      metrics_.sinkUp(name, true);
      backoff = std::chrono::milliseconds(200);
      continue;
    }
    metrics_.sinkMessages(name, "failed", records->size());
    metrics_.sinkUp(name, false);
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, backoff, [&] { return stopping_; });
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
  trim(true);
}

}  // namespace aion::events
