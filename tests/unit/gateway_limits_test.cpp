#include <gtest/gtest.h>

#include <thread>

#include "gateway/idempotency.h"
#include "gateway/rate_limiter.h"

namespace aion::gateway {
namespace {

using std::chrono::seconds;

TEST(RateLimiter, ExactlyNPerWindowThenReset) {
  int64_t now = 1'000'000'020'000;  // a multiple of 60 s
  InProcessRateLimiter lim([&] { return now; });
  for (uint64_t i = 1; i <= 5; ++i) {
    auto d = lim.hit("k", 5, seconds(60));
    ASSERT_TRUE(d.allowed) << i;
    EXPECT_EQ(d.remaining, 5 - i);
  }
  now += 59'000;
  auto d = lim.hit("k", 5, seconds(60));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.remaining, 0u);
  EXPECT_EQ(d.resetSeconds, 1);
  EXPECT_TRUE(lim.hit("other", 5, seconds(60)).allowed);  // buckets are independent
  now += 1'000;                                           // next window
  EXPECT_TRUE(lim.hit("k", 5, seconds(60)).allowed);
}

TEST(RateLimiter, ConcurrentHitsAdmitExactlyTheLimit) {
  int64_t now = 1'000'000'000'000;
  InProcessRateLimiter lim([&] { return now; });
  std::atomic<int> allowed{0};
  std::vector<std::jthread> ts;
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 500; ++i) allowed += lim.hit("k", 1000, seconds(60)).allowed;
    });
  ts.clear();
  EXPECT_EQ(allowed.load(), 1000);
}

TEST(RateLimiter, OldBucketsAreForgotten) {
  int64_t now = 1'000'000'000'000;
  InProcessRateLimiter lim([&] { return now; });
  for (int i = 0; i < 100; ++i) lim.hit("k" + std::to_string(i), 5, seconds(1));
  EXPECT_EQ(lim.size(), 100u);
  now += 5'000;
  lim.hit("new", 5, seconds(1));
  EXPECT_EQ(lim.size(), 1u);
}

TEST(Idempotency, FirstReplayConflictInProgress) {
  int64_t now = 0;
  InProcessIdempotencyStore s([&] { return now; }, seconds(10), 1000);
  IdempotencyStore::Stored out;
  ASSERT_EQ(s.begin("t\nk", "h1", out), IdempotencyStore::Begin::kFirst);
  EXPECT_EQ(s.begin("t\nk", "h1", out), IdempotencyStore::Begin::kInProgress);
  EXPECT_EQ(s.begin("t\nk", "h2", out), IdempotencyStore::Begin::kConflict);
  s.complete("t\nk", {202, "{\"taskId\":\"x\"}"});
  ASSERT_EQ(s.begin("t\nk", "h1", out), IdempotencyStore::Begin::kReplay);
  EXPECT_EQ(out.status, 202u);
  EXPECT_EQ(out.body, "{\"taskId\":\"x\"}");
  EXPECT_EQ(s.begin("other\nk", "h2", out), IdempotencyStore::Begin::kFirst);  // scoped per tenant
  now += 10'000;                                                               // expired
  EXPECT_EQ(s.begin("t\nk", "h2", out), IdempotencyStore::Begin::kFirst);
}

TEST(Idempotency, AbandonLetsARetryProceed) {
  InProcessIdempotencyStore s([] { return int64_t{0}; }, seconds(10), 1000);
  IdempotencyStore::Stored out;
  ASSERT_EQ(s.begin("k", "h", out), IdempotencyStore::Begin::kFirst);
  s.abandon("k");
  EXPECT_EQ(s.begin("k", "h", out), IdempotencyStore::Begin::kFirst);
}

TEST(Idempotency, CapEvictsOldest) {
  InProcessIdempotencyStore s([] { return int64_t{0}; }, seconds(10), 3);
  IdempotencyStore::Stored out;
  for (auto k : {"a", "b", "c", "d"})
    ASSERT_EQ(s.begin(k, "h", out), IdempotencyStore::Begin::kFirst);
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s.begin("a", "other", out), IdempotencyStore::Begin::kFirst);  // "a" was evicted
}

TEST(Idempotency, ConcurrentDuplicatesHaveOneFirst) {
  InProcessIdempotencyStore s([] { return int64_t{0}; }, seconds(10), 1000);
  std::atomic<int> first{0};
  std::vector<std::jthread> ts;
  for (int t = 0; t < 16; ++t)
    ts.emplace_back([&] {
      IdempotencyStore::Stored out;
      first += s.begin("k", "h", out) == IdempotencyStore::Begin::kFirst;
    });
  ts.clear();
  EXPECT_EQ(first.load(), 1);
}

}  // namespace
}  // namespace aion::gateway
