#pragma once
// The I/O threads, Envoy-style: one single-threaded event loop per thread. A
// connection lives on one loop, and so do the task it waits for and the
// provider connection it borrows, so a request's steps do not hop between
// threads (each hop is a wake-up of another thread: measured at ~0.3 ms of
// added latency on this project's 2-core machine).
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/thread_name.h"

namespace aion {

class IoPool {
 public:
  explicit IoPool(int threads) {
    for (int i = 0; i < std::max(1, threads); ++i) {
      loops_.push_back(std::make_unique<boost::asio::io_context>(1));
      work_.emplace_back(loops_.back()->get_executor());
      ticks_.push_back(std::make_unique<boost::asio::steady_timer>(*loops_.back()));
      tick(*ticks_.back());
    }
  }
  size_t size() const { return loops_.size(); }
  boost::asio::io_context& loop(size_t i) { return *loops_[i]; }
  //! The next loop, round-robin: where a new connection or task goes.
  boost::asio::any_io_executor next() {
    return loops_[next_.fetch_add(1, std::memory_order_relaxed) % loops_.size()]->get_executor();
  }
  //! Runs every loop, one on the calling thread, until stop().
  void run() {
    std::vector<std::jthread> threads;
    for (size_t i = 1; i < loops_.size(); ++i)
      threads.emplace_back([this, i] {
        nameThisThread(("aion-io-" + std::to_string(i)).c_str());
        loops_[i]->run();
      });
    loops_[0]->run();
  }
  void stop() {
    for (auto& l : loops_) l->stop();
  }

 private:
  // Asio re-programs the kernel's timer (a timerfd_settime) whenever a new
  // timer becomes its loop's earliest. With one request in flight, that was
  // each of its timers (read, write, deadline, upstream): 6 syscalls a call.
  // A tick sooner than any request's timeout stays the earliest instead.
  static constexpr std::chrono::milliseconds kTick{250};
  static void tick(boost::asio::steady_timer& t) {
    t.expires_after(kTick);
    t.async_wait([&t](boost::system::error_code ec) {
      if (!ec) tick(t);
    });
  }

  std::vector<std::unique_ptr<boost::asio::io_context>> loops_;
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::atomic<size_t> next_{0};
  std::vector<std::unique_ptr<boost::asio::steady_timer>> ticks_;  // destroyed before loops_
};

}  // namespace aion
