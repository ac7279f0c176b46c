#pragma once
// What every gateway route shares: error answers, raw streaming writes, and
// the guard that applies rate limits and authentication before a handler.
#include "gateway/gateway_http.h"

namespace aion::gateway {

using Reply = boost::asio::awaitable<std::optional<http::Response>>;
using AuthedHandler = std::function<Reply(http::Exchange&, const Principal&)>;

http::Response errorOf(const Error& e, const http::Exchange& ex);
//! Writes raw bytes of a streaming response, bounded by the write timeout.
boost::asio::awaitable<bool> writeAll(http::Exchange& ex, std::string data);
void setRateHeaders(http::Response& r, const RateDecision& d);
http::Response tooMany(const RateDecision& dec, std::chrono::seconds window,
                       const std::string& what, const http::Exchange& ex);

//! Calls `f` in place, or on the blocking pool when the engine behind it
//! does network I/O (Redis), so I/O threads never wait on the network.
template <typename F>
boost::asio::awaitable<std::invoke_result_t<F>> engineCall(const GatewayDeps& d, bool blocking,
                                                           F f) {
  if (!blocking) co_return f();
  co_return co_await http::offload(d.blocking, std::move(f));
}

//! Per-IP limit (before auth, so key guessing is limited too),
//! authentication, per-key limit, then `h`; RateLimit-* headers on the answer.
http::Handler guarded(GatewayDeps d, GatewayOptions o, AuthedHandler h);

}  // namespace aion::gateway
