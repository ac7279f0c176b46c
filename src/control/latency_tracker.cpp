#include "control/latency_tracker.h"

#include <algorithm>
#include <vector>

namespace aion::control {

void LatencyTracker::record(const std::string& routeKey, double ms) {
  std::lock_guard lock(mu_);
  auto& r = rings_[routeKey];
  r.v[r.next] = ms;
  r.next = (r.next + 1) % kWindow;
  ++r.total;
  dirty_ = true;
}

std::map<std::string, router::LatencyStat> LatencyTracker::snapshot() const {
  std::lock_guard lock(mu_);
  auto now = std::chrono::steady_clock::now();
  if (!dirty_ || now - computedAt_ < std::chrono::milliseconds(100)) return cached_;
  dirty_ = false;
  computedAt_ = now;
  auto& out = cached_;
  out.clear();
  for (auto& [k, r] : rings_) {
    size_t n = std::min<uint64_t>(r.total, kWindow);
    std::vector<double> v(r.v.begin(), r.v.begin() + n);
    std::sort(v.begin(), v.end());
    auto at = [&](double q) { return v[std::min(n - 1, static_cast<size_t>(q * (n - 1) + 0.5))]; };
    out[k] = router::LatencyStat{at(0.5), at(0.95), r.total};
  }
  return out;
}

}  // namespace aion::control
