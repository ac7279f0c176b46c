#include "gateway/route_guard.h"

#include "http/handler_util.h"
#include "telemetry/log.h"

namespace aion::gateway {
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using http::Exchange;
using http::Response;

namespace {

void setRateHeaders(Response& r, uint64_t limit, uint64_t remaining, int64_t reset) {
  r.set("RateLimit-Limit", std::to_string(limit));
  r.set("RateLimit-Remaining", std::to_string(remaining));
  r.set("RateLimit-Reset", std::to_string(reset));
}

}  // namespace

Response errorOf(const Error& e, const Exchange& ex) {
  auto r = http::errorResponse(e, ex.requestId);
  if (e.code == ErrorCode::kRateLimited)
    if (auto* l = e.details.if_contains("limit"); l && l->is_number())
      setRateHeaders(r, l->to_number<uint64_t>(), 0,
                     e.details.at("retryAfterSeconds").to_number<int64_t>());
  return r;
}

Credentials credentialsOf(const Exchange& ex) {
  std::string_view key = ex.req["X-API-Key"];
  if (key.empty()) {
    std::string_view authz = ex.req[bhttp::field::authorization];
    if (authz.size() > 7 && (authz.starts_with("Bearer ") || authz.starts_with("bearer ")))
      key = authz.substr(7);
  }
  // Admission's span is a child of the request's server span.
  return {std::string(key),
          std::string(ex.req["X-Tenant-Id"]),
          ex.remote,
          ex.traceId,
          ex.spanId.empty() ? ex.parentSpanId : ex.spanId,
          ex.sampled};
}

http::Handler guarded(GatewayDeps d, AdmittedHandler h, bool stream) {
  return [d, h = std::move(h), stream](Exchange& ex) -> Reply {
    auto a = co_await d.admission.admit(credentialsOf(ex), stream);
    if (!a) co_return errorOf(a.error(), ex);
    if (telemetry::eventsOn()) {
      ex.logFields["tenant"] = a->who.tenant;
      ex.logFields["keyId"] = a->who.keyId;
    }
    auto r = co_await h(ex, *a);
    if (r && a->rate) setRateHeaders(*r, a->rate->limit, a->rate->remaining, a->rate->resetSeconds);
    co_return r;
  };
}

}  // namespace aion::gateway
