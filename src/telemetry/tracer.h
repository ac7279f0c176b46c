#pragma once
// Spans of aionOS's own work (a request, a task, a module run, a provider
// call), exported over OTLP/HTTP with JSON bodies by a background thread in
// batches. Recording never blocks: past the queue's bound a span is dropped
// and counted. Configured by the standard OpenTelemetry variables; without
// an endpoint nothing is recorded.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json/object.hpp>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/error.h"
#include "telemetry/metrics.h"
#include "telemetry/trace.h"

namespace aion::telemetry {

enum class SpanKind { kInternal = 1, kServer = 2, kClient = 3 };

struct Span {
  std::string traceId{}, spanId{}, parentSpanId{};
  std::string traceState{};  // the caller's W3C tracestate, passed through
  std::string name{};
  SpanKind kind = SpanKind::kInternal;
  int64_t startNs = 0, endNs = 0;  // unix time
  boost::json::object attributes{};
  std::string error{};  // non-empty: status ERROR with this message
};

int64_t unixNanos();

struct TracerOptions {
  std::string endpoint;  // http://host:port/v1/traces; empty: off
  std::string serviceName = "aiond";
  std::string sampler = "parentbased_always_on";
  double ratio = 1.0;  // traceidratio samplers
  size_t maxQueue = 4096;
  size_t maxBatch = 512;
  std::chrono::milliseconds interval{500};
};

using EnvLookup = std::function<std::optional<std::string>(const char*)>;
//! From OTEL_SDK_DISABLED, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
//! OTEL_EXPORTER_OTLP_ENDPOINT (+ /v1/traces), OTEL_SERVICE_NAME,
//! OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG; an error names the variable.
Result<TracerOptions> tracerOptionsFromEnv(const EnvLookup& env);

class Tracer {
 public:
  Tracer(TracerOptions opts, Metrics& metrics);
  ~Tracer();  // exports what is queued (bounded wait)

  bool on() const { return !opts_.endpoint.empty(); }
  //! Whether a trace started here (no parent) or continued from a caller
  //! (`parentSampled`) is recorded.
  bool sample(const std::string& traceId, std::optional<bool> parentSampled) const;
  //! Queues `s` for export; never blocks.
  void record(Span s);

 private:
  void run();
  bool exportBatch(std::deque<Span>& batch);

  TracerOptions opts_;
  Metrics& metrics_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Span> queue_;
  bool stopping_ = false;
  // The exporter thread's own connection to the collector.
  boost::asio::io_context io_;
  std::unique_ptr<boost::asio::ip::tcp::socket> sock_;
  std::thread thread_;
};

//! The trace a request joins: its `traceparent`'s (then its span is the
//! parent), or a new one; `sampled` says whether its spans are recorded.
//! `tracestate` is kept (validated, see parseTracestate) only with a valid
//! `traceparent`; aionOS adds no member of its own and passes it on as is.
struct TraceJoin {
  std::string traceId, parentSpanId;
  bool sampled = false;
  std::string traceState{};
};
TraceJoin joinTrace(std::string_view traceparentHeader, std::string_view tracestateHeader = {});

//! The process's tracer (null: tracing off). Set once at start-up.
Tracer* tracer();
void setTracer(Tracer* t);

//! Whether spans of a trace with this sampled flag are recorded here.
inline bool recording(bool sampled) {
  return sampled && tracer() != nullptr;
}

//! A span of one scope: started when made, recorded when it ends, and only
//! when its trace is recorded here (otherwise it costs a branch).
class ScopedSpan {
 public:
  //! The name is `name` followed by `suffix`, joined only when recorded.
  ScopedSpan(std::string_view traceId, std::string_view parentSpanId, bool sampled,
             std::string_view name, std::string_view suffix = {},
             SpanKind kind = SpanKind::kInternal) {
    if (!recording(sampled)) return;
    std::string full(name);
    full += suffix;
    s_.emplace(Span{.traceId = std::string(traceId),
                    .spanId = newSpanId(),
                    .parentSpanId = std::string(parentSpanId),
                    .name = std::move(full),
                    .kind = kind,
                    .startNs = unixNanos()});
  }
  ~ScopedSpan() {
    if (!s_) return;
    s_->endNs = unixNanos();
    if (auto* t = tracer()) t->record(std::move(*s_));
  }
  ScopedSpan(const ScopedSpan&) = delete;
  ScopedSpan& operator=(const ScopedSpan&) = delete;

  bool on() const { return s_.has_value(); }
  //! This span's id, the parent of what runs inside it; empty when not
  //! recorded (then `or` is the parent to pass on).
  std::string idOr(const std::string& other) const { return s_ ? s_->spanId : other; }
  void attr(std::string_view k, boost::json::value v) {
    if (s_) s_->attributes[k] = std::move(v);
  }
  void attr(std::string_view k, std::string_view v) {
    if (s_) s_->attributes[k] = boost::json::string(v);
  }
  void attr(std::string_view k, const char* v) { attr(k, std::string_view(v)); }
  void fail(std::string message) {
    if (s_) s_->error = std::move(message);
  }
  void state(std::string_view traceState) {
    if (s_) s_->traceState = traceState;
  }

 private:
  std::optional<Span> s_;
};

}  // namespace aion::telemetry
