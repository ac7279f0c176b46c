#pragma once
// What every gateway HTTP route shares: error answers (with Retry-After and
// RateLimit-* headers), raw streaming writes, and the guard that runs the
// admission chain before a handler.
#include "gateway/admission.h"
#include "gateway/gateway_http.h"
#include "http/handler_util.h"

namespace aion::gateway {

using Reply = boost::asio::awaitable<std::optional<http::Response>>;
using AdmittedHandler = std::function<Reply(http::Exchange&, Admitted&)>;

http::Response errorOf(const Error& e, const http::Exchange& ex);
using http::writeAll;
//! The credentials an HTTP request presents.
Credentials credentialsOf(const http::Exchange& ex);

//! Runs the admission chain (with a stream slot when `stream`), then `h`;
//! RateLimit-* headers on the answer.
http::Handler guarded(GatewayDeps d, AdmittedHandler h, bool stream = false);

}  // namespace aion::gateway
