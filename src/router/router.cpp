#include "router/router.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace aion::router {
namespace json = boost::json;
namespace {

// Every route of every decision is explained: no ostringstream (its locale
// set-up cost more than the rest of the explanation).
std::string money(double usd) {
  char buf[400];  // the longest double in fixed notation with 6 decimals fits
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, usd, std::chars_format::fixed, 6);
  if (ec != std::errc()) return "0";
  if (std::find(buf, end, '.') != end) {  // 0.020000 -> 0.02, 3.000000 -> 3.0
    while (end[-1] == '0') --end;
    if (end[-1] == '.') *end++ = '0';
  }
  return std::string(buf, end);
}

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
                                                  money(pol.budget.hardCapUsd) + " USD");
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
      drop = "estimated cost " + money(r.estCostUsd) + " USD exceeds budget " +
             money(plan.budgetUsd) + " USD";
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
      rep.kept = true;
      // append(), not operator+: GCC 12 warns falsely (-Wrestrict) on the chain.
      std::string why;
      why.append("est. cost ").append(money(r.estCostUsd)).append(" USD within budget ");
      why.append(money(plan.budgetUsd)).append(" USD; ");
      if (r.latencyFromLive)
        why.append("live P50 ").append(std::to_string(std::lround(r.p50Ms))).append(" ms, ");
      why.append("est. P95 ").append(std::to_string(std::lround(r.estLatencyMs))).append(" ms (");
      why.append(r.latencyFromLive ? "live" : "declared").append(") vs target ");
      why.append(std::to_string(r.latencyTargetMs)).append(" ms");
      if (r.estLatencyMs > r.latencyTargetMs) why.append(", over target: ranked down");
      rep.reason = std::move(why);
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

json::object toJson(const Plan& p) {
  json::array routes, cands;
  for (auto& r : p.routes) routes.push_back(toJson(r));
  for (auto& c : p.candidates) {
    auto o = toJson(c.route);
    o["kept"] = c.kept;
    o["reason"] = c.reason;
    cands.push_back(std::move(o));
  }
  json::object out({{"intent", p.intent},
                    {"privacy", policy::privacyName(p.privacy)},
                    {"budgetUsd", p.budgetUsd},
                    {"routes", std::move(routes)},
                    {"candidates", std::move(cands)}},
                   7);
  if (!p.routes.empty()) out["primary"] = toJson(p.routes.front());
  if (!p.redactModule.empty())
    out["redaction"] = {{"module", p.redactModule}, {"rehydrate", p.rehydrate}};
  return out;
}

}  // namespace aion::router
