// The budget ledger contract (control/budget_book.h), one suite run against
// every implementation (STYLE.md §3): the embedded book (one control plane,
// spend loaded from SQLite) always; the ledger that several control planes
// share in PostgreSQL (store/cluster.h) when AION_TEST_POSTGRES_DSN names a
// server (tests/e2e/test_store_postgres.py starts one). "Planes" are one
// book each on PostgreSQL; the embedded backend has one plane, so every
// plane there is the same book.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <future>
#include <thread>

#include "common/ids.h"
#include "control/budget_book.h"
#include "store_backends.h"

namespace aion::control {
namespace {
namespace asio = boost::asio;
using store::PgTaskStore;
using store::SqliteTaskStore;
using Kind = BudgetScope::Kind;

//! Runs one coroutine to its end on a loop of its own.
template <typename T>
T run(asio::awaitable<T> aw) {
  asio::io_context io;
  auto f = asio::co_spawn(io, std::move(aw), asio::use_future);
  io.run();
  return f.get();
}

store::UsageRecord usage(const std::string& id, int64_t nano, int64_t ts) {
  return {.id = id,
          .taskId = id,
          .tsMs = ts,
          .tenant = "acme",
          .keyId = "k1",
          .intent = "chat",
          .provider = "openai",
          .model = "m",
          .promptTokens = 1,
          .completionTokens = 1,
          .costNanoUsd = nano,
          .estimated = false};
}

Status putAndWait(store::TaskStore& s, store::Write w) {
  std::promise<Status> p;
  s.write(std::move(w), [&p](const Status& st, store::Write&) { p.set_value(st); });
  return p.get_future().get();
}

struct EmbeddedLedger {
  store::SqliteBackend db;
  std::unique_ptr<SqliteTaskStore> store;
  BudgetBook book;
  static std::string unavailable() { return {}; }
  Status open(const std::vector<store::UsageRecord>& spent, int64_t now) {
    auto s = db.open({});
    if (!s) return std::unexpected(s.error());
    store = std::move(*s);
    for (auto& u : spent)
      if (auto st = putAndWait(*store, {.taskId = u.taskId, .usage = {u}}); !st) return st;
    return book.load(*store, now);
  }
  size_t planes() const { return 1; }
  BudgetBook& plane(size_t) { return book; }
  //! Spent and reserved as the ledger holds them.
  std::pair<int64_t, int64_t> spent(const BudgetScope& sc, int64_t now) {
    return book.spent(sc, now);
  }
};

struct SharedLedger {
  store::PostgresBackend db;
  asio::thread_pool pool{4};
  std::vector<std::unique_ptr<PgTaskStore>> stores;
  std::vector<std::unique_ptr<BudgetBook>> books;
  static std::string unavailable() { return store::PostgresBackend::unavailable(); }
  ~SharedLedger() {
    pool.join();
    books.clear();
    stores.clear();  // before the backend drops the schema
  }
  Status open(const std::vector<store::UsageRecord>& spent, int64_t now) {
    for (const char* id : {"plane-a", "plane-b"}) {
      auto s = db.open({.dsn = "", .readers = 4, .planeId = id});
      if (!s) return std::unexpected(s.error());
      if (auto r = (*s)->renew(); !r) return std::unexpected(r.error());
      stores.push_back(std::move(*s));
    }
    for (auto& u : spent)
      if (auto st = putAndWait(*stores[0], {.taskId = u.taskId, .usage = {u}}); !st) return st;
    for (auto& s : stores) {
      books.push_back(std::make_unique<BudgetBook>());
      books.back()->share(s.get(), pool.get_executor());
      if (auto st = books.back()->load(*s, now); !st) return st;
    }
    return {};
  }
  size_t planes() const { return books.size(); }
  BudgetBook& plane(size_t i) { return *books[i % books.size()]; }
  std::pair<int64_t, int64_t> spent(const BudgetScope& sc, int64_t now) {
    auto r = stores[0]->spent({.kind = sc.kind == Kind::kTenant ? "tenant" : "key",
                               .id = sc.id,
                               .period = sc.period,
                               .periodStartMs = store::periodStartMs(sc.period, now),
                               .capNanoUsd = sc.capNanoUsd});
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : std::pair<int64_t, int64_t>{-1, -1};
  }
};

template <typename L>
struct LedgerConformance : ::testing::Test {
  L ledger;
  int64_t now = nowMs();
  void SetUp() override {
    if (auto why = L::unavailable(); !why.empty()) GTEST_SKIP() << why;
  }
  void open(std::vector<store::UsageRecord> spent = {}) {
    auto st = ledger.open(spent, now);
    ASSERT_TRUE(st) << st.error().message;
  }
  Status reserve(size_t plane, const std::string& id, const std::vector<BudgetScope>& caps,
                 int64_t nano, const std::string& key = "k1") {
    return run(ledger.plane(plane).reserveAsync(id, "acme", key, caps, nano, now));
  }
  void settle(size_t plane, const std::string& id, int64_t nano) {
    run(ledger.plane(plane).settleAsync(id, nano, now));
  }
};

struct LedgerNames {
  template <typename L>
  static std::string GetName(int) {
    return std::is_same_v<L, EmbeddedLedger> ? "Embedded" : "Postgres";
  }
};
using Ledgers = ::testing::Types<EmbeddedLedger, SharedLedger>;
TYPED_TEST_SUITE(LedgerConformance, Ledgers, LedgerNames);

TYPED_TEST(LedgerConformance, ARefusalNamesTheScopeAndReservesNothing) {
  this->open();
  std::vector<BudgetScope> cap{{Kind::kTenant, "acme", "day", 1000}};
  ASSERT_TRUE(this->reserve(0, "r1", cap, 600));
  auto no = this->reserve(0, "r2", cap, 600);
  ASSERT_FALSE(no);
  EXPECT_EQ(no.error().code, ErrorCode::kBudgetExceeded);
  EXPECT_NE(no.error().message.find("tenant 'acme' day budget"), std::string::npos)
      << no.error().message;
  EXPECT_EQ(no.error().details.at("scope"), "tenant");
  EXPECT_EQ(this->ledger.spent(cap[0], this->now), std::make_pair(int64_t{0}, int64_t{600}));
  ASSERT_TRUE(this->reserve(0, "r3", cap, 400));  // exactly up to the cap
  EXPECT_FALSE(this->reserve(0, "r4", cap, 1));
}

TYPED_TEST(LedgerConformance, ASettleCountsWhatWasSpentOnceAndFreesItsReservation) {
  this->open();
  std::vector<BudgetScope> cap{{Kind::kTenant, "acme", "day", 1000}};
  ASSERT_TRUE(this->reserve(0, "r1", cap, 600));
  this->settle(0, "r1", 100);
  EXPECT_EQ(this->ledger.spent(cap[0], this->now), std::make_pair(int64_t{100}, int64_t{0}));
  this->settle(0, "r1", 100);       // settled already: counts once
  this->settle(0, "unknown", 500);  // never reserved: changes nothing
  EXPECT_EQ(this->ledger.spent(cap[0], this->now), std::make_pair(int64_t{100}, int64_t{0}));
  ASSERT_TRUE(this->reserve(0, "r2", cap, 900));  // room again
  EXPECT_FALSE(this->reserve(0, "r3", cap, 1));
}

TYPED_TEST(LedgerConformance, EveryScopeOfACallIsChecked) {
  this->open();
  std::vector<BudgetScope> caps{{Kind::kTenant, "acme", "month", 10'000},
                                {Kind::kKey, "k1", "day", 500}};
  ASSERT_TRUE(this->reserve(0, "r1", caps, 400));
  auto no = this->reserve(0, "r2", caps, 200);  // the tenant has room; the key does not
  ASSERT_FALSE(no);
  EXPECT_EQ(no.error().details.at("scope"), "key");
  EXPECT_EQ(no.error().details.at("period"), "day");
  // another key of the same tenant is under the tenant cap only
  ASSERT_TRUE(this->reserve(0, "r3", {caps[0]}, 9'000, "k2"));
  EXPECT_FALSE(this->reserve(0, "r4", {caps[0]}, 700, "k2"));  // 400 + 9000 + 700 > 10000
  EXPECT_EQ(this->ledger.spent(caps[0], this->now).second, 9'400);
}

TYPED_TEST(LedgerConformance, SpendAlreadyStoredForThePeriodCounts) {
  int64_t lastMonth = store::periodStartMs("month", this->now) - 1;
  this->open({usage("u1", 700, this->now), usage("u0", 5'000, lastMonth)});
  std::vector<BudgetScope> day{{Kind::kTenant, "acme", "day", 1000}};
  std::vector<BudgetScope> month{{Kind::kTenant, "acme", "month", 1000}};
  EXPECT_FALSE(this->reserve(0, "r1", day, 400));  // 700 spent today
  ASSERT_TRUE(this->reserve(0, "r2", day, 300));
  this->settle(0, "r2", 0);
  // last month's 5000 is not this month's
  ASSERT_TRUE(this->reserve(0, "r3", month, 300));
}

TYPED_TEST(LedgerConformance, ConcurrentReservationsFromEveryPlaneNeverPassTheCap) {
  this->open();
  std::vector<BudgetScope> cap{{Kind::kKey, "k1", "month", 10'000}};
  std::atomic<int> granted{0}, refused{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < 6; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < 20; ++i) {
          std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
          auto plane = static_cast<size_t>(t);  // threads spread over the planes
          if (auto st = this->reserve(plane, id, cap, 300); st) {
            ++granted;
            this->settle(plane, id, 250);
          } else {
            EXPECT_EQ(st.error().code, ErrorCode::kBudgetExceeded) << st.error().message;
            ++refused;
          }
        }
      });
  }
  auto [spent, reserved] = this->ledger.spent(cap[0], this->now);
  EXPECT_EQ(spent, 250 * granted.load());
  EXPECT_LE(spent, 10'000);
  EXPECT_EQ(reserved, 0);
  EXPECT_GT(refused.load(), 0);  // 120 calls of 250 cannot all fit in 10000
  for (size_t p = 0; p < this->ledger.planes(); ++p)
    EXPECT_EQ(this->ledger.plane(p).openReservations(), 0u);
}

// The shared ledger as a plane sees it when the database does not answer
// its settle: the first `failSettles` settles fail, the rest go through.
class FlakyLedger final : public store::Cluster {
 public:
  FlakyLedger(store::Cluster& real, int failSettles) : real_(real), fail_(failSettles) {}
  const std::string& planeId() const override { return real_.planeId(); }
  Result<std::vector<std::string>> renew() override { return real_.renew(); }
  Result<std::vector<store::Task>> claim(bool ownToo) override { return real_.claim(ownToo); }
  Result<std::vector<store::Task>> take(size_t n, std::chrono::milliseconds q) override {
    return real_.take(n, q);
  }
  Result<std::optional<store::Task>> requestCancel(const std::string& id) override {
    return real_.requestCancel(id);
  }
  void release() override { real_.release(); }
  void listen(Listener l) override { real_.listen(std::move(l)); }
  void unlisten() override { real_.unlisten(); }
  Result<std::optional<store::LedgerRefusal>> reserve(const std::string& id,
                                                      const std::vector<store::LedgerScope>& s,
                                                      int64_t nano) override {
    return real_.reserve(id, s, nano);
  }
  Status settle(const std::string& id, int64_t spent) override {
    if (fail_-- > 0) return fail(ErrorCode::kUnavailable, "the database did not answer");
    return real_.settle(id, spent);
  }
  Result<std::pair<int64_t, int64_t>> spent(const store::LedgerScope& s) override {
    return real_.spent(s);
  }

 private:
  store::Cluster& real_;
  std::atomic<int> fail_;
};

// A settle the shared ledger did not take is retried with the plane's next
// ledger call: its reservation goes, its spend lands, before the next
// reservation is checked against the cap (it would be refused otherwise).
TEST(PostgresLedger, ASettleTheDatabaseMissedIsRetriedBeforeTheNextReservation) {
  if (auto why = store::PostgresBackend::unavailable(); !why.empty()) GTEST_SKIP() << why;
  store::PostgresBackend db;
  auto s = db.open({.dsn = "", .readers = 2, .planeId = "plane-a"});
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_TRUE((*s)->renew());
  asio::thread_pool pool{2};
  FlakyLedger flaky(**s, 1);
  BudgetBook book;
  book.share(&flaky, pool.get_executor());
  int64_t now = nowMs();
  ASSERT_TRUE(book.load(**s, now));
  std::vector<BudgetScope> cap{{Kind::kKey, "k1", "month", 1000}};
  store::LedgerScope scope{.kind = "key",
                           .id = "k1",
                           .period = "month",
                           .periodStartMs = store::periodStartMs("month", now),
                           .capNanoUsd = 1000};
  ASSERT_TRUE(run(book.reserveAsync("r1", "acme", "k1", cap, 800, now)));
  run(book.settleAsync("r1", 300, now));  // the database misses it
  EXPECT_EQ(book.unsettled(), 1u);
  EXPECT_EQ(book.openReservations(), 0u);  // this plane's book let it go at once
  auto held = (*s)->spent(scope);
  ASSERT_TRUE(held);
  EXPECT_EQ(*held, (std::pair<int64_t, int64_t>{0, 800}));  // still reserved in the ledger
  // 600 fits only once r1's 800 is released (300 spent + 600 <= 1000).
  auto st = run(book.reserveAsync("r2", "acme", "k1", cap, 600, now));
  EXPECT_TRUE(st) << st.error().message;
  EXPECT_EQ(book.unsettled(), 0u);
  auto after = (*s)->spent(scope);
  ASSERT_TRUE(after);
  EXPECT_EQ(*after, (std::pair<int64_t, int64_t>{300, 600}));
  run(book.settleAsync("r2", 600, now));
  pool.join();
}

}  // namespace
}  // namespace aion::control
