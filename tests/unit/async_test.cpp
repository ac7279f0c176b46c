// offload and callbackAsync: results, exceptions, the executor the caller
// resumes on, and that what they capture is destroyed exactly once. (GCC 12
// destroys a capturing lambda *written inside* a co_await expression twice;
// the code names such lambdas first, as these tests do.)
#include "common/async.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <thread>

namespace aion {
namespace {
namespace asio = boost::asio;

std::atomic<int> live{0};
struct Probe {
  int id;
  explicit Probe(int i) : id(i) { ++live; }
  Probe(const Probe& o) : id(o.id) { ++live; }
  Probe(Probe&& o) noexcept : id(o.id) { ++live; }
  ~Probe() { --live; }
};

template <typename F>
void runOn(asio::io_context& io, F f) {
  asio::co_spawn(io, std::move(f), asio::detached);
  io.run();
}

TEST(Async, OffloadRunsElsewhereAndResumesOnTheCallersExecutor) {
  asio::io_context io;
  asio::thread_pool pool(1);
  std::thread::id ioThread, ranOn, resumedOn;
  int got = 0;
  runOn(io, [&]() -> asio::awaitable<void> {
    ioThread = std::this_thread::get_id();
    auto work = [&ranOn] {
      ranOn = std::this_thread::get_id();
      return 41;
    };
    got = co_await offload(pool.get_executor(), work) + 1;
    resumedOn = std::this_thread::get_id();
  });
  pool.join();
  EXPECT_EQ(got, 42);
  EXPECT_NE(ranOn, ioThread);
  EXPECT_EQ(resumedOn, ioThread);
}

TEST(Async, OffloadRethrowsInTheCaller) {
  asio::io_context io;
  asio::thread_pool pool(1);
  std::string caught;
  runOn(io, [&]() -> asio::awaitable<void> {
    auto work = []() -> int { throw std::runtime_error("module host bug"); };
    try {
      co_await offload(pool.get_executor(), work);
    } catch (const std::exception& e) {
      caught = e.what();
    }
  });
  pool.join();
  EXPECT_EQ(caught, "module host bug");
}

TEST(Async, CapturesAreDestroyedOnceEach) {
  {
    asio::io_context io;
    asio::thread_pool pool(2);
    int sum = 0;
    runOn(io, [&]() -> asio::awaitable<void> {
      Probe p(5);
      auto work = [p] { return p.id; };
      sum += co_await offload(pool.get_executor(), work);
      auto start = [p, &pool](auto done) { asio::post(pool, [p, done] { done(p.id); }); };
      sum += co_await callbackAsync<int>(asio::use_awaitable, start);
    });
    pool.join();
    EXPECT_EQ(sum, 10);
  }
  EXPECT_EQ(live.load(), 0);
}

}  // namespace
}  // namespace aion
