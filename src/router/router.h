#pragma once
// Router v1 (DESIGN.md §5): a pure, deterministic function from a task, the
// policy snapshot and live statistics to a plan plus an explanation.
#include <boost/json/object.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "policy/policy.h"

namespace aion::router {

using policy::PrivacyMode;
using policy::RouteKind;

struct TaskInput {
  std::string tenant;
  std::string intent;
  size_t paramsBytes = 0;                // serialized params, for token estimates
  std::optional<PrivacyMode> privacy{};  // may only be stricter than the intent's
  std::optional<double> budgetUsd{};     // may only be lower than the hard cap
  //! Only this route ("model:NAME", "module:NAME") may serve; it must be a
  //! candidate of the intent. Empty: every candidate not marked explicit.
  std::string onlyRoute{};
};

struct LatencyStat {
  double p50Ms = 0;
  double p95Ms = 0;
  uint64_t count = 0;
};

//! A GPU a module host reports (for resources.gpu placement).
struct GpuInfo {
  std::string name;
  int memoryMb = 0;  // 0: unknown
};

//! What the router knows about the world beyond policy.
struct LiveState {
  std::map<std::string, std::string> unavailableModules;  // module name -> reason (disabled)
  std::vector<GpuInfo> gpus;                              // devices the module host reports
  std::map<std::string, LatencyStat> latency;             // by route key ("module:x")
  std::map<std::string, std::string> unavailable;         // provider name -> reason
  std::map<std::string, std::string> unavailableModels;   // model name -> reason (open circuit)
  uint64_t minSamplesForLiveP95 = 20;
};

struct Route {
  RouteKind kind = RouteKind::kModule;
  std::string target;     // module or model name
  std::string provider;   // models only
  std::string modelType;  // models only: chat | embedding
  bool local = true;
  double estCostUsd = 0;
  double maxCostUsd = 0;  // upper bound (1 token per input byte + all output): the reservation
  int maxOutputTokens = 0;
  double priceInPerMTok = 0;
  double priceOutPerMTok = 0;
  double estLatencyMs = 0;
  double p50Ms = 0;  // live, when known
  bool latencyFromLive = false;
  int latencyTargetMs = 0;

  std::string key() const;  // "module:summarize", "model:gpt-4o-mini"
};

struct CandidateReport {
  Route route;
  bool kept = false;
  std::string reason;  // why it was dropped (a kept route's: reasonOf)
};

struct Plan {
  std::string intent;
  PrivacyMode privacy = PrivacyMode::kLocalOnly;
  double budgetUsd = 0;
  std::string redactModule;  // hybrid: masks PII before remote routes
  bool rehydrate = true;
  std::vector<Route> routes;  // primary first, then fallbacks in order
  std::vector<CandidateReport> candidates;
};

//! Decides the plan. Fails with kUnknownIntent, kInvalidRequest (looser
//! privacy, budget over the hard cap) or kNoRoute (every candidate dropped;
//! details carry the explanation).
Result<Plan> decide(const TaskInput& task, const policy::PolicySet& policies,
                    const LiveState& live);

//! key == Route::key() of (kind, target), without building it.
bool isRoute(std::string_view key, policy::RouteKind kind, std::string_view target);
boost::json::object toJson(const Route& r);
//! The plan with every candidate and its reason, and the primary route.
boost::json::object toJson(const Plan& p);
//! The plan as a task keeps it (plan_json.h: router::planView gives toJson's form back).
boost::json::object storedJson(const Plan& p);
//! Why the candidate was kept or dropped.
std::string reasonOf(const CandidateReport& c, double budgetUsd);

}  // namespace aion::router
