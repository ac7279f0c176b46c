#pragma once
// The one admission chain (DESIGN.md §4a): per-IP limit, authentication and
// tenant, per-key limit, and a stream slot for anything that streams — the
// same steps, in the same order, for REST, SSE, WebSocket, gRPC and the
// OpenAI-compatible API. Idempotent submission lives here too, so every
// surface that takes an Idempotency-Key treats it alike.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "auth/api_keys.h"
#include "common/error.h"
#include "gateway/idempotency.h"
#include "gateway/rate_limiter.h"
#include "gateway/stream_slots.h"
#include "telemetry/metrics.h"

namespace aion::gateway {

//! Why a task was canceled by its surface (recorded on the task).
inline const std::string kClientLeft = "client disconnected";
inline const std::string kCanceledByClient = "canceled by a client";

//! What a request presents, whatever its surface.
struct Credentials {
  std::string apiKey;    // X-API-Key, "Authorization: Bearer", x-api-key metadata, auth message
  std::string tenant;    // X-Tenant-Id (multi-tenant mode)
  std::string remoteIp;  // for the per-IP limit; empty: not applied
  // The trace the request belongs to: admission is a span of it.
  std::string traceId{}, parentSpanId{};
  bool sampled = false;
};

struct Admitted {
  Principal who;
  std::optional<RateDecision> rate;         // the tighter limit, for RateLimit-* headers
  std::unique_ptr<StreamSlots::Slot> slot;  // held while the stream is open
};

//! The answer an idempotent submission gives, first time or replayed.
struct IdempotentAnswer {
  unsigned status = 0;
  boost::json::value body;
  bool replayed = false;
};

class Admission {
 public:
  struct Options {
    uint64_t ratePerKey = 0;  // 0: no limit
    uint64_t ratePerIp = 0;
    std::chrono::seconds rateWindow{60};
    telemetry::Metrics* metrics = nullptr;  // counts refusals and idempotency outcomes
  };
  Admission(const auth::KeyRing& keys, RateLimiter& limiter, IdempotencyStore& idempotency,
            StreamSlots& streams, boost::asio::any_io_executor blocking, Options opts);

  //! The whole chain. `stream`: the request opens a stream and needs a slot
  //! (kUnavailable with retryAfterSeconds when AION_MAX_STREAMS are open).
  //! Errors: kRateLimited (details: limit, windowSeconds, retryAfterSeconds),
  //! kUnauthenticated, kForbidden, kUnavailable.
  boost::asio::awaitable<Result<Admitted>> admit(Credentials c, bool stream);
  //! The per-IP step alone (a WebSocket upgrade, before its auth message).
  boost::asio::awaitable<Status> limitIp(std::string ip);
  //! Authentication and the per-key limit, for a client already past the
  //! per-IP step (a WebSocket auth message).
  boost::asio::awaitable<Result<Admitted>> authenticate(Credentials c);
  //! The per-key limit alone: each request message of a WebSocket counts
  //! like an HTTP request.
  boost::asio::awaitable<Status> limitKey(const Principal& who);
  //! A stream slot, for a request that turns out to stream.
  Result<std::unique_ptr<StreamSlots::Slot>> streamSlot();

  //! Runs `work` once per (tenant, key): a repeat with the same request
  //! (compared as parsed JSON) replays the first answer, another request is
  //! kConflict, one still running is kConflict with retryAfterSeconds. An
  //! empty key runs `work` without any of this.
  //! `work` is called at most once, while once() runs (pass a named lambda:
  //! see common/async.h).
  boost::asio::awaitable<Result<IdempotentAnswer>> once(
      const Principal& who, std::string key, boost::json::value request,
      const std::function<boost::asio::awaitable<Result<IdempotentAnswer>>()>& work);
  //! kInvalidRequest unless `key` is 1-255 printable ASCII characters.
  static Status checkIdempotencyKey(std::string_view key);

 private:
  boost::asio::awaitable<RateDecision> hit(std::string bucket, uint64_t limit);
  boost::asio::awaitable<Result<Admitted>> admitSteps(Credentials c, bool stream);
  boost::asio::awaitable<Result<Admitted>> authSteps(Credentials c);
  enum class Bucket { kIp, kKey };
  //! The 429 for a bucket over its limit (counted by reason).
  Error limited(const RateDecision& d, Bucket bucket);
  void count(const char* reason);
  void countIdempotency(const char* outcome);

  const auth::KeyRing& keys_;
  RateLimiter& limiter_;
  IdempotencyStore& idempotency_;
  StreamSlots& streams_;
  boost::asio::any_io_executor blocking_;
  Options opts_;
};

}  // namespace aion::gateway
