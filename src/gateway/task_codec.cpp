#include "gateway/task_codec.h"

#include <boost/json.hpp>
#include <set>

#include "common/ids.h"
#include "router/plan_json.h"

namespace aion::gateway {
namespace json = boost::json;

// Parses the submit body shared by REST (and later WebSocket/gRPC).
Result<control::SubmitRequest> parseSubmit(const json::object& body, Principal who) {
  static const std::set<std::string> kFields{"schemaVersion", "intent",    "params",
                                             "privacy",       "budgetUsd", "timeoutMs"};
  json::array unknown;
  for (auto& [k, _] : body)
    if (!kFields.count(std::string(k))) unknown.push_back(json::string(k));
  if (!unknown.empty())
    return fail(ErrorCode::kInvalidRequest, "unknown field(s) in request body",
                {{"fields", unknown}});
  if (auto* v = body.if_contains("schemaVersion")) {
    if (!v->is_string() || v->as_string() != "1.0")
      return fail(ErrorCode::kInvalidRequest, "schemaVersion must be \"1.0\"");
  }
  control::SubmitRequest req;
  req.principal = std::move(who);
  auto* intent = body.if_contains("intent");
  if (!intent || !intent->is_string() || intent->as_string().empty())
    return fail(ErrorCode::kInvalidRequest, "intent is required and must be a non-empty string");
  if (intent->as_string().size() > 64)
    return fail(ErrorCode::kInvalidRequest, "intent name is too long");
  req.intent = std::string(intent->as_string());
  auto* params = body.if_contains("params");
  if (!params) return fail(ErrorCode::kInvalidRequest, "params is required (a JSON object)");
  if (!params->is_object()) return fail(ErrorCode::kInvalidRequest, "params must be a JSON object");
  req.params = *params;
  if (auto* p = body.if_contains("privacy")) {
    auto mode = p->is_string() ? policy::parsePrivacy(p->as_string()) : std::nullopt;
    if (!mode)
      return fail(ErrorCode::kInvalidRequest, "privacy must be local-only, hybrid or allow-api");
    req.privacy = mode;
  }
  if (auto* b = body.if_contains("budgetUsd")) {
    if (!b->is_number()) return fail(ErrorCode::kInvalidRequest, "budgetUsd must be a number");
    req.budgetUsd = b->to_number<double>();
  }
  if (auto* t = body.if_contains("timeoutMs")) {
    if (!t->is_int64()) return fail(ErrorCode::kInvalidRequest, "timeoutMs must be an integer");
    if (t->as_int64() <= 0 || t->as_int64() > 86400000)
      return fail(ErrorCode::kInvalidRequest, "timeoutMs out of range");
    req.timeoutMs = static_cast<int>(t->as_int64());
  }
  return req;
}

json::object taskJson(const store::Task& t) {
  std::string base = "/v1/tasks/" + t.id;
  json::object timings{
      {"createdAt", formatTimeMs(t.createdMs)},
      {"startedAt", t.startedMs ? json::value(formatTimeMs(t.startedMs)) : json::value(nullptr)},
      {"finishedAt",
       t.finishedMs ? json::value(formatTimeMs(t.finishedMs)) : json::value(nullptr)}};
  if (t.startedMs) timings["queueMs"] = t.startedMs - t.createdMs;
  if (t.finishedMs) {
    timings["totalMs"] = t.finishedMs - t.createdMs;
    if (t.startedMs) timings["runMs"] = t.finishedMs - t.startedMs;
    // What aionOS added: accepted to finished, minus time in modules and providers.
    timings["upstreamMs"] = static_cast<double>(t.upstreamUs) / 1000.0;
    timings["overheadMs"] = static_cast<double>(t.overheadUs) / 1000.0;
  }
  json::object out{
      {"taskId", t.id},
      {"status", store::statusName(t.status)},
      {"intent", t.intent},
      {"tenant", t.tenant},
      {"surface", t.surface.empty() ? json::value(nullptr) : json::value(t.surface)},
      {"traceId", t.traceId.empty() ? json::value(nullptr) : json::value(t.traceId)},
      {"route", router::planView(t.route)},
      {"result", t.result},
      {"error", t.error},
      {"cost", {{"usd", t.costUsd}, {"estimated", t.costEstimated}}},
      {"attempts", t.attempts},
      {"cancelRequested", t.cancelRequested},
      {"timings", timings},
      {"links", {{"self", base}, {"stream", "/v1/stream/" + t.id}, {"cancel", base + "/cancel"}}}};
  if (!t.traceState.empty()) out["traceState"] = t.traceState;
  return out;
}

json::object eventJson(const store::Event& e) {
  return {{"taskId", e.taskId},
          {"seq", e.seq},
          {"type", e.type},
          {"ts", formatTimeMs(e.tsMs)},
          {"data", router::eventDataView(e)}};
}

}  // namespace aion::gateway
