#include "store/sqlite_ledger.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "temp_dir.h"

namespace aion::store {
namespace {

constexpr int64_t kNow = 1795600000000;  // 2026-11-25T...Z

UsageRecord use(const std::string& id, int64_t nano, const std::string& tenant = "acme") {
  return {.id = id,
          .taskId = id,
          .tsMs = kNow,
          .tenant = tenant,
          .keyId = "k1",
          .intent = "chat",
          .provider = "openai",
          .model = "m",
          .promptTokens = 3,
          .completionTokens = 4,
          .costNanoUsd = nano,
          .estimated = false};
}

TEST(Ledger, PeriodsAreUtcDaysAndMonths) {
  EXPECT_EQ(utcDay(0), "1970-01-01");
  EXPECT_EQ(periodStartMs("day", 86400000 + 5000), 86400000);
  EXPECT_EQ(periodStartMs("month", 40LL * 86400000), 31LL * 86400000);  // Feb 1st 1970
}

TEST(Ledger, ReserveRefusesPastTheCapAndSettleCountsActualSpend) {
  testing::TempDir dir;
  auto l = SqliteLedger::open(dir.path() / "l.db");
  ASSERT_TRUE(l);
  std::vector<BudgetScope> cap{{BudgetScope::Kind::kTenant, "acme", "day", 1000}};
  ASSERT_TRUE((*l)->reserve("r1", "acme", "k1", cap, 600, kNow));
  auto no = (*l)->reserve("r2", "acme", "k1", cap, 600, kNow);
  ASSERT_FALSE(no);
  EXPECT_EQ(no.error().code, ErrorCode::kBudgetExceeded);
  EXPECT_NE(no.error().message.find("tenant 'acme' day budget"), std::string::npos);
  ASSERT_TRUE((*l)->settle("r1", use("r1", 100)));
  EXPECT_EQ((*l)->spent(cap[0], kNow)->first, 100);
  EXPECT_EQ((*l)->spent(cap[0], kNow)->second, 0);
  ASSERT_TRUE((*l)->reserve("r2", "acme", "k1", cap, 600, kNow));  // room again
  ASSERT_TRUE((*l)->settle("r1", use("r1", 100)));                 // settling twice records once
  EXPECT_EQ((*l)->spent(cap[0], kNow)->first, 100);
  // another tenant is not affected; a later day starts fresh
  EXPECT_TRUE((*l)->reserve("r3", "beta", "k2", {{BudgetScope::Kind::kTenant, "beta", "day", 1000}},
                            900, kNow));
  ASSERT_TRUE((*l)->releaseAll());
  EXPECT_EQ((*l)->spent(cap[0], kNow + 86400000)->first, 0);
}

TEST(Ledger, ConcurrentReservationsNeverPassTheCap) {
  testing::TempDir dir;
  auto l = SqliteLedger::open(dir.path() / "l.db");
  ASSERT_TRUE(l);
  std::vector<BudgetScope> cap{{BudgetScope::Kind::kKey, "k1", "month", 10'000}};
  std::atomic<int> granted{0};
  std::vector<std::jthread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        std::string id = std::to_string(t) + "-" + std::to_string(i);
        if ((*l)->reserve(id, "acme", "k1", cap, 300, kNow)) {
          ++granted;
          (void)(*l)->settle(id, use(id, 250));
        }
      }
    });
  threads.clear();
  auto s = (*l)->spent(cap[0], kNow);
  EXPECT_LE(s->first, 10'000);
  EXPECT_EQ(s->first, 250 * granted.load());
  EXPECT_GE(granted.load(), 10'000 / 300);
}

TEST(Ledger, UsageGroupsFiltersAndRejectsUnknownColumns) {
  testing::TempDir dir;
  auto l = SqliteLedger::open(dir.path() / "l.db");
  ASSERT_TRUE(l);
  ASSERT_TRUE((*l)->settle("a", use("a", 5)));
  ASSERT_TRUE((*l)->settle("b", use("b", 7)));
  ASSERT_TRUE((*l)->settle("c", use("c", 11, "beta")));
  auto rows = (*l)->usage({.filters = {}, .fromDay = "", .toDay = "", .groupBy = {"tenant"}});
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].group.at("tenant"), "acme");
  EXPECT_EQ((*rows)[0].costNanoUsd, 12);
  EXPECT_EQ((*rows)[0].calls, 2);
  auto beta =
      (*l)->usage({.filters = {{"tenant", "beta"}}, .fromDay = "", .toDay = "", .groupBy = {}});
  ASSERT_TRUE(beta);
  ASSERT_EQ(beta->size(), 1u);
  EXPECT_EQ((*beta)[0].costNanoUsd, 11);
  auto none = (*l)->usage({.filters = {}, .fromDay = "2999-01-01", .toDay = "", .groupBy = {}});
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  EXPECT_FALSE((*l)->usage(
      {.filters = {{"x; DROP TABLE usage", "1"}}, .fromDay = "", .toDay = "", .groupBy = {}}));
  EXPECT_FALSE((*l)->usage({.filters = {}, .fromDay = "", .toDay = "", .groupBy = {"colour"}}));
}

}  // namespace
}  // namespace aion::store
