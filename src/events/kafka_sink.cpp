#include "events/kafka_sink.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/json.hpp>

#include "common/json_text.h"
#include "store/outbox.h"
#include "telemetry/trace.h"

namespace aion::events {
namespace json = boost::json;

namespace {

// Acknowledgements of one batch, counted by the delivery callback (which
// runs inside rd_kafka_poll on the relay thread).
struct Acks {
  size_t ok = 0, failed = 0;
  std::string firstError;
};

void onDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  auto* a = static_cast<Acks*>(m->_private);
  if (!a) return;
  if (m->err) {
    ++a->failed;
    if (a->firstError.empty()) a->firstError = rd_kafka_err2str(m->err);
  } else {
    ++a->ok;
  }
}

// librdkafka's own log lines, through aiond's log (JSON when asked).
void onLog(const rd_kafka_t*, int level, const char* facility, const char* line) {
  if (level <= 3)
    spdlog::warn("kafka: {}: {}", facility, line);
  else
    spdlog::debug("kafka: {}: {}", facility, line);
}

}  // namespace

Result<std::unique_ptr<KafkaSink>> KafkaSink::open(KafkaOptions opts) {
  char err[512] = {};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const char* k, const std::string& v) {
    return rd_kafka_conf_set(conf, k, v.c_str(), err, sizeof err) == RD_KAFKA_CONF_OK;
  };
  // Idempotent and acks=all: a retried send is neither reordered nor
  // duplicated by the producer itself.
  bool ok = set("bootstrap.servers", opts.brokers) && set("client.id", opts.clientId) &&
            set("enable.idempotence", "true") && set("acks", "all") && set("linger.ms", "5") &&
            set("message.timeout.ms", std::to_string(opts.deliveryTimeout.count())) &&
            set("compression.type", "lz4") &&
            // The key's partition as Java clients compute it, so consumers agree.
            set("partitioner", "murmur2_random") && set("queue.buffering.max.kbytes", "65536") &&
            set("reconnect.backoff.max.ms", "2000") && set("socket.keepalive.enable", "true") &&
            set("log_level", "3");
  if (!ok) {
    rd_kafka_conf_destroy(conf);
    return fail(ErrorCode::kInvalidRequest, std::string("KAFKA_BROKERS: ") + err);
  }
  rd_kafka_conf_set_dr_msg_cb(conf, onDelivery);
  rd_kafka_conf_set_log_cb(conf, onLog);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return fail(ErrorCode::kInvalidRequest, std::string("KAFKA_BROKERS: ") + err);
  }
  const rd_kafka_metadata_t* md = nullptr;
  auto rc = rd_kafka_metadata(rk, 0, nullptr, &md, static_cast<int>(opts.connectTimeout.count()));
  if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_destroy(rk);
    return fail(ErrorCode::kUnavailable, "KAFKA_BROKERS: no broker at " + opts.brokers +
                                             " answered within " +
                                             std::to_string(opts.connectTimeout.count() / 1000) +
                                             " s (" + rd_kafka_err2str(rc) + ")");
  }
  rd_kafka_metadata_destroy(md);
  return std::unique_ptr<KafkaSink>(new KafkaSink(std::move(opts), rk));
}

KafkaSink::~KafkaSink() {
  rd_kafka_destroy(rk_);
}

bool KafkaSink::deliver(const std::vector<store::OutboxRecord>& records,
                        const std::function<bool()>& stopping) {
  Acks acks;
  for (auto& r : records) {
    std::string value = envelope(r);
    rd_kafka_headers_t* headers = nullptr;
    if (!r.traceId.empty()) {
      // W3C trace context, so a consumer's spans join the task's trace.
      std::string tp = telemetry::traceparent(r.traceId, telemetry::newSpanId(), true);
      headers = rd_kafka_headers_new(2);
      rd_kafka_header_add(headers, "traceparent", -1, tp.data(), static_cast<ssize_t>(tp.size()));
      if (!r.traceState.empty())
        rd_kafka_header_add(headers, "tracestate", -1, r.traceState.data(),
                            static_cast<ssize_t>(r.traceState.size()));
    }
    for (;;) {
      auto e = rd_kafka_producev(
          rk_, RD_KAFKA_V_TOPIC(r.topic.c_str()),
          RD_KAFKA_V_KEY(const_cast<char*>(r.key.data()), r.key.size()),
          RD_KAFKA_V_VALUE(value.data(), value.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(&acks), RD_KAFKA_V_END);
      if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk_, 50);
        continue;
      }
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (headers) rd_kafka_headers_destroy(headers);  // not taken on failure
        ++acks.failed;
        if (acks.firstError.empty()) acks.firstError = rd_kafka_err2str(e);
      }
      break;
    }
    rd_kafka_poll(rk_, 0);
  }
  // Every message resolves within message.timeout.ms; past that (and a
  // margin) the rest is purged, so no callback outlives `acks`.
  auto deadline =
      std::chrono::steady_clock::now() + opts_.deliveryTimeout + std::chrono::seconds(5);
  while (acks.ok + acks.failed < records.size() && std::chrono::steady_clock::now() < deadline &&
         !stopping())
    rd_kafka_poll(rk_, 100);
  if (acks.ok + acks.failed < records.size()) {
    rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    while (rd_kafka_outq_len(rk_) > 0) rd_kafka_poll(rk_, 100);
  }
  if (acks.failed || acks.ok < records.size()) {
    spdlog::warn("kafka: {} of {} records not acknowledged ({}); retrying from the outbox",
                 records.size() - acks.ok, records.size(),
                 acks.firstError.empty() ? "timed out" : acks.firstError);
    return false;
  }
  return true;
}

}  // namespace aion::events
