#include "providers/resilience.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>

namespace aion::providers {

std::chrono::milliseconds backoff(int retry, const policy::RetryPolicy& p, std::mt19937_64& rng) {
  double cap = std::min<double>(p.maxMs, p.baseMs * std::pow(2.0, std::min(retry, 30)));
  std::uniform_real_distribution<double> d(0, cap);
  return std::chrono::milliseconds(static_cast<int64_t>(d(rng)));
}

std::optional<std::chrono::milliseconds> parseRetryAfter(
    std::string_view v, std::chrono::system_clock::time_point now) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  double secs = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), secs);
  if (ec == std::errc() && end == v.data() + v.size()) {
    if (secs < 0 || secs > 86400) return std::nullopt;
    return std::chrono::milliseconds(static_cast<int64_t>(secs * 1000));
  }
  // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
  std::tm tm{};
  std::string s(v);
  if (!strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm)) return std::nullopt;
  auto at = std::chrono::system_clock::from_time_t(timegm(&tm));
  auto d = std::chrono::duration_cast<std::chrono::milliseconds>(at - now);
  return std::max(d, std::chrono::milliseconds(0));
}

void CircuitBreaker::setPolicy(policy::BreakerPolicy p) {
  std::lock_guard lock(mu_);
  p_ = p;
}

bool CircuitBreaker::allow(Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (!open_) return true;
  if (now - openedAt_ < std::chrono::milliseconds(p_.openMs) || trial_) return false;
  trial_ = true;  // half-open: this caller is the trial
  return true;
}

void CircuitBreaker::success() {
  std::lock_guard lock(mu_);
  consecutive_ = 0;
  open_ = false;
  trial_ = false;
}

void CircuitBreaker::failure(Clock::time_point now) {
  std::lock_guard lock(mu_);
  ++consecutive_;
  if (trial_ || consecutive_ >= p_.failures) {
    open_ = true;
    openedAt_ = now;
  }
  trial_ = false;
}

std::optional<std::string> CircuitBreaker::openReason(Clock::time_point now) const {
  std::lock_guard lock(mu_);
  if (!open_) return std::nullopt;
  auto left = std::chrono::milliseconds(p_.openMs) - (now - openedAt_);
  if (left <= std::chrono::milliseconds(0) && !trial_) return std::nullopt;
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(left).count();
  return "circuit open after " + std::to_string(consecutive_) + " consecutive failures" +
         (trial_ ? " (trial call in flight)" : "; next trial in " + std::to_string(secs) + " s");
}

}  // namespace aion::providers
