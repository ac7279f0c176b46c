#pragma once
// Runs tasks as coroutines (DESIGN.md §4a). A task this process owns while it
// is active is an ActiveTask: every change to it goes through the
// orchestrator, which numbers its events, writes them (durably before they
// are published, or behind them for proxy calls with AION_DURABILITY=async)
// and publishes them to followers. Tasks whose first route is a module take
// one of AION_WORKERS module slots (the module runs on a bounded CPU pool);
// tasks whose first route is a model take one of AION_MODEL_CONCURRENCY
// slots and wait on the network, not on a thread. Beyond the slots, tasks
// queue (AION_QUEUE_MAX; a full queue rejects before anything is stored).
// Every task ends in a terminal state: deadlines bound each wait, a
// watchdog closes a task whose call never returns, and an exception ends it
// failed.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <unordered_map>
#include <vector>

#include "control/budget_book.h"
#include "control/latency_tracker.h"
#include "control/policy_store.h"
#include "events/event_bus.h"
#include "modhost/call_metrics.h"
#include "modhost/module_host.h"
#include "providers/hub.h"
#include "store/task_store.h"
#include "telemetry/metrics.h"

namespace aion::control {

class Retrieval;

struct EventDraft {
  std::string type;
  boost::json::value data;
};

//! A task while this process owns it.
//! Where a task's span hangs in its trace (store::Task::traceId).

struct TaskSpan {
  std::string parentSpanId{};
  bool sampled = false;  // the trace's sampled flag
  std::string spanId{};  // the task span's id when drawn before admission (its children came first)
};

struct ActiveTask {
  std::mutex mu;
  store::Task task;     // as followers and GET see it (after commit when durable)
  int64_t nextSeq = 1;  // the next event's seq
  bool behind = false;  // written behind (not durable before it runs)
  bool queued = true;   // waiting for a slot
  bool finishing = false;
  std::stop_source stop;               // cancel: provider calls, retries
  std::atomic<bool> cancel{false};     // the same, for module hosts (polled)
  std::string cancelReason;            // why stop was requested
  int64_t acceptedUs = 0;              // steady clock, for the overhead figure
  std::atomic<int64_t> upstreamUs{0};  // time inside modules and provider calls
  bool recovered = false;          // taken over at start-up (its running state is a previous run's)
  std::atomic<bool> taken{false};  // a peer took it from this plane's queue (sharedQueue)
  std::atomic<bool> holdsSlot{false};  // a lane slot, given back as soon as it has finished
  size_t lane = 0;
  int attempt = 0;     // the current run's attempt: written and read by that run only
  TaskSpan span;       // sampled: the task's span and its module/provider spans are recorded
  std::string spanId;  // the task's span
  int64_t startNs = 0;
};

class Orchestrator {
 public:
  struct Options {
    size_t moduleSlots = 2;    // AION_WORKERS
    size_t modelSlots = 1024;  // AION_MODEL_CONCURRENCY
    size_t queueMax = 1024;    // AION_QUEUE_MAX
    std::chrono::milliseconds watchdogGrace{3000};
    //! Other control planes may take this plane's queued tasks
    //! (store::Cluster::take): a queued task's start is committed before it
    //! runs, and fails if a peer took it meanwhile.
    bool sharedQueue = false;
    //! A task asked to be written behind is stored durably instead while the
    //! store's writer is further behind than this (AION_WRITE_BEHIND_MS):
    //! under overload calls wait for their commit, so writes behind stay
    //! bounded in memory and in what kill -9 can lose. 0: no bound.
    std::chrono::milliseconds behindLagMax{0};
  };
  //! Why tasks are handed to recover().
  enum class Recovery { kRestart, kTakeover, kShared };
  struct Deps {
    store::TaskStore& store;
    modhost::ModuleHost& modules;
    boost::asio::any_io_executor moduleExec;  // bounded CPU pool for module calls
    providers::ProviderHub& providers;
    BudgetBook& budgets;
    events::EventBus& bus;
    telemetry::Metrics& metrics;
    LatencyTracker& latency;
    const PolicyStore& policies;
    std::function<boost::asio::any_io_executor()> nextIo;  // the event loop a queued task runs on
    //! Vector retrieval for intents that use it (intents.yml `vectors`); null: none.
    Retrieval* retrieval = nullptr;
  };

  Orchestrator(Deps deps, Options opts);
  ~Orchestrator();

  //! Reserves a queue place for a task about to be stored. False: full.
  bool tryReserve();
  //! Returns a place reserved by tryReserve that will not be used.
  void unreserve();
  //! Stores `t` with its first events (durably, unless `behind`), then runs
  //! or queues it on the place reserved by tryReserve. Fails only when the
  //! store refused it (then nothing was stored and the place is returned).
  //! `attached`: the submitter follows the task to its end (an OpenAI call,
  //! a submission that streams); it then starts at once when a slot is free,
  //! on the submitter's executor.
  boost::asio::awaitable<Result<store::Task>> admit(store::Task t, std::vector<EventDraft> events,
                                                    bool behind, bool attached = false,
                                                    TaskSpan span = {});
  //! Takes over unfinished tasks found at start-up (DESIGN.md §4): queued
  //! ones queue again; running ones are retried once when every route is a
  //! module, else closed as interrupted. Blocks until recovery is stored.
  //! kTakeover: the tasks were another control plane's, whose lease ran out;
  //! kShared: they waited in a busy peer's queue (all queued).
  Status recover(std::vector<store::Task> tasks, Recovery why = Recovery::kRestart);
  //! A peer took the queued task `id` (store::Cluster::take): it leaves this
  //! plane's queue, and its followers here read what the peer commits.
  void forget(const std::string& id);
  //! Lane slots free with nothing queued for them: tasks this plane could
  //! start at once.
  size_t idleSlots() const;

  //! The task as it stands, when it is active here.
  //! brief: without params, plan, result and error (briefOf).
  std::optional<store::Task> find(const std::string& id, bool brief = false);
  static store::Task briefOf(const store::Task& t);
  //! Cancels an active task: a queued one ends canceled now (its final state
  //! is stored before this returns its view); a running one is asked to stop.
  //! nullopt when the task is not active here.
  boost::asio::awaitable<std::optional<store::Task>> cancel(std::string id, std::string reason);

  //! Stops starting tasks (queued ones stay stored for the next start) and
  //! calls `drained` once no task runs any more.
  void stop(std::function<void()> drained);
  size_t running() const;

 private:
  using TaskPtr = std::shared_ptr<ActiveTask>;
  enum class Lane { kModule, kModel };

  Lane laneOf(const store::Task& t) const;
  void enqueue(TaskPtr t);
  //! Takes `t` out of its lane's queue (mu_ held); false: it was not queued.
  bool unqueueLocked(const TaskPtr& t);
  void startLocked(TaskPtr t, Lane lane);
  void released(Lane lane);
  //! Gives the task's lane slot back (once): when it starts to finish, so
  //! the next queued task runs while its final state is being committed.
  void releaseSlot(const TaskPtr& t);
  boost::asio::awaitable<void> run(TaskPtr t);
  boost::asio::awaitable<void> runRoutes(TaskPtr t);
  //! The plan's routes, in order, for a task that is running.
  boost::asio::awaitable<void> runPlan(TaskPtr t);
  boost::asio::awaitable<void> watchdog(TaskPtr t);

 public:
  // The journal: how the orchestrator and the model runner change a task.
  //! Applies `u` and appends `events` as one write; resumes once it is
  //! stored as the task's durability asks (behind: at once).
  boost::asio::awaitable<Status> record(const TaskPtr& t, store::TaskUpdate u,
                                        std::vector<EventDraft> events,
                                        std::vector<store::UsageRecord> usage = {});
  //! Appends progress events (deltas, retries; with `u`, a module task's
  //! start) without waiting: committed in order, ahead of anything recorded
  //! later, not waited on for an fsync.
  void progress(const TaskPtr& t, std::vector<EventDraft> events, store::TaskUpdate u = {});
  //! Ends the task once: the final state, its "done" event, spend; later
  //! calls do nothing. Never fails: a store that refuses the write still
  //! sees followers told, and recovery closes the row at the next start.
  boost::asio::awaitable<void> finish(const TaskPtr& t, store::TaskStatus to,
                                      std::vector<EventDraft> events,
                                      std::optional<boost::json::value> result,
                                      std::optional<boost::json::value> error,
                                      std::vector<store::UsageRecord> usage = {},
                                      double costUsd = 0, bool costEstimated = false);
  const Deps& deps() const { return d_; }

 private:
  //! The write of `events` (numbered from the task's next seq) with `u`.
  store::Write buildWrite(ActiveTask& t, store::TaskUpdate u, std::vector<EventDraft> events,
                          std::vector<store::UsageRecord> usage, store::Durability dur);
  void retire(const std::string& id);
  //! Drops a task a peer took before this plane started it: no final state
  //! (the peer writes it), followers are sent to the store.
  void dropTaken(const TaskPtr& t);
  //! Numbers `events`, writes them with `u` and `usage` as `dur` asks, and
  //! publishes them (after commit; behind: at once); `then` gets the outcome.
  void journal(const TaskPtr& t, store::TaskUpdate u, std::vector<EventDraft> events,
               std::vector<store::UsageRecord> usage, store::Durability dur,
               std::function<void(const Status&)> then);

  Deps d_;
  Options opts_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, TaskPtr> active_;
  std::deque<TaskPtr> queue_[2];
  size_t busy_[2] = {0, 0};
  size_t reserved_ = 0;
  size_t queuedCount_ = 0;
  bool stopping_ = false;
  std::function<void()> drained_;
};

//! {"code","message","details"?} of an error, as tasks store it.
boost::json::object errorJson(const Error& e);

}  // namespace aion::control
