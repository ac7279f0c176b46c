#pragma once
// Request ceilings per API key and per client IP (seed: AION_RATE_LIMIT_MAX,
// AION_RATE_LIMIT_PER_IP). Fixed windows aligned to the clock: exactly
// `limit` requests are admitted per window, never limit±slop.
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace aion::gateway {

struct RateDecision {
  bool allowed = true;
  uint64_t limit = 0;
  uint64_t remaining = 0;
  int64_t resetSeconds = 0;  // until the window ends
};

//! The limiter seam: in-process here; a Redis implementation shares counters
//! between gateway processes.
class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  //! Counts one request for `bucket` and decides. Thread-safe.
  virtual RateDecision hit(const std::string& bucket, uint64_t limit,
                           std::chrono::seconds window) = 0;
  //! True when hit() does network I/O (callers then run it off I/O threads).
  virtual bool blocking() const { return false; }
};

class InProcessRateLimiter final : public RateLimiter {
 public:
  using Clock = std::function<int64_t()>;  // milliseconds since the epoch
  explicit InProcessRateLimiter(Clock clock);
  RateDecision hit(const std::string& bucket, uint64_t limit, std::chrono::seconds window) override;
  size_t size() const;

 private:
  struct Counter {
    int64_t windowStart = 0;
    uint64_t count = 0;
  };
  Clock clock_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Counter> counters_;
  int64_t lastSweep_ = 0;
};

}  // namespace aion::gateway
