#pragma once
#include <filesystem>
#include <mutex>

#include "control/control_api.h"
#include "control/latency_tracker.h"
#include "control/module_registry.h"
#include "control/orchestrator.h"
#include "control/policy_store.h"
#include "modhost/module_host.h"
#include "policy/loader.h"
#include "providers/hub.h"
#include "router/router.h"
#include "store/ledger.h"
#include "store/task_store.h"
#include "telemetry/metrics.h"

namespace aion::control {

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
  };
  struct Deps {
    store::TaskStore& store;
    modhost::ModuleHost& modules;
    providers::ProviderHub& providers;
    store::SpendLedger& ledger;
    events::EventBus& bus;
    telemetry::Metrics& metrics;
  };

  //! Loads policies and modules; fails with every problem found.
  static std::expected<std::unique_ptr<ControlService>, std::vector<std::string>> create(
      Deps deps, Options opts);
  ~ControlService() override;

  //! Re-queues tasks left unfinished by a previous run (DESIGN.md §4).
  Status recover();
  void stop();

  Result<store::Task> submit(const SubmitRequest& req) override;
  Result<store::Task> get(const Principal& who, const std::string& id) override;
  Result<store::TaskPage> list(const Principal& who, store::ListQuery q) override;
  Result<store::Task> cancel(const Principal& who, const std::string& id) override;
  Result<std::vector<store::Event>> events(const Principal& who, const std::string& id,
                                           int64_t afterSeq, int limit) override;
  std::unique_ptr<events::EventBus::Subscription> subscribe(const std::string& taskId,
                                                            events::EventBus::Listener fn) override;
  Result<boost::json::object> decide(const SubmitRequest& req) override;
  Result<boost::json::object> reloadPolicies() override;
  boost::json::array modules() override;
  Result<boost::json::object> registerModule(const boost::json::object& body) override;
  Result<boost::json::object> setModuleEnabled(const std::string& name, bool enabled) override;
  Result<boost::json::object> usage(const Principal& who, store::UsageQuery q) override;
  std::pair<bool, boost::json::object> readiness() override;

  policy::PolicySetPtr policies() const { return policies_->current(); }

 private:
  ControlService(Deps deps, Options opts, policy::PolicySetPtr initial,
                 std::unique_ptr<ModuleRegistry> registry);
  //! Role, intent, schema and routing checks shared by submit and decide.
  Result<router::Plan> plan(const SubmitRequest& req, const policy::PolicySet& ps,
                            size_t paramsBytes);

  Deps d_;
  Options opts_;
  std::unique_ptr<PolicyStore> policies_;
  LatencyTracker latency_;
  std::unique_ptr<Orchestrator> orchestrator_;
  std::mutex reloadMu_;
  std::unique_ptr<ModuleRegistry> registry_;
  Result<boost::json::object> reloadLocked();
};

}  // namespace aion::control
