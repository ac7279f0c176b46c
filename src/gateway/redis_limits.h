#pragma once
// Redis-backed rate limiter and idempotency store: several gateway processes
// pointing at one Redis (AION_CONTROL_REDIS_URL) share one limit and one key
// space. Both degrade when Redis is unreachable (seed, "Assumptions"): the
// limiter falls back to per-process counting, idempotency is skipped; each
// degraded call is logged (at most every 10 s) and counted in
// aion_gateway_degraded_total.
#include <atomic>

#include "gateway/idempotency.h"
#include "gateway/rate_limiter.h"
#include "redis/redis_client.h"
#include "telemetry/metrics.h"

namespace aion::gateway {

class RedisRateLimiter final : public RateLimiter {
 public:
  RedisRateLimiter(redis::RedisClient& client, RateLimiter& fallback, telemetry::Metrics& metrics);
  RateDecision hit(const std::string& bucket, uint64_t limit, std::chrono::seconds window) override;
  bool blocking() const override { return true; }

 private:
  redis::RedisClient& client_;
  RateLimiter& fallback_;
  telemetry::Metrics& metrics_;
};

class RedisIdempotencyStore final : public IdempotencyStore {
 public:
  RedisIdempotencyStore(redis::RedisClient& client, std::chrono::seconds ttl,
                        telemetry::Metrics& metrics);
  Begin begin(const std::string& scopedKey, const std::string& bodyHash, Stored& response) override;
  void complete(const std::string& scopedKey, Stored response) override;
  void abandon(const std::string& scopedKey) override;
  bool blocking() const override { return true; }

 private:
  redis::RedisClient& client_;
  int64_t ttlMs_;
  telemetry::Metrics& metrics_;
};

}  // namespace aion::gateway
