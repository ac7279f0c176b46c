#pragma once
// Retry timing and circuit breaking for provider calls.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <string>

#include "policy/policy.h"

namespace aion::providers {

using Clock = std::chrono::steady_clock;

//! Full-jitter exponential backoff: uniform in [0, min(max, base * 2^retry)].
std::chrono::milliseconds backoff(int retry, const policy::RetryPolicy& p, std::mt19937_64& rng);

//! Retry-After as delta-seconds or an HTTP date; nullopt when absent or bad.
std::optional<std::chrono::milliseconds> parseRetryAfter(std::string_view v,
                                                         std::chrono::system_clock::time_point now);

//! Closed → (N consecutive failures) → open → (after open_ms) one trial →
//! closed on success, open again on failure. Thread-safe.
class CircuitBreaker {
 public:
  explicit CircuitBreaker(policy::BreakerPolicy p) : p_(p) {}
  void setPolicy(policy::BreakerPolicy p);
  //! May a call go now? In half-open state only one trial at a time.
  bool allow(Clock::time_point now);
  void success();
  void failure(Clock::time_point now);
  //! Why calls are refused now, or nullopt when they are not.
  std::optional<std::string> openReason(Clock::time_point now) const;

 private:
  mutable std::mutex mu_;
  policy::BreakerPolicy p_;
  int consecutive_ = 0;
  bool open_ = false;
  bool trial_ = false;
  Clock::time_point openedAt_{};
};

}  // namespace aion::providers
