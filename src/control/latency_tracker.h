#pragma once
// Live per-route latency (last N samples) feeding the router's estimates.
#include <array>
#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "router/router.h"

namespace aion::control {

class LatencyTracker {
 public:
  static constexpr size_t kWindow = 256;

  void record(const std::string& routeKey, double ms);
  //! P50/P95 over each route's window, recomputed at most every 100 ms
  //! (routing reads it for every task; sorting windows each time is waste).
  std::map<std::string, router::LatencyStat> snapshot() const;

 private:
  struct Ring {
    std::array<double, kWindow> v{};
    size_t next = 0;
    uint64_t total = 0;
  };
  mutable std::mutex mu_;
  std::map<std::string, Ring> rings_;
  mutable std::map<std::string, router::LatencyStat> cached_;
  mutable std::chrono::steady_clock::time_point computedAt_{};
  mutable bool dirty_ = false;
};

}  // namespace aion::control
