#include "store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <boost/json.hpp>
#include <future>
#include <thread>

#include "common/ids.h"
#include "temp_dir.h"

namespace aion::store {
namespace {
namespace json = boost::json;

constexpr int64_t kNow = 1795600000000;  // 2026-11-25T...Z

Task makeTask(const std::string& tenant = "default", TaskStatus st = TaskStatus::kRouted) {
  Task t;
  t.id = newTaskId();
  t.tenant = tenant;
  t.keyId = "abc123";
  t.intent = "summarize";
  t.surface = "rest";
  t.params = json::object{{"text", "héllo"}, {"budget", 0.02}};
  t.status = st;
  t.route = json::object{{"routes", json::array{}}};
  t.createdMs = nowMs();
  t.deadlineMs = t.createdMs + 1000;
  return t;
}

std::vector<Event> events(const std::string& id, int64_t from, std::vector<std::string> types) {
  std::vector<Event> out;
  for (auto& t : types) out.push_back({id, from++, t, kNow, json::object{{"n", from}}});
  return out;
}

UsageRecord use(const std::string& id, int64_t nano, const std::string& tenant = "acme",
                int64_t ts = kNow) {
  return {.id = id,
          .taskId = id,
          .tsMs = ts,
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

struct StoreTest : ::testing::Test {
  testing::TempDir dir;
  std::unique_ptr<SqliteTaskStore> store;
  SqliteTaskStore::Options opts;
  void SetUp() override { reopen(); }
  void reopen() {
    store.reset();
    auto s = SqliteTaskStore::open(dir.path() / "aion.db", opts);
    ASSERT_TRUE(s) << s.error().message;
    store = std::move(*s);
  }
  //! Writes and waits for the commit.
  Status put(Write w) {
    std::promise<Status> p;
    store->write(std::move(w), [&p](const Status& st, Write&) { p.set_value(st); });
    return p.get_future().get();
  }
  std::vector<int64_t> seqs(const std::string& id) {
    std::vector<int64_t> out;
    auto evs = store->events(id, 0, 1000);
    EXPECT_TRUE(evs);
    for (auto& e : *evs) out.push_back(e.seq);
    return out;
  }
};

TEST_F(StoreTest, CreateAndGetRoundTrip) {
  auto t = makeTask();
  t.traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  ASSERT_TRUE(put({.taskId = t.id, .create = t, .events = events(t.id, 1, {"status", "route"})}));
  auto got = store->get(t.id);
  ASSERT_TRUE(got && *got);
  const Task& g = **got;
  EXPECT_EQ(g.tenant, "default");
  EXPECT_EQ(g.keyId, "abc123");
  EXPECT_EQ(g.surface, "rest");
  EXPECT_EQ(g.traceId, t.traceId);
  EXPECT_EQ(g.params, t.params);
  EXPECT_EQ(g.status, TaskStatus::kRouted);
  EXPECT_EQ(g.route, t.route);
  EXPECT_TRUE(g.result.is_null());
  EXPECT_EQ(g.createdMs, t.createdMs);
  EXPECT_EQ(g.lastSeq, 2);
  EXPECT_FALSE(*store->get("tsk_missing"));
  // numbers are stored as people write them
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir.path() / "aion.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT params FROM tasks", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  std::string params(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  EXPECT_NE(params.find("0.02"), std::string::npos) << params;
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_F(StoreTest, UpdateAppliesOnlySetColumnsWithItsEventsAndUsage) {
  auto t = makeTask();
  ASSERT_TRUE(put({.taskId = t.id, .create = t, .events = events(t.id, 1, {"status"})}));
  TaskUpdate run;
  run.status = TaskStatus::kRunning;
  run.startedMs = 5;
  run.attempts = 1;
  ASSERT_TRUE(put({.taskId = t.id, .update = run, .events = events(t.id, 2, {"status"})}));
  TaskUpdate done;
  done.status = TaskStatus::kSucceeded;
  done.result = json::object{{"summary", "x"}};
  done.finishedMs = 9;
  done.costUsd = 0.5;
  done.overheadUs = 42;
  ASSERT_TRUE(put({.taskId = t.id,
                   .update = done,
                   .events = events(t.id, 3, {"result", "done"}),
                   .usage = {use("u1", 500)}}));
  EXPECT_EQ(seqs(t.id), (std::vector<int64_t>{1, 2, 3, 4}));
  auto g = **store->get(t.id);
  EXPECT_EQ(g.status, TaskStatus::kSucceeded);
  EXPECT_EQ(g.result.at("summary"), "x");
  EXPECT_EQ(g.startedMs, 5);
  EXPECT_EQ(g.attempts, 1);
  EXPECT_EQ(g.costUsd, 0.5);
  EXPECT_EQ(g.overheadUs, 42);
  EXPECT_EQ(g.lastSeq, 4);
  EXPECT_EQ(g.route, t.route);  // untouched
  auto tail = *store->events(t.id, 2, 10);
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(tail[0].type, "result");
  auto rows = store->usage({.filters = {}, .fromDay = "", .toDay = "", .groupBy = {}});
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].costNanoUsd, 500);
}

TEST_F(StoreTest, EveryDurabilitySurvivesReopenAndCommitsInOrder) {
  auto t = makeTask();
  std::vector<int> order;
  std::mutex mu;
  auto note = [&](int i) {
    return [&, i](const Status& st, Write&) {
      EXPECT_TRUE(st);
      std::lock_guard lock(mu);
      order.push_back(i);
    };
  };
  store->write({.taskId = t.id, .create = t, .events = events(t.id, 1, {"status"})}, note(0));
  int64_t seq = 2;
  for (int i = 1; i <= 6; ++i) {
    auto dur = i % 3 == 0 ? Durability::kDurable
                          : (i % 3 == 1 ? Durability::kCommitted : Durability::kBehind);
    store->write({.taskId = t.id, .events = events(t.id, seq++, {"delta"}), .durability = dur},
                 note(i));
  }
  store->flush();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6}));
  reopen();
  EXPECT_EQ(seqs(t.id), (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7}));
}

TEST_F(StoreTest, WritesBehindShareOneTransactionWithinTheWindow) {
  opts.behindWindow = std::chrono::seconds(30);  // only flush() or the count sends them
  opts.behindMax = 10000;
  std::atomic<size_t> reported{0}, commits{0};
  opts.onCommit = [&](double seconds, size_t writes) {
    EXPECT_GE(seconds, 0.0);
    reported += writes;
    ++commits;
  };
  reopen();
  std::vector<Task> tasks;
  for (int i = 0; i < 300; ++i) tasks.push_back(makeTask());
  std::atomic<int> done{0};
  for (auto& t : tasks)
    store->write({.taskId = t.id,
                  .create = t,
                  .events = events(t.id, 1, {"status"}),
                  .durability = Durability::kBehind},
                 [&](const Status& st, Write&) { done += st.has_value(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(done.load(), 0);  // still waiting for company
  EXPECT_EQ(store->commitStats().writes, 0u);
  store->flush();
  EXPECT_EQ(done.load(), 300);
  auto stats = store->commitStats();
  EXPECT_EQ(stats.writes, 300u);
  EXPECT_EQ(stats.transactions, 1u);
  EXPECT_EQ(stats.folded, 0u);       // one write per task: nothing to fold
  EXPECT_EQ(reported.load(), 300u);  // what the metrics hook is told
  EXPECT_EQ(commits.load(), 1u);
  store.reset();  // before the counters the hook refers to go
}

TEST_F(StoreTest, WritesBehindOfOneTaskFoldIntoOneButNeverPastAWriteSomeoneWaitsOn) {
  opts.behindWindow = std::chrono::seconds(30);
  reopen();
  auto a = makeTask(), b = makeTask();
  auto behind = [](Write w) {
    w.durability = Durability::kBehind;
    return w;
  };
  TaskUpdate running, done, later;
  running.status = TaskStatus::kRunning;
  running.startedMs = 5;
  running.attempts = 1;
  done.status = TaskStatus::kSucceeded;
  done.result = json::object{{"text", "ok"}};
  done.costUsd = 0.25;
  later.cancelRequested = true;
  // a: create, then two updates and events, all behind: one row in its final state.
  store->write(behind({.taskId = a.id, .create = a, .events = events(a.id, 1, {"status"})}), {});
  store->write(behind({.taskId = b.id, .create = b}), {});
  store->write(behind({.taskId = a.id, .update = running, .events = events(a.id, 2, {"status"})}),
               {});
  store->write(behind({.taskId = a.id,
                       .update = done,
                       .events = events(a.id, 3, {"result", "done"}),
                       .usage = {use(a.id, 7)}}),
               {});
  // b: a write someone waits on splits b's writes behind in two.
  Status waited;
  store->write(behind({.taskId = b.id, .update = running}), {});
  store->write(
      {.taskId = b.id, .events = events(b.id, 1, {"status"}), .durability = Durability::kCommitted},
      [&](const Status& st, Write&) { waited = st; });
  store->write(behind({.taskId = b.id, .update = later}), {});
  store->flush();
  EXPECT_TRUE(waited);
  auto stats = store->commitStats();
  // The write waited on sends the batch at once: b's last write may or may not make it.
  EXPECT_LE(stats.transactions, 2u);
  EXPECT_EQ(stats.folded, 3u);  // a's two updates and b's first update; never b's last

  auto ra = **store->get(a.id);
  EXPECT_EQ(ra.status, TaskStatus::kSucceeded);
  EXPECT_EQ(ra.startedMs, 5);
  EXPECT_EQ(ra.attempts, 1);
  EXPECT_EQ(ra.result, (json::value{{"text", "ok"}}));
  EXPECT_DOUBLE_EQ(ra.costUsd, 0.25);
  EXPECT_EQ(ra.lastSeq, 4);
  EXPECT_EQ(seqs(a.id), (std::vector<int64_t>{1, 2, 3, 4}));
  auto use_ = store->usage({});
  ASSERT_TRUE(use_);
  ASSERT_EQ(use_->size(), 1u);
  EXPECT_EQ(use_->front().calls, 1);
  EXPECT_EQ(use_->front().costNanoUsd, 7);
  auto rb = **store->get(b.id);
  EXPECT_EQ(rb.status, TaskStatus::kRunning);
  EXPECT_TRUE(rb.cancelRequested);
  EXPECT_EQ(rb.lastSeq, 1);
  // A fold commits or fails whole, alone in its batch: a duplicate create
  // takes its task's later writes behind with it, not b's.
  TaskUpdate cancel;
  cancel.status = TaskStatus::kCanceled;
  store->write(behind({.taskId = a.id, .create = a}), {});
  store->write(behind({.taskId = b.id, .update = done}), {});
  store->write(behind({.taskId = a.id, .update = cancel}), {});
  store->flush();
  EXPECT_EQ((**store->get(a.id)).status, TaskStatus::kSucceeded);
  EXPECT_EQ((**store->get(b.id)).status, TaskStatus::kSucceeded);
}

TEST_F(StoreTest, GroupCommitBatchesConcurrentDurableWrites) {
  constexpr int kThreads = 8, kEach = 100;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&] {
      for (int j = 0; j < kEach; ++j) {
        auto t = makeTask();
        ok += put({.taskId = t.id, .create = t, .events = events(t.id, 1, {"status"})}).has_value();
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), kThreads * kEach);
  store->flush();
  auto stats = store->commitStats();
  EXPECT_EQ(stats.writes, static_cast<uint64_t>(kThreads * kEach));
  // Eight writers waiting on fsyncs share transactions: fewer commits than writes.
  EXPECT_LT(stats.transactions, stats.writes);
}

TEST_F(StoreTest, OneBadWriteFailsAloneInItsBatch) {
  opts.behindWindow = std::chrono::seconds(30);
  reopen();
  auto a = makeTask(), b = makeTask();
  std::vector<Status> results(4);
  auto keep = [&](int i) { return [&, i](const Status& st, Write&) { results[i] = st; }; };
  store->write({.taskId = a.id, .create = a, .durability = Durability::kBehind}, keep(0));
  store->write({.taskId = a.id, .create = a, .durability = Durability::kBehind}, keep(1));  // dup
  TaskUpdate u;
  u.status = TaskStatus::kFailed;
  store->write({.taskId = "tsk_none", .update = u, .durability = Durability::kBehind}, keep(2));
  store->write({.taskId = b.id, .create = b, .durability = Durability::kBehind}, keep(3));
  store->flush();
  EXPECT_TRUE(results[0]);
  EXPECT_FALSE(results[1]);
  ASSERT_FALSE(results[2]);
  EXPECT_EQ(results[2].error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(results[3]);
  EXPECT_TRUE(*store->get(a.id));
  EXPECT_TRUE(*store->get(b.id));
}

TEST_F(StoreTest, ListPaginatesNewestFirstPerTenant) {
  std::vector<std::string> acme;
  for (int i = 0; i < 25; ++i) {
    auto t = makeTask(i % 5 == 0 ? "globex" : "acme");
    ASSERT_TRUE(put({.taskId = t.id, .create = t}));
    if (t.tenant == "acme") acme.push_back(t.id);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::vector<std::string> seen;
  ListQuery q{.tenant = "acme", .limit = 7};
  for (;;) {
    auto page = store->list(q);
    ASSERT_TRUE(page);
    EXPECT_LE(page->items.size(), 7u);
    for (auto& t : page->items) {
      EXPECT_EQ(t.tenant, "acme");
      seen.push_back(t.id);
    }
    if (page->nextCursor.empty()) break;
    q.afterId = page->nextCursor;
  }
  std::reverse(acme.begin(), acme.end());
  EXPECT_EQ(seen, acme);
  ListQuery g{.tenant = "globex", .status = TaskStatus::kRouted, .limit = 100};
  EXPECT_EQ(store->list(g)->items.size(), 5u);
  g.status = TaskStatus::kFailed;
  EXPECT_TRUE(store->list(g)->items.empty());
}

TEST_F(StoreTest, UnfinishedAndCancelFlagAcrossReopen) {
  auto a = makeTask("t", TaskStatus::kQueued), b = makeTask("t", TaskStatus::kRunning),
       c = makeTask("t", TaskStatus::kSucceeded);
  for (auto* t : {&a, &b, &c}) ASSERT_TRUE(put({.taskId = t->id, .create = *t}));
  TaskUpdate flag;
  flag.cancelRequested = true;
  ASSERT_TRUE(put({.taskId = b.id, .update = flag}));
  reopen();
  auto u = *store->unfinished();
  ASSERT_EQ(u.size(), 2u);
  EXPECT_EQ(u[0].id, a.id);
  EXPECT_EQ(u[1].id, b.id);
  EXPECT_TRUE(u[1].cancelRequested);
  EXPECT_FALSE(u[0].cancelRequested);
  EXPECT_TRUE(store->ping());
  EXPECT_EQ(store->writeBacklog().count(), 0);
}

TEST_F(StoreTest, UsageGroupsFiltersSpendAndRejectsUnknownColumns) {
  auto t = makeTask();
  ASSERT_TRUE(put({.taskId = t.id,
                   .create = t,
                   .usage = {use("a", 5), use("b", 7), use("c", 11, "beta"),
                             use("old", 1000, "acme", kNow - 40LL * 86400000)}}));
  auto rows = store->usage({.filters = {}, .fromDay = "", .toDay = "", .groupBy = {"tenant"}});
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].group.at("tenant"), "acme");
  EXPECT_EQ((*rows)[0].costNanoUsd, 1012);
  auto beta =
      store->usage({.filters = {{"tenant", "beta"}}, .fromDay = "", .toDay = "", .groupBy = {}});
  ASSERT_TRUE(beta);
  EXPECT_EQ((*beta)[0].costNanoUsd, 11);
  auto spend = store->spendSince(kNow - 86400000);
  ASSERT_TRUE(spend);
  EXPECT_EQ(spend->byTenant.at("acme"), 12);  // the 40-day-old call is outside
  EXPECT_EQ(spend->byKey.at("k1"), 23);
  EXPECT_FALSE(store->usage(
      {.filters = {{"x; DROP TABLE usage", "1"}}, .fromDay = "", .toDay = "", .groupBy = {}}));
  EXPECT_FALSE(store->usage({.filters = {}, .fromDay = "", .toDay = "", .groupBy = {"colour"}}));
}

TEST(SqliteStore, PeriodsAreUtcDaysAndMonths) {
  EXPECT_EQ(utcDay(0), "1970-01-01");
  EXPECT_EQ(periodStartMs("day", 86400000 + 5000), 86400000);
  EXPECT_EQ(periodStartMs("month", 40LL * 86400000), 31LL * 86400000);  // Feb 1st 1970
}

TEST(SqliteStore, MigratesAVersion1DatabaseKeepingItsRows) {
  testing::TempDir dir;
  auto file = dir.path() / "aion.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  const char* v1 = R"sql(
    CREATE TABLE tasks(id TEXT PRIMARY KEY, tenant TEXT NOT NULL, key_id TEXT NOT NULL,
      intent TEXT NOT NULL, params TEXT NOT NULL, status TEXT NOT NULL, route TEXT, result TEXT,
      error TEXT, cost_usd REAL NOT NULL DEFAULT 0, cost_estimated INTEGER NOT NULL DEFAULT 0,
      attempts INTEGER NOT NULL DEFAULT 0, cancel_requested INTEGER NOT NULL DEFAULT 0,
      created_ms INTEGER NOT NULL, started_ms INTEGER NOT NULL DEFAULT 0,
      finished_ms INTEGER NOT NULL DEFAULT 0, deadline_ms INTEGER NOT NULL DEFAULT 0,
      last_seq INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE events(task_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,
      ts_ms INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY(task_id, seq)) WITHOUT ROWID;
    CREATE TABLE reservations(id TEXT NOT NULL, tenant TEXT NOT NULL, key_id TEXT NOT NULL,
      amount_nusd INTEGER NOT NULL, created_ms INTEGER NOT NULL);
    INSERT INTO tasks(id,tenant,key_id,intent,params,status,created_ms,last_seq)
      VALUES('tsk_old','default','k','summarize','{}','succeeded',1,1);
    INSERT INTO events VALUES('tsk_old',1,'done',1,'{}');
    PRAGMA user_version = 1;)sql";
  ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto s = SqliteTaskStore::open(file);
  ASSERT_TRUE(s) << s.error().message;
  auto t = (*s)->get("tsk_old");
  ASSERT_TRUE(t && *t);
  EXPECT_EQ((*t)->status, TaskStatus::kSucceeded);
  EXPECT_EQ((*t)->surface, "");
  EXPECT_EQ((*t)->traceId, "");  // versions 1 and 2 had no trace id
  EXPECT_EQ((*s)->events("tsk_old", 0, 10)->size(), 1u);
  s->reset();
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  EXPECT_NE(sqlite3_exec(db, "SELECT 1 FROM reservations", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
}

TEST(SqliteStore, RefusesANewerSchemaAndBadPaths) {
  testing::TempDir dir;
  auto file = dir.path() / "aion.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto s = SqliteTaskStore::open(file);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("schema version 99"), std::string::npos);
  auto bad = SqliteTaskStore::open("/proc/no/such/dir/aion.db");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace aion::store
