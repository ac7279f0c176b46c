#include "router/router.h"

#include <algorithm>
#include <cmath>

#include "router/plan_json.h"

namespace aion::router {
namespace json = boost::json;
namespace {

int targetFor(const Route& r, PrivacyMode mode, const policy::LatencyTargets& t) {
  if (r.local) return t.localMs;
  return mode == PrivacyMode::kHybrid ? t.hybridMs : t.apiMs;
}

}  // namespace

bool isRoute(std::string_view key, RouteKind kind, std::string_view target) {
  std::string_view k = policy::routeKindName(kind);
  return key.size() == k.size() + 1 + target.size() && key.starts_with(k) && key[k.size()] == ':' &&
         key.ends_with(target);
}

std::string Route::key() const {
  return std::string(policy::routeKindName(kind)) + ":" + target;
}

Result<Plan> decide(const TaskInput& task, const policy::PolicySet& ps, const LiveState& live) {
  const policy::Intent* intent = ps.intent(task.intent);
  if (!intent) return fail(ErrorCode::kUnknownIntent, "unknown intent '" + task.intent + "'");

  Plan plan;
  plan.intent = intent->name;
  plan.privacy = intent->privacy;
  if (task.privacy) {
    if (!policy::atLeastAsStrict(*task.privacy, intent->privacy)) {
      return fail(ErrorCode::kInvalidRequest,
                  "privacy '" + std::string(policy::privacyName(*task.privacy)) +
                      "' is looser than the intent's '" +
                      std::string(policy::privacyName(intent->privacy)) + "'");
    }
    plan.privacy = *task.privacy;
  }

  const auto& pol = ps.policies;
  const policy::TenantPolicy* tenant = nullptr;
  if (auto it = pol.tenants.find(task.tenant); it != pol.tenants.end()) tenant = &it->second;
  double budget = pol.budget.defaultUsd;
  if (intent->budgetUsd) budget = *intent->budgetUsd;
  if (tenant && tenant->budgetUsd) budget = std::min(budget, *tenant->budgetUsd);
  if (task.budgetUsd) {
    if (*task.budgetUsd < 0 || *task.budgetUsd > pol.budget.hardCapUsd) {
      return fail(ErrorCode::kInvalidRequest, "budgetUsd must be between 0 and the hard cap " +
                                                  usdText(pol.budget.hardCapUsd) + " USD");
    }
    budget = *task.budgetUsd;
  }
  plan.budgetUsd = std::min(budget, pol.budget.hardCapUsd);
  if (plan.privacy == PrivacyMode::kHybrid) {
    plan.redactModule = intent->redactModule;
    plan.rehydrate = intent->rehydrate;
  }

  // A redactor that cannot run makes every remote route of a hybrid plan unusable.
  std::string redactorWhy;
  if (plan.privacy == PrivacyMode::kHybrid && !intent->redactModule.empty()) {
    auto rm = ps.modules.find(intent->redactModule);
    if (rm == ps.modules.end())
      redactorWhy = "not loaded";
    else if (!rm->second.usable())
      redactorWhy = "refused: " + rm->second.verification.reason;
    else if (auto u = live.unavailableModules.find(intent->redactModule);
             u != live.unavailableModules.end())
      redactorWhy = "unavailable: " + u->second;
  }

  std::vector<Route> kept;
  for (const auto& cand : intent->candidates) {
    // A request that names its route (the OpenAI `model`) is planned for that
    // route alone: the others are neither weighed nor listed.
    if (!task.onlyRoute.empty() && !isRoute(task.onlyRoute, cand.kind, cand.target)) continue;
    CandidateReport rep;
    Route& r = rep.route;
    r.kind = cand.kind;
    r.target = cand.target;
    int expectedMs = 0;
    std::string drop;
    if (cand.kind == RouteKind::kModule) {
      const auto& m = ps.modules.at(cand.target);
      r.local = true;
      expectedMs = m.latencyMs;
      // A GPU of unknown memory (0) could fit anything: placement trusts it.
      int bestGpuMb = -1;
      for (auto& g : live.gpus)
        bestGpuMb = std::max(bestGpuMb, g.memoryMb == 0 ? INT32_MAX : g.memoryMb);
      if (!m.usable()) {
        drop = "module '" + m.name + "' refused: " + m.verification.reason;
      } else if (auto u = live.unavailableModules.find(m.name);
                 u != live.unavailableModules.end()) {
        drop = "module '" + m.name + "' unavailable: " + u->second;
      } else if (m.resources.gpu == policy::GpuNeed::kRequired && live.gpus.empty()) {
        drop = "module '" + m.name + "' requires a GPU; no module host reports one";
      } else if (m.resources.gpu == policy::GpuNeed::kRequired &&
                 bestGpuMb < m.resources.gpuMemoryMb) {
        drop = "module '" + m.name + "' needs " + std::to_string(m.resources.gpuMemoryMb) +
               " MiB of GPU memory; the largest reported GPU has " + std::to_string(bestGpuMb) +
               " MiB";
      }
    } else {
      const auto& m = ps.models.at(cand.target);
      const auto& p = ps.providers.at(m.provider);
      r.provider = p.name;
      r.modelType = m.type;
      r.local = p.local;
      expectedMs = m.latencyMs;
      // Tokens: ~4 bytes each in, the intent's output allowance out.
      double tokIn = std::ceil(static_cast<double>(task.paramsBytes) / 4.0);
      double tokOut = intent->maxOutputTokens;
      r.estCostUsd = (tokIn * m.priceInPerMTok + tokOut * m.priceOutPerMTok) / 1e6;
      r.maxCostUsd =
          (static_cast<double>(task.paramsBytes) * m.priceInPerMTok + tokOut * m.priceOutPerMTok) /
          1e6;
      r.maxOutputTokens = intent->maxOutputTokens;
      r.priceInPerMTok = m.priceInPerMTok;
      r.priceOutPerMTok = m.priceOutPerMTok;
      if (!r.local && plan.privacy == PrivacyMode::kLocalOnly) {
        drop = "privacy local-only forbids remote provider '" + p.name + "'";
      } else if (pol.providerAllow && !pol.providerAllow->count(p.name)) {
        drop = "provider '" + p.name + "' not in the global allowlist";
      } else if (tenant && tenant->providerAllow && !tenant->providerAllow->count(p.name)) {
        drop = "provider '" + p.name + "' not allowed for tenant '" + task.tenant + "'";
      } else if (!r.local && plan.privacy == PrivacyMode::kHybrid && intent->redactModule.empty()) {
        drop = "privacy hybrid needs a redaction module before remote provider '" + p.name +
               "' (none configured)";
      } else if (!r.local && plan.privacy == PrivacyMode::kHybrid && !redactorWhy.empty()) {
        drop = "privacy hybrid needs redaction module '" + intent->redactModule +
               "' before remote provider '" + p.name + "', but it is " + redactorWhy;
      } else if (auto u = live.unavailable.find(p.name); u != live.unavailable.end()) {
        drop = "provider '" + p.name + "' unavailable: " + u->second;
      } else if (auto um = live.unavailableModels.find(m.name);
                 um != live.unavailableModels.end()) {
        drop = "model '" + m.name + "' unavailable: " + um->second;
      }
    }
    if (drop.empty() && task.onlyRoute.empty() && cand.explicitOnly) {
      drop = "serves only requests that name it ('" + r.key() + "')";
    }
    if (drop.empty() && r.estCostUsd > plan.budgetUsd) {
      drop = "estimated cost " + usdText(r.estCostUsd) + " USD exceeds budget " +
             usdText(plan.budgetUsd) + " USD";
    }
    r.latencyTargetMs = intent->latencyTargetMs.value_or(targetFor(r, plan.privacy, pol.latency));
    r.estLatencyMs = expectedMs;
    if (auto s = live.latency.find(r.key());
        s != live.latency.end() && s->second.count >= live.minSamplesForLiveP95) {
      r.estLatencyMs = s->second.p95Ms;
      r.p50Ms = s->second.p50Ms;
      r.latencyFromLive = true;
    }
    if (drop.empty()) {
      rep.kept = true;  // why: reasonOf, when someone asks
      kept.push_back(r);
    } else {
      rep.reason = drop;
    }
    plan.candidates.push_back(std::move(rep));
  }

  // Rank: within target before over target; hybrid puts API routes before the
  // local fallback; otherwise the operator's order in intents.yml stands.
  auto rank = [&](const Route& r) {
    int overTarget = r.estLatencyMs > r.latencyTargetMs ? 1 : 0;
    int hybridLocal = (plan.privacy == PrivacyMode::kHybrid && r.local) ? 1 : 0;
    return std::pair(overTarget, hybridLocal);
  };
  std::stable_sort(kept.begin(), kept.end(),
                   [&](const Route& a, const Route& b) { return rank(a) < rank(b); });
  plan.routes = std::move(kept);

  if (plan.routes.empty()) {
    // Say why in the message too: clients often show nothing else.
    std::string why;
    for (auto& c : plan.candidates) {
      why += (why.empty() ? "" : "; ") + c.route.target + ": " + c.reason;
    }
    auto expl = toJson(plan);
    return fail(ErrorCode::kNoRoute,
                "no route for intent '" + intent->name + "' satisfies the policy (" + why + ")",
                json::object{{"candidates", expl.at("candidates")}});
  }
  return plan;
}

json::object toJson(const Route& r) {
  json::object o({{"kind", policy::routeKindName(r.kind)},
                  {"target", r.target},
                  {"local", r.local},
                  {"estCostUsd", r.estCostUsd},
                  {"estLatencyMs", r.estLatencyMs},
                  {"latencySource", r.latencyFromLive ? "live" : "declared"},
                  {"latencyTargetMs", r.latencyTargetMs}},
                 15);  // room for every key below and a candidate's two: no rehash
  if (r.latencyFromLive) o["p50Ms"] = r.p50Ms;
  if (r.kind == RouteKind::kModel) {
    o["provider"] = r.provider;
    o["modelType"] = r.modelType;
    o["maxCostUsd"] = r.maxCostUsd;
    o["maxOutputTokens"] = r.maxOutputTokens;
    o["priceInPerMTok"] = r.priceInPerMTok;
    o["priceOutPerMTok"] = r.priceOutPerMTok;
  }
  return o;
}

std::string reasonOf(const CandidateReport& c, double budgetUsd) {
  return c.kept ? keptReason(toJson(c.route), budgetUsd) : c.reason;
}

namespace {
json::object planJson(const Plan& p, bool full) {
  json::array routes;
  routes.reserve(p.routes.size());
  for (auto& r : p.routes) routes.push_back(toJson(r));
  // Compact: the candidates only when they are not `routes`, each kept
  // (plan_json.h rebuilds them).
  bool derivable = !full && p.candidates.size() == p.routes.size();
  for (size_t i = 0; derivable && i < p.candidates.size(); ++i) {
    const Route& c = p.candidates[i].route;
    derivable =
        p.candidates[i].kept && c.kind == p.routes[i].kind && c.target == p.routes[i].target;
  }
  json::object out({{"intent", p.intent},
                    {"privacy", policy::privacyName(p.privacy)},
                    {"budgetUsd", p.budgetUsd},
                    {"routes", std::move(routes)}},
                   7);
  if (!derivable) {
    json::array cands;
    cands.reserve(p.candidates.size());
    for (auto& c : p.candidates) {
      auto o = toJson(c.route);
      o["kept"] = c.kept;
      o["reason"] = c.kept ? keptReason(o, p.budgetUsd) : c.reason;
      cands.push_back(std::move(o));
    }
    out["candidates"] = std::move(cands);
  }
  if (full && !p.routes.empty()) out["primary"] = out.at("routes").as_array().front();
  if (!p.redactModule.empty())
    out["redaction"] = {{"module", p.redactModule}, {"rehydrate", p.rehydrate}};
  return out;
}
}  // namespace

json::object toJson(const Plan& p) {
  return planJson(p, true);
}

json::object storedJson(const Plan& p) {
  return planJson(p, false);
}

}  // namespace aion::router
