#include "telemetry/tracer.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstring>

#include "common/json_text.h"
#include "common/thread_name.h"
#include "telemetry/trace.h"

namespace aion::telemetry {
namespace json = boost::json;
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

namespace {

std::atomic<Tracer*> gTracer{nullptr};

struct Endpoint {
  std::string host, port, target;
};

std::optional<Endpoint> parseHttpUrl(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) return std::nullopt;
  std::string rest = url.substr(kScheme.size());
  auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  Endpoint e;
  e.target = slash == std::string::npos ? "/" : rest.substr(slash);
  auto colon = hostport.rfind(':');
  e.host = hostport.substr(0, colon);
  e.port = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
  if (e.host.empty() || e.port.empty()) return std::nullopt;
  return e;
}

// OTLP/JSON written straight to text: no JSON objects built per span.
void appendAttr(std::string& out, std::string_view key, const json::value& v) {
  out += R"({"key":)";
  appendJsonString(out, key);
  out += R"(,"value":{)";
  if (v.is_bool()) {
    out += v.as_bool() ? R"("boolValue":true)" : R"("boolValue":false)";
  } else if (v.is_int64() || v.is_uint64()) {
    out += R"("intValue":")";
    out += v.is_int64() ? std::to_string(v.as_int64()) : std::to_string(v.as_uint64());
    out += '"';
  } else if (v.is_double()) {
    out += R"("doubleValue":)";
    appendJson(out, v);
  } else {
    out += R"("stringValue":)";
    appendJsonString(out, v.is_string() ? std::string_view(v.as_string()) : jsonText(v));
  }
  out += "}}";
}

void appendSpan(std::string& out, const Span& s) {
  out += R"({"traceId":")" + s.traceId + R"(","spanId":")" + s.spanId + '"';
  if (!s.parentSpanId.empty()) out += R"(,"parentSpanId":")" + s.parentSpanId + '"';
  if (!s.traceState.empty()) {
    out += R"(,"traceState":)";
    appendJsonString(out, s.traceState);
  }
  out += R"(,"name":)";
  appendJsonString(out, s.name);
  out += R"(,"kind":)" + std::to_string(static_cast<int>(s.kind));
  out += R"(,"startTimeUnixNano":")" + std::to_string(s.startNs);
  out += R"(","endTimeUnixNano":")" + std::to_string(s.endNs) + R"(","attributes":[)";
  bool first = true;
  for (auto& [k, v] : s.attributes) {
    if (!first) out += ',';
    first = false;
    appendAttr(out, k, v);
  }
  out += ']';
  if (!s.error.empty()) {
    out += R"(,"status":{"code":2,"message":)";
    appendJsonString(out, s.error);
    out += '}';
  }
  out += '}';
}

}  // namespace

int64_t unixNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<TracerOptions> tracerOptionsFromEnv(const EnvLookup& env) {
  TracerOptions o;
  auto get = [&](const char* k) {
    auto v = env(k);
    return v && !v->empty() ? v : std::nullopt;
  };
  if (auto d = get("OTEL_SDK_DISABLED"); d && *d == "true") return o;
  const char* from = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
  if (auto e = get(from)) {
    o.endpoint = *e;
  } else if (auto b = get("OTEL_EXPORTER_OTLP_ENDPOINT")) {
    from = "OTEL_EXPORTER_OTLP_ENDPOINT";
    o.endpoint = *b;
    if (!o.endpoint.empty() && o.endpoint.back() == '/') o.endpoint.pop_back();
    o.endpoint += "/v1/traces";
  }
  if (!o.endpoint.empty() && !parseHttpUrl(o.endpoint))
    return fail(ErrorCode::kInvalidRequest, std::string(from) +
                                                ": must be an http:// URL (OTLP/HTTP; https is not "
                                                "supported yet), got '" +
                                                o.endpoint + "'");
  if (auto p = get("OTEL_EXPORTER_OTLP_PROTOCOL"); p && *p != "http/json" && *p != "http/protobuf")
    return fail(
        ErrorCode::kInvalidRequest,
        "OTEL_EXPORTER_OTLP_PROTOCOL: aionOS exports OTLP over HTTP with JSON bodies; got '" + *p +
            "'");
  if (auto n = get("OTEL_SERVICE_NAME")) o.serviceName = *n;
  if (auto s = get("OTEL_TRACES_SAMPLER")) {
    static const char* kKnown[] = {"always_on",
                                   "always_off",
                                   "traceidratio",
                                   "parentbased_always_on",
                                   "parentbased_always_off",
                                   "parentbased_traceidratio"};
    bool ok = false;
    for (auto* k : kKnown) ok = ok || *s == k;
    if (!ok)
      return fail(ErrorCode::kInvalidRequest,
                  "OTEL_TRACES_SAMPLER: must be always_on, always_off, traceidratio or their "
                  "parentbased_ forms; got '" +
                      *s + "'");
    o.sampler = *s;
  }
  if (auto a = get("OTEL_TRACES_SAMPLER_ARG")) {
    char* end = nullptr;
    double r = std::strtod(a->c_str(), &end);
    if (end == a->c_str() || *end || r < 0 || r > 1)
      return fail(ErrorCode::kInvalidRequest,
                  "OTEL_TRACES_SAMPLER_ARG: must be a ratio from 0 to 1; got '" + *a + "'");
    o.ratio = r;
  }
  return o;
}

Tracer::Tracer(TracerOptions opts, Metrics& metrics) : opts_(std::move(opts)), metrics_(metrics) {
  if (on())
    thread_ = std::thread([this] {
      nameThisThread("aion-tracer");
      run();
    });
}

Tracer::~Tracer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Tracer::sample(const std::string& traceId, std::optional<bool> parentSampled) const {
  if (!on()) return false;
  const std::string& s = opts_.sampler;
  bool parentBased = s.rfind("parentbased_", 0) == 0;
  if (parentBased && parentSampled) return *parentSampled;
  std::string_view root = parentBased ? std::string_view(s).substr(12) : std::string_view(s);
  if (root == "always_on") return true;
  if (root == "always_off") return false;
  // traceidratio: the trace id's last 8 bytes against the ratio.
  uint64_t low = std::stoull(traceId.substr(16), nullptr, 16);
  return static_cast<double>(low) < opts_.ratio * 18446744073709551616.0;
}

void Tracer::record(Span s) {
  if (!on()) return;
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= opts_.maxQueue) {
      metrics_.spans("dropped", 1);
      return;
    }
    queue_.push_back(std::move(s));
    if (queue_.size() < opts_.maxBatch) return;
  }
  cv_.notify_one();
}

void Tracer::run() {
  std::deque<Span> batch;
  for (;;) {
    bool last;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, opts_.interval,
                   [&] { return stopping_ || queue_.size() >= opts_.maxBatch; });
      last = stopping_;
      size_t n = std::min(queue_.size(), opts_.maxBatch);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (!batch.empty()) {
      size_t n = batch.size();
      metrics_.spans(exportBatch(batch) ? "exported" : "failed", n);
      batch.clear();
    }
    if (last) {
      std::lock_guard lock(mu_);
      if (queue_.empty()) return;
    }
  }
}

bool Tracer::exportBatch(std::deque<Span>& batch) {
  std::string body = R"({"resourceSpans":[{"resource":{"attributes":[)";
  appendAttr(body, "service.name", json::string(opts_.serviceName));
  body += R"(]},"scopeSpans":[{"scope":{"name":"aionos"},"spans":[)";
  for (size_t i = 0; i < batch.size(); ++i) {
    if (i) body += ',';
    appendSpan(body, batch[i]);
  }
  body += "]}]}]}";
  auto ep = parseHttpUrl(opts_.endpoint);
  // A thread of its own, off the request path: plain blocking exchanges on
  // one kept-alive connection, bounded by socket timeouts; reconnects once
  // when the collector closed it.
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      if (!sock_ || !sock_->is_open()) {
        sock_ = std::make_unique<asio::ip::tcp::socket>(io_);
        asio::ip::tcp::resolver resolver(io_);
        asio::connect(*sock_, resolver.resolve(ep->host, ep->port));
        timeval tv{5, 0};
        ::setsockopt(sock_->native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(sock_->native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      }
      bhttp::request<bhttp::string_body> req{bhttp::verb::post, ep->target, 11};
      req.set(bhttp::field::host, ep->host + ":" + ep->port);
      req.set(bhttp::field::content_type, "application/json");
      req.body() = body;
      req.prepare_payload();
      bhttp::write(*sock_, req);
      boost::beast::flat_buffer buf;
      bhttp::response<bhttp::string_body> res;
      bhttp::read(*sock_, buf, res);
      if (!res.keep_alive()) sock_.reset();
      if (res.result_int() >= 300) {
        spdlog::warn("traces: {} answered {}: {}", opts_.endpoint, res.result_int(),
                     res.body().substr(0, 200));
        return false;
      }
      return true;
    } catch (const std::exception& e) {
      sock_.reset();
      if (attempt == 1) {
        spdlog::warn("traces: cannot export to {}: {}", opts_.endpoint, e.what());
        return false;
      }
    }
  }
  return false;
}

TraceJoin joinTrace(std::string_view header, std::string_view state) {
  TraceJoin j;
  auto tp = parseTraceparent(header);
  if (tp) {
    j.traceId = std::move(tp->traceId);
    j.parentSpanId = std::move(tp->parentId);
    // tracestate belongs to the caller's trace: read only when traceparent is valid
    if (!state.empty()) j.traceState = parseTracestate(state).value_or("");
  } else {
    j.traceId = newTraceId();
  }
  if (auto* t = tracer())
    j.sampled = t->sample(j.traceId, tp ? std::optional<bool>(tp->sampled) : std::nullopt);
  else
    j.sampled = tp && tp->sampled;  // not recording here: the caller's decision passes through
  return j;
}

Tracer* tracer() {
  return gTracer.load(std::memory_order_acquire);
}

void setTracer(Tracer* t) {
  gTracer.store(t, std::memory_order_release);
}

}  // namespace aion::telemetry
