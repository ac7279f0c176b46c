#include "gateway/rate_limiter.h"

namespace aion::gateway {

InProcessRateLimiter::InProcessRateLimiter(Clock clock) : clock_(std::move(clock)) {}

RateDecision InProcessRateLimiter::hit(const std::string& bucket, uint64_t limit,
                                       std::chrono::seconds window) {
  int64_t now = clock_();
  int64_t w = window.count() * 1000;
  int64_t start = now - now % w;
  std::lock_guard lock(mu_);
  // Forget buckets of past windows now and then, so memory follows live clients.
  if (now - lastSweep_ > w) {
    for (auto it = counters_.begin(); it != counters_.end();)
      it = it->second.windowStart + w <= now ? counters_.erase(it) : std::next(it);
    lastSweep_ = now;
  }
  auto& c = counters_[bucket];
  if (c.windowStart != start) c = Counter{start, 0};
  RateDecision d;
  d.limit = limit;
  d.resetSeconds = (start + w - now + 999) / 1000;
  if (c.count >= limit) {
    d.allowed = false;
    return d;
  }
  ++c.count;
  d.remaining = limit - c.count;
  return d;
}

size_t InProcessRateLimiter::size() const {
  std::lock_guard lock(mu_);
  return counters_.size();
}

}  // namespace aion::gateway
