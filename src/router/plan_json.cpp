#include "router/plan_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace aion::router {
namespace json = boost::json;
namespace {

double number(const json::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  return v && v->is_number() ? v->to_number<double>() : 0;
}

const json::array* routesOf(const json::object& plan) {
  auto* r = plan.if_contains("routes");
  return r && r->is_array() ? &r->as_array() : nullptr;
}

// `plan` with what its compact form leaves out, in toJson(Plan)'s key order:
// the candidates (when `candidates`) and the primary before the redaction.
json::object withDerived(const json::object& plan, bool candidates) {
  const json::array* routes = routesOf(plan);
  bool addCandidates = candidates && routes && !plan.contains("candidates");
  bool addPrimary = routes && !routes->empty() && !plan.contains("primary");
  json::object out(plan.size() + 2);
  auto derive = [&] {
    if (addCandidates) {
      double budget = number(plan, "budgetUsd");
      json::array cands;
      cands.reserve(routes->size());
      for (auto& r : *routes) {
        if (!r.is_object()) continue;
        json::object c(r.as_object(), r.as_object().storage());
        c["kept"] = true;
        c["reason"] = keptReason(r.as_object(), budget);
        cands.push_back(std::move(c));
      }
      out["candidates"] = std::move(cands);
    }
    if (addPrimary) out["primary"] = routes->front();
    addCandidates = addPrimary = false;
  };
  for (auto& [k, v] : plan) {
    if (k == "redaction") derive();
    out.emplace(k, v);
  }
  derive();
  return out;
}

}  // namespace

std::string usdText(double usd) {
  char buf[400];  // the longest double in fixed notation with 6 decimals fits
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, usd, std::chars_format::fixed, 6);
  if (ec != std::errc()) return "0";
  if (std::find(buf, end, '.') != end) {  // 0.020000 -> 0.02, 3.000000 -> 3.0
    while (end[-1] == '0') --end;
    if (end[-1] == '.') *end++ = '0';
  }
  return std::string(buf, end);
}

std::string keptReason(const json::object& route, double budgetUsd) {
  auto* src = route.if_contains("latencySource");
  bool live = src && src->is_string() && src->as_string() == "live";
  double estLatency = number(route, "estLatencyMs");
  double target = number(route, "latencyTargetMs");
  // append(), not operator+: GCC 12 warns falsely (-Wrestrict) on the chain.
  std::string why;
  why.append("est. cost ").append(usdText(number(route, "estCostUsd")));
  why.append(" USD within budget ").append(usdText(budgetUsd)).append(" USD; ");
  if (live)
    why.append("live P50 ")
        .append(std::to_string(std::lround(number(route, "p50Ms"))))
        .append(" ms, ");
  why.append("est. P95 ").append(std::to_string(std::lround(estLatency))).append(" ms (");
  why.append(live ? "live" : "declared").append(") vs target ");
  why.append(std::to_string(std::lround(target))).append(" ms");
  if (estLatency > target) why.append(", over target: ranked down");
  return why;
}

json::value planView(const json::value& stored) {
  if (!stored.is_object()) return stored;
  return withDerived(stored.as_object(), true);
}

json::value eventDataView(const store::Event& e) {
  if (e.type != "route" || !e.data.is_object()) return e.data;
  auto* plan = e.data.as_object().if_contains("plan");
  if (!plan || !plan->is_object() || plan->as_object().contains("primary")) return e.data;
  json::object out = e.data.as_object();
  out["plan"] = withDerived(plan->as_object(), false);
  return out;
}

}  // namespace aion::router
