#pragma once
// Relays the store's outbox to Kafka (KAFKA_BROKERS): every task event and
// usage record, committed with the change it belongs to, is produced to its
// topic keyed by task id, in commit order. A record leaves the outbox only
// after the broker acknowledged it (acks=all), so nothing is lost while Kafka
// is down or aiond is killed: it is retried, and may then be delivered twice
// (at least once; consumers dedupe by taskId+seq, or by the usage id).
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/error.h"
#include "store/task_store.h"
#include "telemetry/metrics.h"

typedef struct rd_kafka_s rd_kafka_t;

namespace aion::events {

struct KafkaOptions {
  std::string brokers;  // host:port[,host:port...]
  std::string clientId = "aiond";
  //! How long the broker may take to acknowledge a batch before it is retried.
  std::chrono::milliseconds deliveryTimeout{15000};
  //! How long start() waits for a broker to answer.
  std::chrono::milliseconds connectTimeout{10000};
  int batch = 500;
};

class KafkaRelay {
 public:
  //! Connects (a broker must answer within connectTimeout) and starts the
  //! relay thread.
  static Result<std::unique_ptr<KafkaRelay>> start(KafkaOptions opts, store::TaskStore& store,
                                                   telemetry::Metrics& metrics);
  //! Stops; what is not yet delivered stays in the outbox for the next start.
  ~KafkaRelay();

  //! New records were committed: relay them now rather than at the next tick.
  void poke();
  //! Relays what is in the outbox for up to `deadline`, then stops.
  void drain(std::chrono::milliseconds deadline);

  KafkaRelay(const KafkaRelay&) = delete;
  KafkaRelay& operator=(const KafkaRelay&) = delete;

 private:
  KafkaRelay(KafkaOptions opts, store::TaskStore& store, telemetry::Metrics& metrics,
             rd_kafka_t* rk);
  void loop();
  //! Produces `records` and waits for every acknowledgement; true when all
  //! were delivered.
  bool deliver(const std::vector<store::OutboxRecord>& records);
  //! drain() was called and its deadline passed.
  bool pastStop();

  KafkaOptions opts_;
  store::TaskStore& store_;
  telemetry::Metrics& metrics_;
  rd_kafka_t* rk_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool poked_ = false;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point stopBy_{};
  std::thread thread_;
};

}  // namespace aion::events
