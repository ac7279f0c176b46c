#pragma once
// Runs stored tasks on a bounded pool of workers: one task per worker at a
// time, a bounded queue (admission is reserved before a task is stored, so a
// full queue rejects instead of dropping), per-task deadlines, cancellation,
// and fallback along the plan's routes.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "control/latency_tracker.h"
#include "control/policy_store.h"
#include "events/event_bus.h"
#include "modhost/module_host.h"
#include "providers/hub.h"
#include "store/ledger.h"
#include "store/task_store.h"
#include "telemetry/metrics.h"

namespace aion::control {

//! What the model calls of one task cost so far.
struct Spend {
  double usd = 0;
  bool estimated = false;
};

class Orchestrator {
 public:
  struct Options {
    int workers = 2;
    size_t queueMax = 1024;
  };
  struct Deps {
    store::TaskStore& store;
    modhost::ModuleHost& modules;
    providers::ProviderHub& providers;
    store::SpendLedger& ledger;
    events::EventBus& bus;
    telemetry::Metrics& metrics;
    LatencyTracker& latency;
    const PolicyStore& policies;
  };

  Orchestrator(Deps deps, Options opts);
  ~Orchestrator();

  //! Reserves a queue slot for a task about to be stored. False: queue full.
  bool tryReserve();
  //! Returns a slot reserved by tryReserve that will not be used.
  void unreserve();
  //! Queues a stored task on a slot reserved by tryReserve.
  void enqueueReserved(std::string taskId);
  //! Queues a recovered task (no admission check: it was acknowledged).
  void enqueueRecovered(std::string taskId);
  //! Flags a running task for cancellation; false when it is not running here.
  bool cancelRunning(const std::string& taskId);
  //! Persists a transition and publishes its events. nullopt: status moved on.
  Result<bool> transition(const store::Transition& t, const std::vector<store::EventDraft>& evs);
  void stop();

 private:
  void workerLoop();
  void runTask(const std::string& taskId);
  //! Runs one model route: reserve budget, call the provider (streaming
  //! deltas as events), settle the spend. `streamed` tells whether any text
  //! reached the client (then no other route may run).
  Result<boost::json::value> runModel(const store::Task& task, const boost::json::object& route,
                                      size_t routeIndex, const std::atomic<bool>& cancel,
                                      int64_t remainingMs, Spend& spend, bool& streamed);
  void finish(const store::Task& task, store::TaskStatus to, std::vector<store::EventDraft> evs,
              std::optional<boost::json::value> result, std::optional<boost::json::value> error,
              const Spend& spend = {});

  Deps d_;
  Options opts_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  size_t reserved_ = 0;
  bool stopping_ = false;
  std::unordered_map<std::string, std::shared_ptr<std::atomic<bool>>> running_;
  std::vector<std::jthread> workers_;
};

}  // namespace aion::control
