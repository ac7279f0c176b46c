#pragma once
// The gateway's public REST + SSE surface (seed: /v1/tasks, /v1/stream).
#include <boost/asio/any_io_executor.hpp>
#include <chrono>

#include "auth/api_keys.h"
#include "control/control_api.h"
#include "gateway/idempotency.h"
#include "gateway/rate_limiter.h"
#include "gateway/stream_slots.h"
#include "http/server.h"

namespace aion::gateway {

struct GatewayOptions {
  std::chrono::milliseconds sseHeartbeat{15000};
  int maxPageSize = 100;
  uint64_t ratePerKey = 0;  // requests per window per API key; 0: no limit
  uint64_t ratePerIp = 0;   // requests per window per client IP; 0: no limit
  std::chrono::seconds rateWindow{60};
  size_t wsMaxQueuedBytes = 1 << 20;  // per WebSocket: beyond it the reader is too slow
  size_t wsMaxSubscriptions = 100;
  //! AION_DURABILITY=async: OpenAI-compatible calls are written behind.
  bool openAiBehind = false;
};

class Admission;

struct GatewayDeps {
  control::ControlApi& control;
  const auth::KeyRing& keys;
  boost::asio::any_io_executor blocking;  // Redis calls
  telemetry::Metrics& metrics;
  RateLimiter& limiter;
  IdempotencyStore& idempotency;
  StreamSlots& streams;  // open streams of every kind
  Admission& admission;
  std::function<boost::asio::any_io_executor()> nextIo;  // an event loop for a gRPC call
};

http::Routes gatewayRoutes(GatewayDeps deps, GatewayOptions opts);

}  // namespace aion::gateway
