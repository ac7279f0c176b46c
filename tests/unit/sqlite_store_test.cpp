#include "store/sqlite_store.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>
#include <thread>

#include "common/ids.h"
#include "temp_dir.h"

namespace aion::store {
namespace {
namespace json = boost::json;

Task makeTask(const std::string& tenant = "default", TaskStatus st = TaskStatus::kRouted) {
  Task t;
  t.id = newTaskId();
  t.tenant = tenant;
  t.keyId = "abc123";
  t.intent = "summarize";
  t.params = json::object{{"text", "héllo"}};
  t.status = st;
  t.route = json::object{{"routes", json::array{}}};
  t.createdMs = nowMs();
  t.deadlineMs = t.createdMs + 1000;
  return t;
}

struct StoreTest : ::testing::Test {
  testing::TempDir dir;
  std::unique_ptr<SqliteTaskStore> store;
  void SetUp() override { reopen(); }
  void reopen() {
    store.reset();
    auto s = SqliteTaskStore::open(dir.path() / "aion.db");
    ASSERT_TRUE(s) << s.error().message;
    store = std::move(*s);
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
  auto evs =
      store->create(t, {{"status", json::object{{"status", "queued"}}}, {"route", json::object{}}});
  ASSERT_TRUE(evs);
  EXPECT_EQ(evs->size(), 2u);
  auto got = store->get(t.id);
  ASSERT_TRUE(got && *got);
  const Task& g = **got;
  EXPECT_EQ(g.tenant, "default");
  EXPECT_EQ(g.keyId, "abc123");
  EXPECT_EQ(g.params, t.params);
  EXPECT_EQ(g.status, TaskStatus::kRouted);
  EXPECT_EQ(g.route, t.route);
  EXPECT_TRUE(g.result.is_null());
  EXPECT_EQ(g.createdMs, t.createdMs);
  EXPECT_EQ(g.deadlineMs, t.deadlineMs);
  EXPECT_EQ(g.lastSeq, 2);
  EXPECT_FALSE(*store->get("tsk_missing"));
}

TEST_F(StoreTest, TransitionsAppendGapFreeEvents) {
  auto t = makeTask();
  ASSERT_TRUE(store->create(t, {{"status", json::object{}}}));
  Transition run{.taskId = t.id, .from = maskOf(TaskStatus::kRouted), .to = TaskStatus::kRunning};
  run.startedMs = 5;
  run.attempts = 1;
  auto r = store->transition(run, {{"status", json::object{}}});
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((**r)[0].seq, 2);
  Transition done{
      .taskId = t.id, .from = maskOf(TaskStatus::kRunning), .to = TaskStatus::kSucceeded};
  done.result = json::object{{"summary", "x"}};
  done.finishedMs = 9;
  ASSERT_TRUE(
      store->transition(done, {{"result", json::object{}}, {"done", json::object{}}}).value());
  EXPECT_EQ(seqs(t.id), (std::vector<int64_t>{1, 2, 3, 4}));
  auto g = **store->get(t.id);
  EXPECT_EQ(g.status, TaskStatus::kSucceeded);
  EXPECT_EQ(g.result.at("summary"), "x");
  EXPECT_EQ(g.startedMs, 5);
  EXPECT_EQ(g.attempts, 1);
  // events after a given seq
  auto tail = *store->events(t.id, 2, 10);
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(tail[0].type, "result");
}

TEST_F(StoreTest, ProgressCommitsInterleaveWithDurableOnesAndSurviveReopen) {
  auto t = makeTask();
  ASSERT_TRUE(store->create(t, {{"status", json::object{}}}));
  Transition run{.taskId = t.id, .from = maskOf(TaskStatus::kRouted), .to = TaskStatus::kRunning};
  ASSERT_TRUE(store->transition(run, {{"status", json::object{}}}).value());
  for (int i = 0; i < 3; ++i) {
    Transition delta{.taskId = t.id,
                     .from = maskOf(TaskStatus::kRunning),
                     .to = TaskStatus::kRunning,
                     .progress = true};
    ASSERT_TRUE(store->transition(delta, {{"delta", json::object{{"index", i}}}}).value());
  }
  Transition done{
      .taskId = t.id, .from = maskOf(TaskStatus::kRunning), .to = TaskStatus::kSucceeded};
  ASSERT_TRUE(store->transition(done, {{"done", json::object{}}}).value());
  reopen();
  EXPECT_EQ(seqs(t.id), (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ((**store->get(t.id)).status, TaskStatus::kSucceeded);
}

TEST_F(StoreTest, TransitionFromWrongStateChangesNothing) {
  auto t = makeTask();
  ASSERT_TRUE(store->create(t, {{"status", json::object{}}}));
  Transition bad{
      .taskId = t.id, .from = maskOf(TaskStatus::kRunning), .to = TaskStatus::kSucceeded};
  bad.result = json::object{{"x", 1}};
  auto r = store->transition(bad, {{"done", json::object{}}});
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
  auto g = **store->get(t.id);
  EXPECT_EQ(g.status, TaskStatus::kRouted);
  EXPECT_TRUE(g.result.is_null());
  EXPECT_EQ(seqs(t.id), std::vector<int64_t>{1});
  EXPECT_FALSE(*store->transition(
      {.taskId = "tsk_none", .from = kActiveMask, .to = TaskStatus::kFailed}, {}));
}

TEST_F(StoreTest, ListPaginatesNewestFirstPerTenant) {
  std::vector<std::string> acme;
  for (int i = 0; i < 25; ++i) {
    auto t = makeTask(i % 5 == 0 ? "globex" : "acme");
    ASSERT_TRUE(store->create(t, {}));
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

TEST_F(StoreTest, UnfinishedCancelAndReopen) {
  auto a = makeTask("t", TaskStatus::kQueued), b = makeTask("t", TaskStatus::kRunning),
       c = makeTask("t", TaskStatus::kSucceeded);
  for (auto* t : {&a, &b, &c}) ASSERT_TRUE(store->create(*t, {}));
  ASSERT_TRUE(store->requestCancel(b.id));
  reopen();  // durable across close/open
  auto u = *store->unfinished();
  ASSERT_EQ(u.size(), 2u);
  EXPECT_EQ(u[0].id, a.id);
  EXPECT_EQ(u[1].id, b.id);
  EXPECT_TRUE(u[1].cancelRequested);
  EXPECT_FALSE(u[0].cancelRequested);
  EXPECT_TRUE(store->ping());
}

TEST_F(StoreTest, ConcurrentAppendsGetUniqueConsecutiveSeqs) {
  auto t = makeTask("t", TaskStatus::kRunning);
  ASSERT_TRUE(store->create(t, {}));
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 25; ++j) {
        auto r = store->transition(
            {.taskId = t.id, .from = maskOf(TaskStatus::kRunning), .to = TaskStatus::kRunning},
            {{"attempt", json::object{}}});
        ASSERT_TRUE(r && *r);
      }
    });
  }
  for (auto& th : threads) th.join();
  auto s = seqs(t.id);
  ASSERT_EQ(s.size(), 200u);
  for (size_t i = 0; i < s.size(); ++i) EXPECT_EQ(s[i], static_cast<int64_t>(i + 1));
}

TEST(SqliteStore, OpenFailsClearlyOnBadPath) {
  auto s = SqliteTaskStore::open("/proc/no/such/dir/aion.db");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace aion::store
