#pragma once
// The Kafka event sink (KAFKA_BROKERS): every outbox record is produced to its
// topic keyed by task id (one task's records stay on one partition, in
// order), idempotent with acks=all; a batch counts as delivered only when the
// brokers acknowledged all of it.
#include <chrono>
#include <memory>
#include <string>

#include "events/event_sink.h"

typedef struct rd_kafka_s rd_kafka_t;

namespace aion::events {

struct KafkaOptions {
  std::string brokers;  // host:port[,host:port...]
  std::string clientId = "aiond";
  //! How long the broker may take to acknowledge a batch before it is retried.
  std::chrono::milliseconds deliveryTimeout{15000};
  //! How long open() waits for a broker to answer.
  std::chrono::milliseconds connectTimeout{10000};
};

class KafkaSink final : public EventSink {
 public:
  //! Connects: a broker must answer within connectTimeout; the error names
  //! KAFKA_BROKERS.
  static Result<std::unique_ptr<KafkaSink>> open(KafkaOptions opts);
  ~KafkaSink() override;

  const char* name() const override { return "kafka"; }
  bool deliver(const std::vector<store::OutboxRecord>& records,
               const std::function<bool()>& stopping) override;

  KafkaSink(const KafkaSink&) = delete;
  KafkaSink& operator=(const KafkaSink&) = delete;

 private:
  KafkaSink(KafkaOptions opts, rd_kafka_t* rk) : opts_(std::move(opts)), rk_(rk) {}
  KafkaOptions opts_;
  rd_kafka_t* rk_;
};

}  // namespace aion::events
