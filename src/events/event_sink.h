#pragma once
// Where the store's outbox goes (docs/events.md): every task event and usage
// record, committed with the change it belongs to, is handed to one sink in
// commit order by OutboxRelay, and leaves the outbox only once the sink has
// taken it durably. Sinks: Kafka (KAFKA_BROKERS) and JSON-lines files
// (AION_EVENTS_DIR). tests/unit/event_sink_conformance_test.cpp runs the same
// tests against both.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "store/task_store.h"
#include "telemetry/metrics.h"

namespace aion::events {

//! Version of the record bodies below; bumped on an incompatible change.
constexpr int kEventSchemaVersion = 1;

//! A record as consumers read it: its JSON payload with the schema version
//! (and, for task events, the task's tenant, intent and trace id) in front,
//! so consumers need no join. The same bytes on every sink.
std::string envelope(const store::OutboxRecord& r);

class EventSink {
 public:
  virtual ~EventSink() = default;
  //! "kafka" | "file": the metrics' `sink` label and the logs' prefix.
  virtual const char* name() const = 0;
  //! Takes `records` in order; true only when every one is durably taken
  //! (acknowledged by the brokers, written and fsynced). On false the relay
  //! sends the whole batch again later, so a sink may see a record twice
  //! (at least once). `stopping` turns true when the relay must give up.
  virtual bool deliver(const std::vector<store::OutboxRecord>& records,
                       const std::function<bool()>& stopping) = 0;
};

//! Moves the outbox to a sink on its own thread: reads a batch from the
//! store, delivers it, advances, and trims delivered records (at most once a
//! second); a failed batch is retried with a backoff up to 5 s.
class OutboxRelay {
 public:
  OutboxRelay(std::unique_ptr<EventSink> sink, store::TaskStore& store, telemetry::Metrics& metrics,
              int batch = 500);
  //! Stops; what is not yet delivered stays in the outbox for the next start.
  ~OutboxRelay();

  //! New records were committed: relay them now rather than at the next tick.
  void poke();
  //! Relays what is in the outbox for up to `deadline`, then stops.
  void drain(std::chrono::milliseconds deadline);
  const char* sinkName() const { return sink_->name(); }

  OutboxRelay(const OutboxRelay&) = delete;
  OutboxRelay& operator=(const OutboxRelay&) = delete;

 private:
  void loop();
  bool pastStop();

  std::unique_ptr<EventSink> sink_;
  store::TaskStore& store_;
  telemetry::Metrics& metrics_;
  int batch_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool poked_ = false;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point stopBy_{};
  std::thread thread_;
};

}  // namespace aion::events
