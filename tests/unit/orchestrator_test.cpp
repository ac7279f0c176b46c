// The orchestrator against a real SQLite store, bus and budget book; modules
// are a scripted host (success, error, exception, hang) so each way a task
// can end is driven on purpose.
#include "control/orchestrator.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <future>
#include <thread>

#include "common/ids.h"
#include "store/sqlite_store.h"
#include "temp_dir.h"

namespace aion::control {
namespace {
namespace asio = boost::asio;
namespace json = boost::json;
using store::TaskStatus;

// Module behaviour by name: ok, fail, throw, hang (until canceled or the
// time limit), block (ignores cancellation for `blockMs`).
class ScriptedModules final : public modhost::ModuleHost {
 public:
  std::expected<void, std::vector<std::string>> load(const policy::PolicySet&) override {
    return {};
  }
  Result<modhost::CallResult> call(const std::string& name, std::string_view input,
                                   const modhost::CallOptions& opts) override {
    ++calls;
    if (name == "fail") return fail(ErrorCode::kModuleFailed, "module exited with status 1");
    if (name == "throw") throw std::runtime_error("host bug");
    if (name == "hang") {
      auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(opts.timeoutMs);
      while (std::chrono::steady_clock::now() < until) {
        if (opts.cancel && opts.cancel->load()) return fail(ErrorCode::kCanceled, "canceled");
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      return fail(ErrorCode::kTimeout, "wall-time limit reached");
    }
    if (name == "block") {
      std::this_thread::sleep_for(std::chrono::milliseconds(blockMs));
      blockReturned = true;
    }
    return modhost::CallResult{json::object{{"echo", json::parse(input)}}, 7, ""};
  }
  json::array describe() const override { return {}; }
  std::atomic<int> calls{0};
  int blockMs = 0;
  std::atomic<bool> blockReturned{false};
};

struct OrchestratorTest : ::testing::Test {
  testing::TempDir dir;
  std::unique_ptr<store::SqliteTaskStore> db;
  store::SqliteTaskStore::Options storeOpts;
  ScriptedModules modules;
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  asio::thread_pool modulePool{2};
  telemetry::Metrics metrics;
  std::unique_ptr<providers::ProviderHub> hub;
  BudgetBook budgets;
  events::EventBus bus;
  LatencyTracker latency;
  PolicyStore policies{std::make_shared<policy::PolicySet>()};
  std::unique_ptr<Orchestrator> orch;
  std::thread ioThread;

  void SetUp() override { start({.moduleSlots = 1, .modelSlots = 4, .queueMax = 3}); }
  void start(Orchestrator::Options opts) {
    io.restart();
    work.emplace(io.get_executor());
    auto s = store::SqliteTaskStore::open(dir.path() / "aion.db", storeOpts);
    ASSERT_TRUE(s) << s.error().message;
    db = std::move(*s);
    hub = std::make_unique<providers::ProviderHub>(
        [](const char*) { return std::optional<std::string>(); }, metrics);
    orch = std::make_unique<Orchestrator>(
        Orchestrator::Deps{*db, modules, modulePool.get_executor(), *hub, budgets, bus, metrics,
                           latency, policies, [this] { return io.get_executor(); }},
        opts);
    ioThread = std::thread([this] { io.run(); });
  }
  void TearDown() override { stopAll(); }
  void stopAll() {
    if (!orch) return;
    std::promise<void> drained;
    orch->stop([&] { drained.set_value(); });
    drained.get_future().wait_for(std::chrono::seconds(10));
    work.reset();
    io.stop();
    ioThread.join();
    orch.reset();
    hub.reset();
    db.reset();
  }

  store::Task task(std::vector<std::string> modulesInPlan, int64_t timeoutMs = 5000) {
    json::array routes;
    for (auto& m : modulesInPlan) routes.push_back(json::object{{"kind", "module"}, {"target", m}});
    store::Task t;
    t.id = newTaskId();
    t.tenant = "default";
    t.keyId = "k";
    t.intent = "test";
    t.surface = "rest";
    t.params = json::object{{"text", "x"}};
    t.status = TaskStatus::kRouted;
    t.route = json::object{{"routes", routes}};
    t.createdMs = nowMs();
    t.deadlineMs = t.createdMs + timeoutMs;
    return t;
  }

  //! Subscribes before the task exists and resolves with its "done" event.
  std::shared_ptr<std::promise<store::Event>> doneOf(const std::string& id) {
    auto p = std::make_shared<std::promise<store::Event>>();
    auto joined = bus.subscribe(id, 0, [p](const store::Event& e) {
      if (e.type == "done") p->set_value(e);
    });
    subs.push_back(std::move(joined.sub));
    return p;
  }
  std::vector<std::unique_ptr<events::EventBus::Subscription>> subs;

  Result<store::Task> admit(store::Task t, bool behind = false) {
    if (!orch->tryReserve()) return fail(ErrorCode::kUnavailable, "full");
    std::vector<EventDraft> evs{{"status", json::object{{"status", "queued"}}}};
    return asio::co_spawn(io, orch->admit(std::move(t), std::move(evs), behind), asio::use_future)
        .get();
  }
  store::Task finished(const std::string& id, std::shared_ptr<std::promise<store::Event>> done) {
    auto f = done->get_future();
    EXPECT_EQ(f.wait_for(std::chrono::seconds(20)), std::future_status::ready) << id;
    db->flush();
    auto row = db->get(id);
    EXPECT_TRUE(row && *row);
    return **row;
  }
  std::vector<std::string> types(const std::string& id) {
    std::vector<std::string> out;
    int64_t expect = 1;
    auto evs = db->events(id, 0, 1000);
    EXPECT_TRUE(evs);
    for (auto& e : *evs) {
      EXPECT_EQ(e.seq, expect++);  // gap-free
      out.push_back(e.type);
    }
    return out;
  }
};

TEST_F(OrchestratorTest, ATaskRunsStoresEveryEventAndItsOverhead) {
  auto t = task({"ok"});
  auto done = doneOf(t.id);
  ASSERT_TRUE(admit(t));
  auto row = finished(t.id, done);
  EXPECT_EQ(row.status, TaskStatus::kSucceeded);
  EXPECT_EQ(row.result.at("echo").at("text"), "x");
  EXPECT_EQ(row.attempts, 1);
  EXPECT_GT(row.upstreamUs, 0);
  EXPECT_GT(row.overheadUs, 0);
  EXPECT_EQ(types(t.id), (std::vector<std::string>{"status", "status", "result", "done"}));
}

TEST_F(OrchestratorTest, FailureFallsBackAndReportsEveryAttempt) {
  auto t = task({"fail", "ok"});
  auto done = doneOf(t.id);
  ASSERT_TRUE(admit(t));
  EXPECT_EQ(finished(t.id, done).status, TaskStatus::kSucceeded);
  auto f = task({"fail", "fail"});
  auto done2 = doneOf(f.id);
  ASSERT_TRUE(admit(f));
  auto row = finished(f.id, done2);
  EXPECT_EQ(row.status, TaskStatus::kFailed);
  EXPECT_EQ(row.error.at("code"), "module_failed");
  EXPECT_EQ(row.error.at("attempts").as_array().size(), 2u);
}

TEST_F(OrchestratorTest, AHostExceptionEndsTheTaskFailedNotRunning) {
  auto t = task({"throw"});
  auto done = doneOf(t.id);
  ASSERT_TRUE(admit(t));
  auto row = finished(t.id, done);
  EXPECT_EQ(row.status, TaskStatus::kFailed);
  EXPECT_EQ(row.error.at("code"), "internal");
  EXPECT_NE(std::string(row.error.at("message").as_string()).find("host bug"), std::string::npos);
  // the slot came back: the next task runs
  auto next = task({"ok"});
  auto done2 = doneOf(next.id);
  ASSERT_TRUE(admit(next));
  EXPECT_EQ(finished(next.id, done2).status, TaskStatus::kSucceeded);
}

TEST_F(OrchestratorTest, ACallThatNeverReturnsIsClosedByTheWatchdog) {
  stopAll();
  start({.moduleSlots = 1,
         .modelSlots = 4,
         .queueMax = 3,
         .watchdogGrace = std::chrono::milliseconds(100)});
  modules.blockMs = 1500;  // ignores its 200 ms budget and cancellation
  auto t = task({"block"}, 200);
  auto done = doneOf(t.id);
  ASSERT_TRUE(admit(t));
  auto row = finished(t.id, done);
  EXPECT_FALSE(modules.blockReturned.load());  // closed while the call was still stuck
  EXPECT_EQ(row.status, TaskStatus::kFailed);
  EXPECT_EQ(row.error.at("code"), "timeout");
}

TEST_F(OrchestratorTest, CancelQueuedNowAndRunningPromptly) {
  auto running = task({"hang"}, 10000);
  auto queued = task({"ok"});
  auto d1 = doneOf(running.id), d2 = doneOf(queued.id);
  ASSERT_TRUE(admit(running));
  ASSERT_TRUE(admit(queued));  // one module slot: it waits
  ASSERT_TRUE(orch->find(queued.id));
  auto view =
      asio::co_spawn(io, orch->cancel(queued.id, "canceled by a client"), asio::use_future).get();
  ASSERT_TRUE(view);
  EXPECT_EQ(view->status, TaskStatus::kCanceled);
  auto r =
      asio::co_spawn(io, orch->cancel(running.id, "canceled by a client"), asio::use_future).get();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->cancelRequested);
  EXPECT_EQ(finished(running.id, d1).status, TaskStatus::kCanceled);
  EXPECT_EQ(finished(queued.id, d2).status, TaskStatus::kCanceled);
  EXPECT_EQ(modules.calls.load(), 1);  // the queued one never ran
}

TEST_F(OrchestratorTest, AFullQueueRefusesBeforeAnythingIsStored) {
  auto blocker = task({"hang"}, 10000);
  ASSERT_TRUE(admit(blocker));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(admit(task({"ok"})));
  EXPECT_FALSE(orch->tryReserve());
  EXPECT_EQ(db->unfinished()->size(), 4u);
  asio::co_spawn(io, orch->cancel(blocker.id, "test"), asio::use_future).get();
}

TEST_F(OrchestratorTest, WritesBehindArePublishedAtOnceAndStoredByTheEnd) {
  auto t = task({"ok"});
  std::vector<std::string> seen;
  std::mutex mu;
  auto joined = bus.subscribe(t.id, 0, [&](const store::Event& e) {
    std::lock_guard lock(mu);
    seen.push_back(e.type);
  });
  auto done = doneOf(t.id);
  ASSERT_TRUE(admit(t, /*behind=*/true));
  auto row = finished(t.id, done);
  EXPECT_EQ(row.status, TaskStatus::kSucceeded);
  std::lock_guard lock(mu);
  EXPECT_EQ(seen, types(t.id));
}

TEST_F(OrchestratorTest, ATaskWrittenBehindRetiresBeforeTheOrchestratorIsGone) {
  // Its final write waits for company (a long window here): the task is
  // retired by that write's callback, on the store's writer thread, after
  // its slot was given back and stop() reported drained.
  stopAll();
  storeOpts.behindWindow = std::chrono::seconds(30);
  start({.moduleSlots = 1, .modelSlots = 4, .queueMax = 3});
  auto t = task({"ok"});
  auto done = doneOf(t.id);
  ASSERT_TRUE(admit(t, /*behind=*/true));
  ASSERT_EQ(done->get_future().wait_for(std::chrono::seconds(20)), std::future_status::ready);
  std::promise<void> drained;
  orch->stop([&] { drained.set_value(); });
  ASSERT_EQ(drained.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  work.reset();
  ioThread.join();  // the task's coroutine has ended: its final write is queued
  orch.reset();     // the write's callback runs now, not later on a destroyed orchestrator
  EXPECT_FALSE(bus.subscribe(t.id, 0, [](const store::Event&) {}).history)
      << "the task's events are still held: it was never retired";
  db->flush();
  EXPECT_EQ((**db->get(t.id)).status, TaskStatus::kSucceeded);
}

TEST_F(OrchestratorTest, RecoveryRetriesModuleTasksOnceAndClosesTheRest) {
  auto queued = task({"ok"});
  auto twice = task({"ok"});
  twice.status = TaskStatus::kRunning;
  twice.attempts = 2;
  auto model = task({"ok"});
  model.status = TaskStatus::kRunning;
  model.route =
      json::object{{"routes", json::array{json::object{{"kind", "model"}, {"target", "m"}}}}};
  for (auto* t : {&queued, &twice, &model}) {
    std::promise<Status> p;
    db->write({.taskId = t->id, .create = *t},
              [&p](const Status& st, store::Write&) { p.set_value(st); });
    ASSERT_TRUE(p.get_future().get());
  }
  auto d1 = doneOf(queued.id);
  ASSERT_TRUE(orch->recover(*db->unfinished()));
  EXPECT_EQ(finished(queued.id, d1).status, TaskStatus::kSucceeded);
  db->flush();
  auto t2 = **db->get(twice.id);
  EXPECT_EQ(t2.status, TaskStatus::kFailed);
  EXPECT_EQ(t2.error.at("code"), "interrupted");
  EXPECT_EQ((**db->get(model.id)).status, TaskStatus::kFailed);
}

// BudgetBook: tests/unit/ledger_conformance_test.cpp (embedded and shared).

}  // namespace
}  // namespace aion::control
