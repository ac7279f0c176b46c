#pragma once
// The seam between the gateway and the control plane (DESIGN.md §2). In the
// embedded profile the gateway calls ControlService directly; a gRPC client
// implementing this interface connects separate processes. Calls block:
// gateways call them off their I/O threads.
#include <boost/json/object.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/principal.h"
#include "events/event_bus.h"
#include "policy/policy.h"
#include "store/ledger.h"
#include "store/task.h"

namespace aion::control {

struct SubmitRequest {
  Principal principal;
  std::string intent;
  boost::json::value params;
  std::optional<policy::PrivacyMode> privacy;
  std::optional<double> budgetUsd;
  std::optional<int> timeoutMs;  // may only shorten the intent's timeout
};

class ControlApi {
 public:
  virtual ~ControlApi() = default;

  //! Validates, routes and durably stores a task, then queues it. The task
  //! is acknowledged only once stored. Errors: kForbidden, kUnknownIntent,
  //! kInvalidParams, kInvalidRequest, kNoRoute, kUnavailable (queue full).
  virtual Result<store::Task> submit(const SubmitRequest& req) = 0;
  //! kNotFound also when the task belongs to another tenant.
  virtual Result<store::Task> get(const Principal& who, const std::string& id) = 0;
  virtual Result<store::TaskPage> list(const Principal& who, store::ListQuery q) = 0;
  //! Cancels a queued task at once; flags a running one (it stops at the
  //! next epoch tick). kConflict when already finished.
  virtual Result<store::Task> cancel(const Principal& who, const std::string& id) = 0;
  //! Stored events after `afterSeq` (tenant-checked like get).
  virtual Result<std::vector<store::Event>> events(const Principal& who, const std::string& id,
                                                   int64_t afterSeq, int limit) = 0;
  //! Live notifications for a task's new events.
  virtual std::unique_ptr<events::EventBus::Subscription> subscribe(
      const std::string& taskId, events::EventBus::Listener fn) = 0;
  //! Routing dry run: the plan and the reason for every candidate.
  virtual Result<boost::json::object> decide(const SubmitRequest& req) = 0;
  //! Reloads all policy files as one set; kInvalidPolicy (details.errors)
  //! leaves the set in force untouched.
  virtual Result<boost::json::object> reloadPolicies() = 0;
  //! Spend and tokens of model calls, grouped and filtered; a non-admin
  //! sees only their own tenant.
  virtual Result<boost::json::object> usage(const Principal& who, store::UsageQuery q) = 0;
  //! Every module of the policy set (refused ones included) with its
  //! verification status and reason, source, enabled flag and limits.
  virtual boost::json::array modules() = 0;
  //! Verifies and stores an uploaded module, then reloads the policy set so
  //! it is served. kInvalidRequest, kModuleRefused, kConflict (the name is
  //! defined in modules.yml), kInvalidPolicy (the reload failed; nothing kept).
  virtual Result<boost::json::object> registerModule(const boost::json::object& body) = 0;
  //! Disables or re-enables a module: the router drops a disabled module's
  //! routes with that reason. Persists across restarts. kNotFound.
  virtual Result<boost::json::object> setModuleEnabled(const std::string& name, bool enabled) = 0;
  //! Readiness and its checks.
  virtual std::pair<bool, boost::json::object> readiness() = 0;
};

}  // namespace aion::control
