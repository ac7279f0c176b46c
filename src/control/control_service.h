#pragma once
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <map>
#include <mutex>

#include "control/budget_book.h"
#include "control/control_api.h"
#include "control/latency_tracker.h"
#include "control/module_registry.h"
#include "control/orchestrator.h"
#include "control/policy_store.h"
#include "control/retrieval.h"
#include "modhost/module_host.h"
#include "policy/loader.h"
#include "providers/hub.h"
#include "router/router.h"
#include "store/cluster.h"
#include "store/task_store.h"
#include "telemetry/metrics.h"

namespace aion::control {

//! Tasks accepted by this control plane, announced to whoever follows their
//! tenant (GET /v1/tasks/feed: the console's live task list). Thread-safe;
//! listeners run on the submitting thread and must not block.
class TaskFeed {
 public:
  using Listener = std::function<void(const boost::json::object&)>;
  //! Stops the listener when destroyed; a publish already under way may
  //! still call it once, so it should hold only what it shares (shared_ptr).
  class Subscription {
   public:
    Subscription(TaskFeed* feed, uint64_t id) : feed_(feed), id_(id) {}
    ~Subscription() { feed_->drop(id_); }
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

   private:
    TaskFeed* feed_;
    uint64_t id_;
  };
  std::unique_ptr<Subscription> subscribe(std::string tenant, Listener fn);
  //! Calls every listener of `tenant` with `item`.
  void publish(const std::string& tenant, const boost::json::object& item);
  size_t followers() const;

 private:
  void drop(uint64_t id);
  mutable std::mutex mu_;
  uint64_t next_ = 1;
  std::map<uint64_t, std::pair<std::string, std::shared_ptr<Listener>>> listeners_;
};

//! The in-process control plane: policy store, router, orchestrator, store.
class ControlService final : public ControlApi {
 public:
  struct Options {
    std::filesystem::path policyDir;
    //! Registered modules and the disabled set (AION_DATA_DIR/modules);
    //! empty: no registry (tests).
    std::filesystem::path moduleStateDir;
    //! GPUs the module host reports, for resources.gpu placement.
    std::vector<router::GpuInfo> gpus;
    //! Sandbox capabilities of the subprocess host, shown in /readyz.
    boost::json::value sandbox;
    //! Non-empty: subprocess modules are not routed, for this reason.
    std::string subprocessBlocked;
    policy::LoadOptions loadOptions;
    Orchestrator::Options orchestrator;
    //! How often readiness is re-checked in the background.
    std::chrono::milliseconds readinessEvery{1000};
    //! With a cluster: how often the lease is renewed and gone planes'
    //! tasks are claimed (a third of AION_CONTROL_LEASE_MS).
    std::chrono::milliseconds leaseRenewEvery{3333};
    //! With a cluster: a task queued this long on a busy plane may be taken
    //! by a plane with a free slot (AION_CONTROL_SHARE_AFTER_MS; 0: never).
    std::chrono::milliseconds shareAfter{0};
    //! Finished tasks older than this are deleted with their events
    //! (AION_TASK_RETENTION_DAYS; 0: kept forever), checked every
    //! retentionEvery, the first time at most 10 s after start.
    std::chrono::milliseconds taskRetention{0};
    std::chrono::milliseconds retentionEvery{std::chrono::hours(1)};
  };
  struct Deps {
    store::TaskStore& store;
    modhost::ModuleHost& modules;
    boost::asio::any_io_executor moduleExec;  // module calls (bounded CPU pool)
    boost::asio::any_io_executor blocking;    // policy reloads, registry files
    providers::ProviderHub& providers;
    events::EventBus& bus;
    telemetry::Metrics& metrics;
    std::function<boost::asio::any_io_executor()> nextIo;  // event loops for tasks and timers
    //! The vector index (in-process or Qdrant); null: no retrieval (tests).
    vector::VectorIndex* vectors = nullptr;
    //! Several control planes share the store (PostgreSQL): leases, claims,
    //! cancels and events across planes, the shared budget ledger. Null:
    //! this plane is alone (SQLite).
    store::Cluster* cluster = nullptr;
  };

  //! Loads policies and modules and this period's spend; fails with every
  //! problem found.
  static std::expected<std::unique_ptr<ControlService>, std::vector<std::string>> create(
      Deps deps, Options opts);
  ~ControlService() override;

  //! Takes over tasks left unfinished by a previous run (DESIGN.md §4).
  //! With a cluster: renews this plane's lease, claims its own and gone
  //! planes' tasks, and starts renewing and listening to the other planes.
  Status recover();
  //! Stops starting tasks; `drained` runs once none runs any more.
  void stop(std::function<void()> drained);
  //! With a cluster: ends this plane's lease for good (after stop() drained),
  //! so peers take its queued tasks at once. Blocks (one statement).
  void endLease();

  Awaitable submit(SubmitRequest req) override;
  Awaitable get(Principal who, std::string id) override;
  //! Where get and list are best started from another thread: their work
  //! is a store read, which then runs inline instead of hopping through an
  //! I/O thread and back (the internal gRPC server's Get and List).
  boost::asio::any_io_executor readExecutor() { return d_.store.readExecutor(); }
  boost::asio::awaitable<Result<store::TaskPage>> list(Principal who, store::ListQuery q) override;
  Awaitable cancel(Principal who, std::string id, std::string reason) override;
  boost::asio::awaitable<Result<std::unique_ptr<events::Follower>>> follow(
      Principal who, std::string id, int64_t afterSeq) override;
  std::vector<ModelEntry> models() override;
  Result<ModelEntry> model(const std::string& name, const std::string& intent) override;
  std::pair<bool, boost::json::object> readiness() override;
  // (control_service_collections.cpp)
  boost::asio::awaitable<Result<IndexedDocuments>> indexDocuments(IndexRequest req) override;
  boost::asio::awaitable<Result<CollectionList>> listCollections(Principal who) override;
  boost::asio::awaitable<Status> deleteCollection(Principal who, std::string collection) override;

  // The control role's own operations (control/control_http.h).

  //! Routing dry run: the plan and the reason for every candidate.
  Result<boost::json::object> decide(const SubmitRequest& req);
  //! Reloads all policy files as one set; kInvalidPolicy (details.errors)
  //! leaves the set in force untouched.
  boost::asio::awaitable<Result<boost::json::object>> reloadPolicies();
  //! Spend and tokens of model calls, grouped and filtered; a non-admin
  //! sees only their own tenant.
  boost::asio::awaitable<Result<boost::json::object>> usage(Principal who, store::UsageQuery q);
  //! Every module of the policy set (refused ones included) with its
  //! verification status and reason, source, enabled flag and limits.
  boost::json::array modules();
  //! Verifies and stores an uploaded module, then reloads the policy set so
  //! it is served. kInvalidRequest, kModuleRefused, kConflict (the name is
  //! defined in modules.yml), kInvalidPolicy (the reload failed; nothing kept).
  boost::asio::awaitable<Result<boost::json::object>> registerModule(boost::json::object body);
  //! Disables or re-enables a module: the router drops a disabled module's
  //! routes with that reason. Persists across restarts. kNotFound.
  boost::asio::awaitable<Result<boost::json::object>> setModuleEnabled(std::string name,
                                                                       bool enabled);

  //! The four policy files as text ({name, text, bytes, sha256}) and the
  //! digest of the set in force.
  boost::asio::awaitable<Result<boost::json::object>> policyFiles();
  //! Replaces one policy file. The whole set with the new text is validated
  //! in a scratch copy first: kInvalidPolicy (details.errors, and
  //! details.locations {file,line,message}) changes nothing. Then the file is
  //! written atomically and the set reloaded; if the reload is refused (the
  //! module hosts), the old text is put back. A non-empty expectedSha256
  //! that no longer matches the file is kConflict. dryRun: validate only.
  boost::asio::awaitable<Result<boost::json::object>> putPolicyFile(std::string name,
                                                                    std::string text,
                                                                    std::string expectedSha256,
                                                                    bool dryRun);
  //! The intents in force with their params schema; canSubmit says whether
  //! `who` may submit each.
  boost::json::array intents(const Principal& who);

  //! Every task this control plane accepts, by tenant.
  TaskFeed& taskFeed() { return feed_; }
  policy::PolicySetPtr policies() const { return policies_->current(); }
  //! Retrieval (collections, the retrieve intent, chat context); null
  //! without a vector index.
  Retrieval* retrieval() { return retrieval_.get(); }
  BudgetBook& budgets() { return budgets_; }
  //! Sets the budget gauges: spend and cap of every budget that applies to
  //! a tenant or key seen so far, and of every one named in policies.yml.
  void exportBudgets();

 private:
  //! brief: only what following needs (see Orchestrator::find).
  Awaitable lookup(Principal who, std::string id, bool brief);
  ControlService(Deps deps, Options opts, policy::PolicySetPtr initial,
                 std::unique_ptr<ModuleRegistry> registry);
  //! Role, intent, schema and routing checks shared by submit and decide.
  Result<router::Plan> plan(const SubmitRequest& req, const policy::PolicySet& ps,
                            size_t paramsBytes);
  Result<boost::json::object> reloadLocked();
  //! Every third of the lease: renew it, pick up cancels asked elsewhere,
  //! claim the tasks of planes whose lease ran out (on the blocking pool).
  void keepLease();
  //! While this plane has idle slots: takes tasks that waited too long in
  //! busy peers' queues (every half of shareAfter, on the blocking pool).
  void keepSharing();
  //! With a task retention: deletes finished tasks older than it, a batch
  //! at a time on the blocking pool, every retentionEvery.
  void keepPurging(std::chrono::milliseconds delay);
  void purgeBatch(const std::shared_ptr<std::atomic<bool>>& alive);
  //! Runs `fn` on the timer's event loop once `delay` passed, unless this
  //! service is gone by then; `slot` keeps the timer (see readyTimer_).
  void after(std::weak_ptr<boost::asio::steady_timer>& slot, std::chrono::milliseconds delay,
             std::function<void()> fn);
  //! The same, with `fn` on the blocking pool.
  void blockingAfter(std::weak_ptr<boost::asio::steady_timer>& slot,
                     std::chrono::milliseconds delay, std::function<void()> fn);
  //! Cancels a task this plane runs for a cancel asked through another plane.
  void cancelAskedElsewhere(const std::string& id);
  Result<boost::json::object> registerModuleBlocking(const boost::json::object& body);
  void checkReadiness();

  Deps d_;
  Options opts_;
  std::unique_ptr<PolicyStore> policies_;
  LatencyTracker latency_;
  BudgetBook budgets_;
  std::unique_ptr<Retrieval> retrieval_;
  std::unique_ptr<Orchestrator> orchestrator_;
  std::mutex reloadMu_;
  std::unique_ptr<ModuleRegistry> registry_;
  TaskFeed feed_;

  //! The catalog of the policy set in force (rebuilt when it changes).
  std::shared_ptr<const std::vector<ModelEntry>> catalog();
  std::mutex catalogMu_;
  policy::PolicySetPtr catalogOf_;
  std::shared_ptr<const std::vector<ModelEntry>> catalog_;

  // Readiness, refreshed by a background timer; the handler only reads it.
  mutable std::mutex readyMu_;
  bool storeOk_ = false;
  std::string storeProblem_ = "store: not checked yet";
  bool pingPending_ = false;
  std::chrono::steady_clock::time_point pingSent_{};
  //! Owned by its pending wait, so it goes with its event loop: aiond
  //! destroys the loops before this object, and a timer must not outlive its
  //! loop (touching it then reads the loop's freed timer queue).
  std::weak_ptr<boost::asio::steady_timer> readyTimer_;
  std::weak_ptr<boost::asio::steady_timer> leaseTimer_;  // the same, for keepLease
  std::weak_ptr<boost::asio::steady_timer> shareTimer_;  // the same, for keepSharing
  std::weak_ptr<boost::asio::steady_timer> purgeTimer_;  // the same, for keepPurging
  std::mutex leaseMu_;                                   // a renewal and endLease never overlap
  bool leaseEnded_ = false;  // guarded by leaseMu_: no renewal after endLease
  std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
  std::shared_ptr<std::atomic<bool>> stopping_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace aion::control
