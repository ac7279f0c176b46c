// The TaskStore contract (src/store/task_store.h), one suite run against
// every implementation (STYLE.md §3): SqliteTaskStore always, PgTaskStore
// when AION_TEST_POSTGRES_DSN names a server (tests/e2e/test_store_postgres.py
// starts one). Each PostgreSQL test gets a schema of its own, dropped after.
// What only one engine has (SQLite's file, WAL, migrations of old files)
// stays in that engine's own test.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <cstdlib>
#include <future>
#include <mutex>
#include <thread>

#include "common/ids.h"
#include "store_backends.h"

namespace aion::store {
namespace {
namespace json = boost::json;

constexpr int64_t kNow = 1795600000000;  // 2026-11-25T...Z

// ---- fixtures ------------------------------------------------------------

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

UsageQuery usageQuery(std::map<std::string, std::string> filters,
                      std::vector<std::string> groupBy = {}, std::string fromDay = "",
                      std::string toDay = "") {
  return {.filters = std::move(filters),
          .fromDay = std::move(fromDay),
          .toDay = std::move(toDay),
          .groupBy = std::move(groupBy)};
}

Status putAndWait(TaskStore& store, Write w) {
  std::promise<Status> p;
  store.write(std::move(w), [&p](const Status& st, Write&) { p.set_value(st); });
  return p.get_future().get();
}

Write behind(Write w) {
  w.durability = Durability::kBehind;
  return w;
}

template <typename B>
struct TaskStoreConformance : ::testing::Test {
  using Store = typename B::Store;
  B backend;
  std::unique_ptr<Store> store;
  typename Store::Options opts;

  void SetUp() override {
    if (auto why = B::unavailable(); !why.empty()) GTEST_SKIP() << why;
    reopen();
  }
  void TearDown() override { store.reset(); }  // before the backend drops its data
  void reopen() {
    store.reset();
    auto s = backend.open(opts);
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
    if (evs) {
      for (auto& e : *evs) out.push_back(e.seq);
    }
    return out;
  }
};

struct BackendNames {
  template <typename B>
  static std::string GetName(int) {
    return std::is_same_v<B, SqliteBackend> ? "Sqlite" : "Postgres";
  }
};
using Backends = ::testing::Types<SqliteBackend, PostgresBackend>;
TYPED_TEST_SUITE(TaskStoreConformance, Backends, BackendNames);

// ---- the contract ----------------------------------------------------------

TYPED_TEST(TaskStoreConformance, CreateAndGetRoundTrip) {
  auto t = makeTask();
  t.traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  t.costUsd = 0.1 + 0.2;  // not a short decimal: must come back bit for bit
  t.costEstimated = true;
  t.upstreamUs = 1234567890123;
  t.error = json::object{{"code", "x"}, {"message", "quote ' and \" and \\ and ; DROP"}};
  ASSERT_TRUE(
      this->put({.taskId = t.id, .create = t, .events = events(t.id, 1, {"status", "route"})}));
  auto got = this->store->get(t.id);
  ASSERT_TRUE(got && *got) << (got ? "missing" : got.error().message);
  const Task& g = **got;
  EXPECT_EQ(g.id, t.id);
  EXPECT_EQ(g.tenant, "default");
  EXPECT_EQ(g.keyId, "abc123");
  EXPECT_EQ(g.intent, "summarize");
  EXPECT_EQ(g.surface, "rest");
  EXPECT_EQ(g.traceId, t.traceId);
  EXPECT_EQ(g.params, t.params);
  EXPECT_EQ(json::serialize(g.params), json::serialize(t.params));  // key order kept
  EXPECT_EQ(g.status, TaskStatus::kRouted);
  EXPECT_EQ(g.route, t.route);
  EXPECT_TRUE(g.result.is_null());
  EXPECT_EQ(g.error, t.error);
  EXPECT_EQ(g.costUsd, t.costUsd);
  EXPECT_TRUE(g.costEstimated);
  EXPECT_FALSE(g.cancelRequested);
  EXPECT_EQ(g.createdMs, t.createdMs);
  EXPECT_EQ(g.deadlineMs, t.deadlineMs);
  EXPECT_EQ(g.upstreamUs, t.upstreamUs);
  EXPECT_EQ(g.lastSeq, 2);
  auto missing = this->store->get("tsk_missing");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(*missing);
  auto evs = *this->store->events(t.id, 0, 10);
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].taskId, t.id);
  EXPECT_EQ(evs[0].type, "status");
  EXPECT_EQ(evs[1].type, "route");
  EXPECT_EQ(evs[1].tsMs, kNow);
  EXPECT_EQ(evs[1].data, (json::value{{"n", 3}}));
}

TYPED_TEST(TaskStoreConformance, UpdateAppliesOnlySetColumnsWithItsEventsAndUsage) {
  auto t = makeTask();
  ASSERT_TRUE(this->put({.taskId = t.id, .create = t, .events = events(t.id, 1, {"status"})}));
  TaskUpdate run;
  run.status = TaskStatus::kRunning;
  run.startedMs = 5;
  run.attempts = 1;
  ASSERT_TRUE(this->put({.taskId = t.id, .update = run, .events = events(t.id, 2, {"status"})}));
  TaskUpdate done;
  done.status = TaskStatus::kSucceeded;
  done.result = json::object{{"summary", "x"}};
  done.finishedMs = 9;
  done.costUsd = 0.5;
  done.overheadUs = 42;
  done.error = nullptr;
  ASSERT_TRUE(this->put({.taskId = t.id,
                         .update = done,
                         .events = events(t.id, 3, {"result", "done"}),
                         .usage = {use("u1", 500)}}));
  EXPECT_EQ(this->seqs(t.id), (std::vector<int64_t>{1, 2, 3, 4}));
  auto g = **this->store->get(t.id);
  EXPECT_EQ(g.status, TaskStatus::kSucceeded);
  EXPECT_EQ(g.result.at("summary"), "x");
  EXPECT_TRUE(g.error.is_null());
  EXPECT_EQ(g.startedMs, 5);
  EXPECT_EQ(g.finishedMs, 9);
  EXPECT_EQ(g.attempts, 1);
  EXPECT_EQ(g.costUsd, 0.5);
  EXPECT_EQ(g.overheadUs, 42);
  EXPECT_EQ(g.lastSeq, 4);
  EXPECT_EQ(g.route, t.route);  // untouched
  EXPECT_EQ(g.params, t.params);
  // Events without an update move last_seq forward, never back.
  ASSERT_TRUE(this->put({.taskId = t.id, .events = events(t.id, 5, {"delta"})}));
  EXPECT_EQ((**this->store->get(t.id)).lastSeq, 5);
  auto rows = this->store->usage(usageQuery({}));
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].costNanoUsd, 500);
  EXPECT_EQ((*rows)[0].promptTokens, 3);
  EXPECT_EQ((*rows)[0].completionTokens, 4);
}

TYPED_TEST(TaskStoreConformance, EventsAfterSeqInOrderWithLimit) {
  auto t = makeTask();
  ASSERT_TRUE(this->put({.taskId = t.id, .create = t, .events = events(t.id, 1, {"a", "b", "c"})}));
  ASSERT_TRUE(this->put({.taskId = t.id, .events = events(t.id, 4, {"d", "e"})}));
  auto tail = *this->store->events(t.id, 2, 10);
  ASSERT_EQ(tail.size(), 3u);
  EXPECT_EQ(tail[0].seq, 3);
  EXPECT_EQ(tail[0].type, "c");
  EXPECT_EQ(tail[2].type, "e");
  auto two = *this->store->events(t.id, 1, 2);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].seq, 2);
  EXPECT_EQ(two[1].seq, 3);
  EXPECT_TRUE(this->store->events(t.id, 5, 10)->empty());
  EXPECT_TRUE(this->store->events("tsk_none", 0, 10)->empty());
  // A seq written twice fails the write, and nothing of it is applied.
  auto dup = this->put({.taskId = t.id, .events = events(t.id, 5, {"again"})});
  EXPECT_FALSE(dup);
  EXPECT_EQ(this->store->events(t.id, 0, 100)->size(), 5u);
}

TYPED_TEST(TaskStoreConformance, EveryDurabilityCommitsInOrderAndSurvivesReopen) {
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
  this->store->write({.taskId = t.id, .create = t, .events = events(t.id, 1, {"status"})}, note(0));
  int64_t seq = 2;
  for (int i = 1; i <= 6; ++i) {
    auto dur = i % 3 == 0 ? Durability::kDurable
                          : (i % 3 == 1 ? Durability::kCommitted : Durability::kBehind);
    this->store->write(
        {.taskId = t.id, .events = events(t.id, seq++, {"delta"}), .durability = dur}, note(i));
  }
  this->store->flush();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6}));
  this->reopen();
  EXPECT_EQ(this->seqs(t.id), (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ((**this->store->get(t.id)).lastSeq, 7);
}

TYPED_TEST(TaskStoreConformance, FlushWaitsForWritesBehind) {
  this->opts.behindWindow = std::chrono::seconds(30);  // only flush() sends them
  this->reopen();
  auto t = makeTask();
  std::atomic<int> done{0};
  this->store->write(behind({.taskId = t.id, .create = t}),
                     [&](const Status& st, Write&) { done += st.has_value(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(done.load(), 0);  // still waiting for company
  EXPECT_FALSE(*this->store->get(t.id));
  EXPECT_GE(this->store->writeBacklog().count(), 0);
  this->store->flush();
  EXPECT_EQ(done.load(), 1);
  EXPECT_TRUE(*this->store->get(t.id));
  EXPECT_EQ(this->store->writeBacklog().count(), 0);
  this->store->flush();  // nothing queued: returns at once
}

TYPED_TEST(TaskStoreConformance, WritesBehindShareOneTransactionWithinTheWindow) {
  this->opts.behindWindow = std::chrono::seconds(30);
  this->opts.behindMax = 10000;
  std::atomic<size_t> reported{0}, commits{0};
  this->opts.onCommit = [&](double seconds, size_t writes) {
    EXPECT_GE(seconds, 0.0);
    reported += writes;
    ++commits;
  };
  this->reopen();
  std::vector<Task> tasks;
  for (int i = 0; i < 300; ++i) tasks.push_back(makeTask());
  std::atomic<int> done{0};
  for (auto& t : tasks)
    this->store->write(behind({.taskId = t.id, .create = t, .events = events(t.id, 1, {"status"})}),
                       [&](const Status& st, Write&) { done += st.has_value(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(done.load(), 0);
  EXPECT_EQ(this->store->commitStats().writes, 0u);
  this->store->flush();
  EXPECT_EQ(done.load(), 300);
  auto stats = this->store->commitStats();
  EXPECT_EQ(stats.writes, 300u);
  EXPECT_EQ(stats.transactions, 1u);
  EXPECT_EQ(stats.folded, 0u);
  EXPECT_EQ(reported.load(), 300u);
  EXPECT_EQ(commits.load(), 1u);
  this->store.reset();  // before the counters the hook refers to go
}

TYPED_TEST(TaskStoreConformance, WritesBehindOfOneTaskFoldButNeverPastAWriteSomeoneWaitsOn) {
  this->opts.behindWindow = std::chrono::seconds(30);
  this->reopen();
  auto& store = this->store;
  auto a = makeTask(), b = makeTask();
  TaskUpdate running, done, later;
  running.status = TaskStatus::kRunning;
  running.startedMs = 5;
  running.attempts = 1;
  done.status = TaskStatus::kSucceeded;
  done.result = json::object{{"text", "ok"}};
  done.costUsd = 0.25;
  later.cancelRequested = true;
  store->write(behind({.taskId = a.id, .create = a, .events = events(a.id, 1, {"status"})}), {});
  store->write(behind({.taskId = b.id, .create = b}), {});
  store->write(behind({.taskId = a.id, .update = running, .events = events(a.id, 2, {"status"})}),
               {});
  store->write(behind({.taskId = a.id,
                       .update = done,
                       .events = events(a.id, 3, {"result", "done"}),
                       .usage = {use(a.id, 7)}}),
               {});
  Status waited;
  store->write(behind({.taskId = b.id, .update = running}), {});
  store->write(
      {.taskId = b.id, .events = events(b.id, 1, {"status"}), .durability = Durability::kCommitted},
      [&](const Status& st, Write&) { waited = st; });
  store->write(behind({.taskId = b.id, .update = later}), {});
  store->flush();
  EXPECT_TRUE(waited);
  auto stats = store->commitStats();
  EXPECT_LE(stats.transactions, 2u);
  EXPECT_EQ(stats.folded, 3u);

  auto ra = **store->get(a.id);
  EXPECT_EQ(ra.status, TaskStatus::kSucceeded);
  EXPECT_EQ(ra.startedMs, 5);
  EXPECT_EQ(ra.attempts, 1);
  EXPECT_EQ(ra.result, (json::value{{"text", "ok"}}));
  EXPECT_DOUBLE_EQ(ra.costUsd, 0.25);
  EXPECT_EQ(ra.lastSeq, 4);
  EXPECT_EQ(this->seqs(a.id), (std::vector<int64_t>{1, 2, 3, 4}));
  auto use_ = store->usage(usageQuery({}));
  ASSERT_TRUE(use_);
  ASSERT_EQ(use_->size(), 1u);
  EXPECT_EQ(use_->front().calls, 1);
  EXPECT_EQ(use_->front().costNanoUsd, 7);
  auto rb = **store->get(b.id);
  EXPECT_EQ(rb.status, TaskStatus::kRunning);
  EXPECT_TRUE(rb.cancelRequested);
  EXPECT_EQ(rb.lastSeq, 1);
  // A fold commits or fails whole: a duplicate create takes its task's later
  // writes behind with it, not b's.
  TaskUpdate cancel;
  cancel.status = TaskStatus::kCanceled;
  store->write(behind({.taskId = a.id, .create = a}), {});
  store->write(behind({.taskId = b.id, .update = done}), {});
  store->write(behind({.taskId = a.id, .update = cancel}), {});
  store->flush();
  EXPECT_EQ((**store->get(a.id)).status, TaskStatus::kSucceeded);
  EXPECT_EQ((**store->get(b.id)).status, TaskStatus::kSucceeded);
}

TYPED_TEST(TaskStoreConformance, GroupCommitBatchesConcurrentDurableWrites) {
  constexpr int kThreads = 8, kEach = 50;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&] {
      for (int j = 0; j < kEach; ++j) {
        auto t = makeTask();
        ok += this->put({.taskId = t.id, .create = t, .events = events(t.id, 1, {"status"})})
                  .has_value();
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), kThreads * kEach);
  this->store->flush();
  auto stats = this->store->commitStats();
  EXPECT_EQ(stats.writes, static_cast<uint64_t>(kThreads * kEach));
  EXPECT_LT(stats.transactions, stats.writes);
}

TYPED_TEST(TaskStoreConformance, OneBadWriteFailsAloneInItsBatch) {
  this->opts.behindWindow = std::chrono::seconds(30);
  this->reopen();
  auto a = makeTask(), b = makeTask();
  std::vector<Status> results(4);
  auto keep = [&](int i) { return [&, i](const Status& st, Write&) { results[i] = st; }; };
  this->store->write(behind({.taskId = a.id, .create = a}), keep(0));
  this->store->write(behind({.taskId = a.id, .create = a}), keep(1));  // duplicate
  TaskUpdate u;
  u.status = TaskStatus::kFailed;
  this->store->write(
      behind({.taskId = "tsk_none", .update = u, .events = events("tsk_none", 1, {"status"})}),
      keep(2));
  this->store->write(behind({.taskId = b.id, .create = b}), keep(3));
  this->store->flush();
  EXPECT_TRUE(results[0]);
  EXPECT_FALSE(results[1]);
  ASSERT_FALSE(results[2]);
  EXPECT_EQ(results[2].error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(results[3]);
  EXPECT_TRUE(*this->store->get(a.id));
  EXPECT_TRUE(*this->store->get(b.id));
  EXPECT_TRUE(this->store->events("tsk_none", 0, 10)->empty());  // nothing of it applied
  EXPECT_EQ((**this->store->get(a.id)).status, TaskStatus::kRouted);
}

TYPED_TEST(TaskStoreConformance, ListPaginatesNewestFirstWithFilters) {
  std::vector<std::string> acme;
  for (int i = 0; i < 25; ++i) {
    auto t = makeTask(i % 5 == 0 ? "globex" : "acme");
    if (i % 2) t.intent = "chat";
    ASSERT_TRUE(this->put({.taskId = t.id, .create = t}));
    if (t.tenant == "acme") acme.push_back(t.id);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::vector<std::string> seen;
  ListQuery q{.tenant = "acme", .limit = 7};
  for (;;) {
    auto page = this->store->list(q);
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
  EXPECT_EQ(this->store->list(g)->items.size(), 5u);
  g.status = TaskStatus::kFailed;
  EXPECT_TRUE(this->store->list(g)->items.empty());
  auto chats = this->store->list({.tenant = "", .intent = "chat", .limit = 100});
  ASSERT_TRUE(chats);
  EXPECT_EQ(chats->items.size(), 12u);
  for (auto& t : chats->items) EXPECT_EQ(t.intent, "chat");
  auto all = this->store->list({.tenant = "", .limit = 25});
  ASSERT_TRUE(all);
  EXPECT_EQ(all->items.size(), 25u);
  EXPECT_TRUE(all->nextCursor.empty());  // exactly one page
  // A task that moves on leaves its old status's list and joins the new one's
  // (stores keep an index of some statuses: it must follow the row).
  auto statusIds = [&](TaskStatus st) {
    std::vector<std::string> ids;
    auto page = this->store->list({.tenant = "acme", .status = st, .limit = 100});
    EXPECT_TRUE(page) << page.error().message;
    if (page)
      for (auto& t : page->items) ids.push_back(t.id);
    return ids;
  };
  for (auto [i, st] : {std::pair{0, TaskStatus::kRunning},
                       {1, TaskStatus::kFailed},
                       {2, TaskStatus::kSucceeded},
                       {3, TaskStatus::kRunning}}) {
    TaskUpdate u;
    u.status = st;
    ASSERT_TRUE(this->put({.taskId = acme[i], .update = u}));
  }
  TaskUpdate u;
  u.status = TaskStatus::kSucceeded;
  ASSERT_TRUE(this->put({.taskId = acme[3], .update = u}));
  EXPECT_EQ(statusIds(TaskStatus::kRunning), std::vector<std::string>{acme[0]});
  EXPECT_EQ(statusIds(TaskStatus::kFailed), std::vector<std::string>{acme[1]});
  EXPECT_EQ(statusIds(TaskStatus::kSucceeded), (std::vector<std::string>{acme[2], acme[3]}));
  EXPECT_EQ(statusIds(TaskStatus::kRouted).size(), acme.size() - 4);
}

TYPED_TEST(TaskStoreConformance, UnfinishedOldestFirstWithCancelFlagAcrossReopen) {
  auto a = makeTask("t", TaskStatus::kQueued), b = makeTask("t", TaskStatus::kRunning),
       c = makeTask("t", TaskStatus::kSucceeded);
  for (auto* t : {&a, &b, &c}) ASSERT_TRUE(this->put({.taskId = t->id, .create = *t}));
  TaskUpdate flag;
  flag.cancelRequested = true;
  ASSERT_TRUE(this->put({.taskId = b.id, .update = flag}));
  this->reopen();
  auto u = *this->store->unfinished();
  ASSERT_EQ(u.size(), 2u);
  EXPECT_EQ(u[0].id, a.id);
  EXPECT_EQ(u[1].id, b.id);
  EXPECT_TRUE(u[1].cancelRequested);
  EXPECT_FALSE(u[0].cancelRequested);
  EXPECT_TRUE(this->store->ping());
  EXPECT_EQ(this->store->writeBacklog().count(), 0);
}

TYPED_TEST(TaskStoreConformance, PurgeDeletesTasksEndedBeforeTheCutoffOldestFirstWithTheirEvents) {
  const int64_t day = 86400000, now = nowMs(), cutoff = now - day;
  int n = 0;
  auto at = [&](TaskStatus st, int64_t created, int64_t finished) {
    auto t = makeTask("t", st);
    t.id = taskIdsBefore(created) + "00000000000000" + std::to_string(10 + n++);
    t.createdMs = created;
    t.finishedMs = finished;
    return t;
  };
  auto old1 = at(TaskStatus::kSucceeded, now - 3 * day, now - 3 * day + 1000),
       old2 = at(TaskStatus::kFailed, now - 2 * day, now - 2 * day + 5),
       old3 = at(TaskStatus::kCanceled, now - 2 * day + 10, now - 2 * day + 20),
       stillRunning = at(TaskStatus::kRunning, now - 3 * day, 0),
       endedLately = at(TaskStatus::kSucceeded, now - 3 * day + 5, now - 3600000),
       recent = at(TaskStatus::kSucceeded, now, now);
  for (auto* t : {&old1, &old2, &old3, &stillRunning, &endedLately, &recent})
    ASSERT_TRUE(this->put({.taskId = t->id,
                           .create = *t,
                           .events = events(t->id, 1, {"status", "done"}),
                           .usage = {use(t->id, 1000, "t", t->createdMs)}}));
  auto first = this->store->purgeFinished(cutoff, 2);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(*first, (std::vector<std::string>{old1.id, old2.id}));  // oldest first, at most 2
  auto rest = this->store->purgeFinished(cutoff, 10);
  ASSERT_TRUE(rest) << rest.error().message;
  EXPECT_EQ(*rest, std::vector<std::string>{old3.id});
  EXPECT_TRUE(this->store->purgeFinished(cutoff, 10)->empty());
  for (auto* t : {&old1, &old2, &old3}) {
    EXPECT_FALSE(this->store->get(t->id)->has_value()) << t->id;
    EXPECT_TRUE(this->store->events(t->id, 0, 10)->empty()) << t->id;
  }
  for (auto* t : {&stillRunning, &endedLately, &recent}) {
    EXPECT_TRUE(this->store->get(t->id)->has_value()) << t->id;
    EXPECT_EQ(this->seqs(t->id), (std::vector<int64_t>{1, 2})) << t->id;
  }
  EXPECT_EQ(this->store->unfinished()->size(), 1u);
  // The spend stays: usage rows are not the task's to take along.
  auto usage = this->store->usage(usageQuery({{"tenant", "t"}}));
  ASSERT_TRUE(usage);
  ASSERT_EQ(usage->size(), 1u);
  EXPECT_EQ((*usage)[0].calls, 6);
}

TYPED_TEST(TaskStoreConformance, UsageGroupsFiltersSpendAndRejectsUnknownColumns) {
  auto t = makeTask();
  auto c = use("c", 11, "beta");
  c.provider = "anthropic";
  c.estimated = true;
  ASSERT_TRUE(this->put(
      {.taskId = t.id,
       .create = t,
       .usage = {use("a", 5), use("b", 7), c, use("old", 1000, "acme", kNow - 40LL * 86400000)}}));
  // A record settled twice counts once.
  ASSERT_TRUE(this->put({.taskId = t.id, .usage = {use("a", 5)}}));
  auto& store = this->store;
  auto rows = store->usage(usageQuery({}, {"tenant"}));
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].group.at("tenant"), "acme");
  EXPECT_EQ((*rows)[0].calls, 3);
  EXPECT_EQ((*rows)[0].costNanoUsd, 1012);
  EXPECT_EQ((*rows)[0].promptTokens, 9);
  EXPECT_EQ((*rows)[0].completionTokens, 12);
  EXPECT_EQ((*rows)[0].estimatedCalls, 0);
  EXPECT_EQ((*rows)[1].group.at("tenant"), "beta");
  EXPECT_EQ((*rows)[1].estimatedCalls, 1);
  auto beta = store->usage(usageQuery({{"tenant", "beta"}}));
  ASSERT_TRUE(beta);
  ASSERT_EQ(beta->size(), 1u);
  EXPECT_EQ((*beta)[0].costNanoUsd, 11);
  auto byDay = store->usage(usageQuery({}, {"day", "provider"}));
  ASSERT_TRUE(byDay);
  ASSERT_EQ(byDay->size(), 3u);
  EXPECT_EQ((*byDay)[0].group.at("day"), utcDay(kNow - 40LL * 86400000));
  EXPECT_EQ((*byDay)[1].group.at("day"), utcDay(kNow));
  EXPECT_EQ((*byDay)[1].group.at("provider"), "anthropic");
  EXPECT_EQ((*byDay)[2].group.at("provider"), "openai");
  EXPECT_EQ((*byDay)[2].calls, 2);
  auto recent = store->usage(usageQuery({}, {}, utcDay(kNow), utcDay(kNow)));
  ASSERT_TRUE(recent);
  ASSERT_EQ(recent->size(), 1u);
  EXPECT_EQ((*recent)[0].calls, 3);
  auto none = store->usage(usageQuery({{"model", "nope"}}));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());  // no row for an aggregate over nothing
  auto spend = store->spendSince(kNow - 86400000);
  ASSERT_TRUE(spend);
  EXPECT_EQ(spend->byTenant.at("acme"), 12);  // the 40-day-old call is outside
  EXPECT_EQ(spend->byTenant.at("beta"), 11);
  EXPECT_EQ(spend->byKey.at("k1"), 23);
  EXPECT_TRUE(store->spendSince(kNow + 1)->byTenant.empty());
  auto bad = store->usage(usageQuery({{"x; DROP TABLE usage", "1"}}));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidRequest);
  EXPECT_FALSE(store->usage(usageQuery({}, {"colour"})));
  EXPECT_TRUE(store->usage(usageQuery({{"tenant", "x' OR '1'='1"}}))->empty());
}

TYPED_TEST(TaskStoreConformance, OutboxKeepsCommitOrderAndTrims) {
  this->opts.outbox = true;
  this->reopen();
  auto t = makeTask("acme");
  t.traceId = "trace-1";
  ASSERT_TRUE(this->put({.taskId = t.id, .create = t, .events = events(t.id, 1, {"status"})}));
  ASSERT_TRUE(this->put({.taskId = t.id,
                         .events = events(t.id, 2, {"result", "done"}),
                         .usage = {use("u1", 42)},
                         .durability = Durability::kCommitted}));
  auto rows = this->store->outbox(0, 100);
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 4u);
  for (size_t i = 1; i < rows->size(); ++i) EXPECT_LT((*rows)[i - 1].id, (*rows)[i].id);
  EXPECT_EQ((*rows)[0].topic, "aion.task-events");
  EXPECT_EQ((*rows)[3].topic, "aion.usage");
  EXPECT_EQ((*rows)[0].key, t.id);
  EXPECT_EQ((*rows)[0].tenant, "acme");
  EXPECT_EQ((*rows)[0].intent, "summarize");
  EXPECT_EQ((*rows)[0].traceId, "trace-1");
  auto first = json::parse((*rows)[0].payload).as_object();
  EXPECT_EQ(first.at("seq"), 1);
  EXPECT_EQ(first.at("type"), "status");
  EXPECT_EQ(json::parse((*rows)[2].payload).at("type"), "done");
  auto u = json::parse((*rows)[3].payload).as_object();
  EXPECT_EQ(u.at("id"), "u1");
  EXPECT_EQ(std::string(u.at("day").as_string()), utcDay(kNow));
  auto after = *this->store->outbox((*rows)[1].id, 1);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].id, (*rows)[2].id);
  // A relay that delivered the first two trims them.
  ASSERT_TRUE(this->put({.taskId = "", .trimOutboxTo = (*rows)[1].id}));
  auto left = *this->store->outbox(0, 100);
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].id, (*rows)[2].id);
  // Ids keep growing after a trim and a reopen.
  this->reopen();
  ASSERT_TRUE(this->put({.taskId = t.id, .events = events(t.id, 4, {"late"})}));
  auto more = *this->store->outbox((*rows)[3].id, 100);
  ASSERT_EQ(more.size(), 1u);
  EXPECT_GT(more[0].id, (*rows)[3].id);
}

TYPED_TEST(TaskStoreConformance, NoOutboxUnlessAsked) {
  auto t = makeTask();
  ASSERT_TRUE(this->put({.taskId = t.id, .create = t, .events = events(t.id, 1, {"status"})}));
  auto rows = this->store->outbox(0, 100);
  ASSERT_TRUE(rows);
  EXPECT_TRUE(rows->empty());
}

TYPED_TEST(TaskStoreConformance, ReadsRunOnTheReadExecutor) {
  auto t = makeTask();
  ASSERT_TRUE(this->put({.taskId = t.id, .create = t}));
  std::vector<std::future<bool>> found;
  for (int i = 0; i < 16; ++i) {
    auto p = std::make_shared<std::promise<bool>>();
    found.push_back(p->get_future());
    boost::asio::post(this->store->readExecutor(), [this, p, id = t.id] {
      auto g = this->store->get(id);
      p->set_value(g && *g && this->store->ping());
    });
  }
  for (auto& f : found) EXPECT_TRUE(f.get());
}

// ---- PostgreSQL only: what has no SQLite counterpart -----------------------

TEST(PgTaskStore, AnUnreachableServerIsUnavailableWithTheServersMessage) {
  auto s = PgTaskStore::open("host=127.0.0.1 port=1 user=nobody dbname=none connect_timeout=2");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(s.error().message.find("cannot connect to PostgreSQL"), std::string::npos)
      << s.error().message;
  EXPECT_NE(s.error().message.find("127.0.0.1"), std::string::npos) << s.error().message;
}

struct PgTaskStoreServer : ::testing::Test {
  PostgresBackend backend;
  void SetUp() override {
    if (auto why = PostgresBackend::unavailable(); !why.empty()) GTEST_SKIP() << why;
  }
};

TEST_F(PgTaskStoreServer, ConcurrentOpensMigrateOnceAndRefuseANewerSchema) {
  std::vector<std::future<Result<std::unique_ptr<PgTaskStore>>>> opens;
  for (int i = 0; i < 4; ++i)
    opens.push_back(
        std::async(std::launch::async, [this] { return backend.open({.dsn = "", .readers = 1}); }));
  for (auto& f : opens) {
    auto s = f.get();
    EXPECT_TRUE(s) << s.error().message;
  }
  EXPECT_EQ(adminExec("SET search_path=" + backend.schema +
                      "; DO $$BEGIN IF (SELECT COUNT(*) FROM schema_migrations) <> " +
                      std::to_string(PgTaskStore::kSchemaVersion) +
                      " THEN RAISE EXCEPTION 'not one row per version'; END IF; END$$"),
            "");
  EXPECT_EQ(adminExec("INSERT INTO " + backend.schema + ".schema_migrations(version) VALUES(99)"),
            "");
  auto s = backend.open({});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(s.error().message.find("version 99"), std::string::npos) << s.error().message;
}

TEST_F(PgTaskStoreServer, ReconnectsAfterTheServerDropsItsConnections) {
  auto s = backend.open({.dsn = "", .readers = 2});
  ASSERT_TRUE(s) << s.error().message;
  auto& store = **s;
  auto t = makeTask();
  ASSERT_TRUE(putAndWait(store, {.taskId = t.id, .create = t}));
  // First the writer and both readers; later those that reconnected since
  // (readers reconnect when next used).
  auto killed = [&](const char* atLeast) {
    EXPECT_EQ(adminExec("DO $$BEGIN IF (SELECT COUNT(*) FILTER (WHERE pg_terminate_backend(pid)) "
                        "FROM pg_stat_activity WHERE application_name='" +
                        backend.schema + "') < " + atLeast +
                        " THEN RAISE EXCEPTION 'too few connections'; END IF; END$$"),
              "");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  };
  killed("3");
  EXPECT_TRUE(store.ping());
  auto got = store.get(t.id);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_TRUE(*got);
  TaskUpdate u;
  u.status = TaskStatus::kRunning;
  auto st = putAndWait(store, {.taskId = t.id, .update = u, .events = events(t.id, 1, {"x"})});
  EXPECT_TRUE(st) << st.error().message;
  EXPECT_EQ((**store.get(t.id)).status, TaskStatus::kRunning);
  killed("1");
  st = putAndWait(store, {.taskId = t.id, .events = events(t.id, 2, {"y"})});
  EXPECT_TRUE(st) << st.error().message;
  EXPECT_EQ(store.events(t.id, 0, 10)->size(), 2u);
}

// ---- several control planes on one PostgreSQL (store/cluster.h) -------------
// SQLite has no cluster (one plane): these are PostgreSQL's alone.

//! Polls `f` until it is true or `within` passes.
template <typename F>
bool eventually(F f, std::chrono::milliseconds within = std::chrono::seconds(10)) {
  auto end = std::chrono::steady_clock::now() + within;
  while (!f()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

struct PgClusterTest : PgTaskStoreServer {
  std::unique_ptr<PgTaskStore> plane(const std::string& id, bool exclusive = false) {
    auto s = backend.open({.dsn = "",
                           .readers = 2,
                           .planeId = id,
                           .exclusive = exclusive,
                           .lease = std::chrono::milliseconds(1500)});
    EXPECT_TRUE(s) << s.error().message;
    if (!s) return nullptr;
    EXPECT_TRUE((*s)->renew());
    return std::move(*s);
  }
};

TEST_F(PgClusterTest, APlaneIdIsHeldByOneStoreAtATime) {
  auto a = plane("a", true);
  auto again = backend.open({.dsn = "", .readers = 1, .planeId = "a", .exclusive = true});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  EXPECT_NE(again.error().message.find("AION_CONTROL_PLANE_ID"), std::string::npos);
  EXPECT_TRUE(backend.open({.dsn = "", .readers = 1, .planeId = "b", .exclusive = true}));
  a.reset();  // its session ends: the id is free again
  EXPECT_TRUE(backend.open({.dsn = "", .readers = 1, .planeId = "a", .exclusive = true}));
}

TEST_F(PgClusterTest, TasksOfAPlaneWhoseLeaseRanOutAreClaimedOnceAndOnlyTheOwnerWrites) {
  auto a = plane("a"), b = plane("b"), c = plane("c");
  auto running = makeTask("t", TaskStatus::kRunning), queued = makeTask("t", TaskStatus::kQueued),
       done = makeTask("t", TaskStatus::kSucceeded);
  running.attempts = 1;
  for (auto* t : {&running, &queued, &done})
    ASSERT_TRUE(putAndWait(*a, {.taskId = t->id, .create = *t}));
  // A live owner's tasks are nobody else's, and nobody else writes them.
  EXPECT_TRUE(b->claim(false)->empty());
  auto st = putAndWait(*b, {.taskId = running.id, .events = events(running.id, 1, {"x"})});
  EXPECT_FALSE(st);
  // a stops renewing (killed): once its lease ran out, b and c race for
  // its unfinished tasks and each goes to exactly one of them.
  std::vector<Task> got;
  ASSERT_TRUE(eventually([&] {
    auto fb = std::async(std::launch::async, [&] { return b->claim(false); });
    auto fc = std::async(std::launch::async, [&] { return c->claim(false); });
    for (auto* f : {&fb, &fc}) {
      auto r = f->get();
      EXPECT_TRUE(r);
      if (r) got.insert(got.end(), r->begin(), r->end());
    }
    EXPECT_TRUE(b->renew() && c->renew());
    return got.size() >= 2;
  }));
  ASSERT_EQ(got.size(), 2u);
  std::sort(got.begin(), got.end(), [](auto& x, auto& y) { return x.id < y.id; });
  EXPECT_EQ(got[0].id, running.id);
  EXPECT_EQ(got[0].attempts, 1);  // the retry-once rule reads it
  EXPECT_EQ(got[1].id, queued.id);
  EXPECT_TRUE(b->claim(false)->empty());
  EXPECT_TRUE(c->claim(false)->empty());
  // The old owner can no longer write them; whoever claimed one can.
  st = putAndWait(*a, {.taskId = running.id, .events = events(running.id, 1, {"late"})});
  EXPECT_FALSE(st);
  for (auto& t : got) {
    bool ok = putAndWait(*b, {.taskId = t.id, .events = events(t.id, 1, {"y"})}).has_value() ||
              putAndWait(*c, {.taskId = t.id, .events = events(t.id, 1, {"y"})}).has_value();
    EXPECT_TRUE(ok) << t.id;
  }
  // At start-up a plane takes back its own unfinished tasks at once.
  ASSERT_TRUE(b->renew() && c->renew());
  auto d = plane("d");
  auto mine = makeTask("t", TaskStatus::kRunning);
  ASSERT_TRUE(putAndWait(*d, {.taskId = mine.id, .create = mine}));
  EXPECT_TRUE(d->claim(false)->empty());
  auto own = d->claim(true);
  ASSERT_TRUE(own);
  ASSERT_EQ(own->size(), 1u);
  EXPECT_EQ((*own)[0].id, mine.id);
}

TEST_F(PgClusterTest, RowsOfPlanesGoneForADayAreForgottenAtTheNextRenewal) {
  auto a = plane("a");
  ASSERT_TRUE(a);
  const std::string now = "(extract(epoch from clock_timestamp())*1000)::bigint";
  const std::string day = "86400000";
  // b released its lease two days ago, c's ran out two days ago, d's a
  // minute ago (still remembered), e started and released its lease just now.
  ASSERT_EQ(adminExec("INSERT INTO " + backend.schema +
                      ".control_planes(id,lease_until_ms,started_ms) VALUES ('b',0," + now + "-2*" +
                      day + "),('c'," + now + "-2*" + day + "," + now + "-3*" + day + "),('d'," +
                      now + "-60000," + now + "-3*" + day + "),('e',0," + now + ")"),
            "");
  ASSERT_TRUE(a->renew());
  EXPECT_EQ(adminExec("SET search_path=" + backend.schema +
                      "; DO $$DECLARE ids TEXT; BEGIN SELECT string_agg(id, ',' ORDER BY id) INTO "
                      "ids FROM control_planes; IF ids <> 'a,d,e' THEN RAISE EXCEPTION 'planes "
                      "left: %', ids; END IF; END$$"),
            "");
}

TEST_F(PgClusterTest, QueuedTasksOfABusyPlaneAreTakenOnceAndTheirOwnerIsTold) {
  auto a = plane("a"), b = plane("b"), c = plane("c");
  std::mutex mu;
  std::vector<std::string> lost;
  std::atomic<int> resyncs{0};
  a->listen({.taken =
                 [&](const std::string& id) {
                   std::lock_guard lock(mu);
                   lost.push_back(id);
                 },
             .resync = [&] { ++resyncs; }});
  ASSERT_TRUE(eventually([&] { return resyncs == 1; }));  // listening
  auto q1 = makeTask("t", TaskStatus::kQueued), q2 = makeTask("t", TaskStatus::kQueued),
       running = makeTask("t", TaskStatus::kRunning), flagged = makeTask("t", TaskStatus::kQueued);
  flagged.cancelRequested = true;
  for (auto* t : {&q1, &q2, &running, &flagged})
    ASSERT_TRUE(putAndWait(*a, {.taskId = t->id, .create = *t}));
  // Not queued long enough: nobody takes them.
  EXPECT_TRUE(b->take(10, std::chrono::hours(1))->empty());
  EXPECT_TRUE(b->take(0, std::chrono::milliseconds(0))->empty());
  // b and c race, one each: every queued task goes to exactly one of them;
  // the running one and the one flagged for cancel stay with a.
  auto fb =
      std::async(std::launch::async, [&] { return b->take(1, std::chrono::milliseconds(0)); });
  auto fc =
      std::async(std::launch::async, [&] { return c->take(1, std::chrono::milliseconds(0)); });
  std::vector<std::pair<TaskStore*, Task>> got;
  for (auto [f, by] : {std::pair{&fb, b.get()}, std::pair{&fc, c.get()}}) {
    auto r = f->get();
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ((*r)[0].status, TaskStatus::kQueued);
    got.emplace_back(by, (*r)[0]);
  }
  EXPECT_NE(got[0].second.id, got[1].second.id);
  for (auto& [_, t] : got) EXPECT_TRUE(t.id == q1.id || t.id == q2.id) << t.id;
  EXPECT_TRUE(b->take(10, std::chrono::milliseconds(0))->empty());
  // a is told, and can no longer start them; whoever took one can.
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return lost.size() == 2;
  }));
  TaskUpdate start;
  start.status = TaskStatus::kRunning;
  for (auto& [by, t] : got) {
    EXPECT_FALSE(putAndWait(*a, {.taskId = t.id, .update = start}));
    EXPECT_TRUE(putAndWait(*by, {.taskId = t.id, .update = start}));
  }
  a->unlisten();
}

TEST_F(PgClusterTest, CancelsAndCommittedEventsReachTheOtherPlane) {
  auto a = plane("a"), b = plane("b");
  std::mutex mu;
  std::vector<std::string> cancels;
  std::vector<std::pair<std::string, int64_t>> announced, ownAnnounced;
  std::atomic<int> resyncs{0};
  a->listen({.committed =
                 [&](const std::string& id, int64_t seq) {
                   std::lock_guard lock(mu);
                   ownAnnounced.emplace_back(id, seq);
                 },
             .cancel =
                 [&](const std::string& id) {
                   std::lock_guard lock(mu);
                   cancels.push_back(id);
                 },
             .resync = [&] { ++resyncs; }});
  b->listen({.committed =
                 [&](const std::string& id, int64_t seq) {
                   std::lock_guard lock(mu);
                   announced.emplace_back(id, seq);
                 },
             .resync = [&] { ++resyncs; }});
  ASSERT_TRUE(eventually([&] { return resyncs == 2; }));  // both listening
  auto t = makeTask("t", TaskStatus::kRunning);
  ASSERT_TRUE(putAndWait(*a, {.taskId = t.id, .create = t, .events = events(t.id, 1, {"s"})}));
  ASSERT_TRUE(putAndWait(*a, {.taskId = t.id, .events = events(t.id, 2, {"d", "d"})}));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return !announced.empty() && announced.back() == std::pair{t.id, int64_t{3}};
  }));
  // Asked through b, the cancel is flagged in the store and told to a.
  auto asked = b->requestCancel(t.id);
  ASSERT_TRUE(asked);
  ASSERT_TRUE(*asked);
  EXPECT_TRUE((*asked)->cancelRequested);
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return cancels == std::vector<std::string>{t.id};
  }));
  // Renewal finds it too (a missed notification).
  EXPECT_EQ(*a->renew(), std::vector<std::string>{t.id});
  TaskUpdate fin;
  fin.status = TaskStatus::kCanceled;
  ASSERT_TRUE(putAndWait(*a, {.taskId = t.id, .update = fin, .events = events(t.id, 4, {"done"})}));
  EXPECT_TRUE(a->renew()->empty());
  auto late = b->requestCancel(t.id);  // terminal: nothing to cancel
  ASSERT_TRUE(late);
  EXPECT_FALSE(*late);
  std::lock_guard lock(mu);
  EXPECT_TRUE(ownAnnounced.empty());  // a plane is not told its own commits
}

TEST_F(PgClusterTest, TheSharedLedgerNeverLetsPlanesOverspendACap) {
  auto a = plane("a"), b = plane("b");
  std::vector<LedgerScope> scopes{
      {.kind = "tenant", .id = "acme", .period = "day", .periodStartMs = 1000, .capNanoUsd = 10},
      {.kind = "key", .id = "k1", .period = "day", .periodStartMs = 1000, .capNanoUsd = 100}};
  // Spend already in the usage records counts from the first reservation on.
  ASSERT_TRUE(putAndWait(*a, {.taskId = "", .usage = {use("u0", 2, "acme", 5000)}}));
  std::mutex mu;
  std::vector<std::string> grantedA, grantedB;
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] {
      auto& s = i % 2 ? *a : *b;
      for (int j = 0; j < 4; ++j) {
        std::string id = "r" + std::to_string(i) + "-" + std::to_string(j);
        auto r = s.reserve(id, scopes, 1);
        ASSERT_TRUE(r) << r.error().message;
        if (*r) {
          ++refused;
          EXPECT_EQ((*r)->scope.kind, "tenant");
          EXPECT_EQ((*r)->spentNanoUsd + (*r)->reservedNanoUsd, 10);
        } else {
          std::lock_guard lock(mu);
          (i % 2 ? grantedA : grantedB).push_back(id);
        }
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(grantedA.size() + grantedB.size(), 8u);  // cap 10, 2 spent: 8 units of 1
  EXPECT_EQ(refused, 24);
  EXPECT_EQ(*a->spent(scopes[0]), (std::pair<int64_t, int64_t>{2, 8}));
  EXPECT_EQ(*a->spent(scopes[1]), (std::pair<int64_t, int64_t>{2, 8}));  // the same usage record
  // Settling moves a reservation to spend, once.
  auto& any = grantedB.empty() ? grantedA : grantedB;
  auto& settler = grantedB.empty() ? *a : *b;
  ASSERT_TRUE(settler.settle(any.front(), 1));
  ASSERT_TRUE(settler.settle(any.front(), 1));
  any.erase(any.begin());
  EXPECT_EQ(*a->spent(scopes[0]), (std::pair<int64_t, int64_t>{3, 7}));
  // b dies with reservations open: a claim frees them (their calls never settle).
  b.reset();
  ASSERT_TRUE(eventually([&] {
    EXPECT_TRUE(a->renew());
    EXPECT_TRUE(a->claim(false));
    auto now = a->spent(scopes[0]);
    return now && now->second == static_cast<int64_t>(grantedA.size());
  }));
  EXPECT_EQ(a->spent(scopes[0])->first, 3);
}

}  // namespace
}  // namespace aion::store
