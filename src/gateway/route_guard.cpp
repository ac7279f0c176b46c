#include "gateway/route_guard.h"

#include "http/handler_util.h"

namespace aion::gateway {
namespace asio = boost::asio;
using http::Exchange;
using http::Response;

Response errorOf(const Error& e, const Exchange& ex) {
  return http::errorResponse(e, ex.requestId);
}

asio::awaitable<bool> writeAll(Exchange& ex, std::string data) {
  ex.stream.expires_after(ex.limits.writeTimeout);
  auto [ec, n] = co_await asio::async_write(ex.stream, asio::buffer(data),
                                            asio::as_tuple(asio::use_awaitable));
  (void)n;
  ex.stream.expires_never();
  co_return !ec;
}

void setRateHeaders(Response& r, const RateDecision& d) {
  r.set("RateLimit-Limit", std::to_string(d.limit));
  r.set("RateLimit-Remaining", std::to_string(d.remaining));
  r.set("RateLimit-Reset", std::to_string(d.resetSeconds));
}

Response tooMany(const RateDecision& dec, std::chrono::seconds window, const std::string& what,
                 const Exchange& ex) {
  auto r = errorOf(Error(ErrorCode::kRateLimited, "rate limit exceeded for this " + what,
                         {{"limit", dec.limit},
                          {"windowSeconds", window.count()},
                          {"retryAfterSeconds", dec.resetSeconds}}),
                   ex);
  setRateHeaders(r, dec);
  return r;
}

http::Handler guarded(GatewayDeps d, GatewayOptions o, AuthedHandler h) {
  return [d, o, h = std::move(h)](Exchange& ex) -> Reply {
    std::optional<RateDecision> shown;
    bool slow = d.limiter.blocking();
    if (o.ratePerIp) {
      std::string bucket = "ip:" + ex.remote;
      auto dec = co_await engineCall(
          d, slow, [&] { return d.limiter.hit(bucket, o.ratePerIp, o.rateWindow); });
      if (!dec.allowed) co_return tooMany(dec, o.rateWindow, "client address", ex);
      shown = dec;
    }
    auto who = http::principalOf(d.keys, ex.req);
    if (!who) co_return errorOf(who.error(), ex);
    if (o.ratePerKey) {
      std::string bucket = "key:" + who->keyId;
      auto dec = co_await engineCall(
          d, slow, [&] { return d.limiter.hit(bucket, o.ratePerKey, o.rateWindow); });
      if (!dec.allowed) co_return tooMany(dec, o.rateWindow, "API key", ex);
      if (!shown || dec.remaining < shown->remaining) shown = dec;
    }
    auto r = co_await h(ex, *who);
    if (r && shown) setRateHeaders(*r, *shown);
    co_return r;
  };
}

}  // namespace aion::gateway
