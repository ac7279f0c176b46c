#pragma once
// A cap on long-lived streams (SSE and WebSocket) per gateway process, so
// idle subscribers cannot exhaust the process; the gauge tracks them.
#include <prometheus/gauge.h>

#include <atomic>
#include <memory>

namespace aion::gateway {

class StreamSlots {
 public:
  //! Held while a stream is open; frees its slot when destroyed.
  class Slot {
   public:
    explicit Slot(StreamSlots* s) : s_(s) {}
    ~Slot() {
      s_->open_.fetch_sub(1);
      s_->gauge_.Decrement();
    }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

   private:
    StreamSlots* s_;
  };

  StreamSlots(size_t max, prometheus::Gauge& gauge) : max_(max), gauge_(gauge) {}

  //! A slot, or nullptr when `max` streams are already open.
  std::unique_ptr<Slot> acquire() {
    size_t n = open_.load();
    do {
      if (n >= max_) return nullptr;
    } while (!open_.compare_exchange_weak(n, n + 1));
    gauge_.Increment();
    return std::make_unique<Slot>(this);
  }
  size_t max() const { return max_; }

 private:
  std::atomic<size_t> open_{0};
  size_t max_;
  prometheus::Gauge& gauge_;
};

}  // namespace aion::gateway
