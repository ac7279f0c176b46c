#include "control/model_runner.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <cmath>
#include <map>

#include "common/async.h"
#include "common/ids.h"
#include "common/json_text.h"
#include "telemetry/trace.h"
#include "telemetry/tracer.h"

namespace aion::control {
namespace asio = boost::asio;
namespace json = boost::json;
using store::TaskStatus;

namespace {

// Chat messages from a task's params: `messages` in OpenAI's shape (role,
// content, name, tool_calls, tool_call_id; text-only part arrays joined into
// a string), else one user message from `prompt` or `text`.
json::array chatMessages(const json::object& params) {
  if (auto* m = params.if_contains("messages"); m && m->is_array()) {
    json::array out;
    for (auto& v : m->as_array()) {
      if (!v.is_object()) continue;
      auto& o = v.as_object();
      json::object msg{{"role", o.contains("role") ? o.at("role") : json::value("user")}};
      auto* c = o.if_contains("content");
      if (c && (c->is_string() || c->is_null())) {
        msg["content"] = *c;
      } else if (c && c->is_array()) {
        std::string text;
        bool textOnly = true;
        for (auto& part : c->as_array()) {
          if (!part.is_object()) continue;
          auto* type = part.as_object().if_contains("type");
          if (type && type->is_string() && type->as_string() != "text") textOnly = false;
          if (auto* tx = part.as_object().if_contains("text"); tx && tx->is_string())
            text.append(text.empty() ? "" : "\n").append(tx->as_string());
        }
        if (textOnly)
          msg["content"] = text;
        else
          msg["content"] = *c;  // images and the like: the provider decides (checkChat)
      } else {
        msg["content"] = "";
      }
      for (const char* k : {"name", "tool_calls", "tool_call_id"})
        if (auto* x = o.if_contains(k); x && !x->is_null()) msg[k] = *x;
      out.push_back(std::move(msg));
    }
    if (!out.empty()) return out;
  }
  for (const char* k : {"prompt", "text"})
    if (auto* tx = params.if_contains(k); tx && tx->is_string())
      return {json::object{{"role", "user"}, {"content", *tx}}};
  return {json::object{{"role", "user"}, {"content", jsonText(params)}}};
}

double number(const json::object& o, std::string_view k, double dflt = 0) {
  auto* v = o.if_contains(k);
  if (!v) return dflt;
  if (v->is_double()) return v->as_double();
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  if (v->is_uint64()) return static_cast<double>(v->as_uint64());
  return dflt;
}

std::vector<BudgetScope> budgetScopes(const policy::Policies& p, const store::Task& t) {
  std::vector<BudgetScope> out;
  auto add = [&](const std::map<std::string, policy::PeriodBudget>& m, const std::string& id,
                 BudgetScope::Kind kind) {
    auto it = m.find(id);
    if (it == m.end()) it = m.find("*");
    if (it == m.end()) return;
    if (it->second.dayUsd) out.push_back({kind, id, "day", store::toNanoUsd(*it->second.dayUsd)});
    if (it->second.monthUsd)
      out.push_back({kind, id, "month", store::toNanoUsd(*it->second.monthUsd)});
  };
  add(p.tenantBudgets, t.tenant, BudgetScope::Kind::kTenant);
  add(p.keyBudgets, t.keyId, BudgetScope::Kind::kKey);
  return out;
}

// Puts originals back for placeholders of a redaction map, as text streams
// by: a "[" that may still become a placeholder is held until it resolves.
class Rehydrator {
 public:
  explicit Rehydrator(const json::object* map) : map_(map) {}
  std::string feed(std::string_view in) {
    if (!map_) return std::string(in);
    held_.append(in);
    std::string out;
    size_t i = 0;
    while (i < held_.size()) {
      size_t open = held_.find('[', i);
      if (open == std::string::npos) {
        out.append(held_, i);
        i = held_.size();
        break;
      }
      out.append(held_, i, open - i);
      size_t close = held_.find(']', open);
      if (close == std::string::npos) {
        if (held_.size() - open <= kMaxToken) break;  // may still complete
        out.push_back('[');
        i = open + 1;
        continue;
      }
      if (close - open > kMaxToken) {
        out.push_back('[');
        i = open + 1;
        continue;
      }
      auto token = std::string_view(held_).substr(open, close - open + 1);
      auto* v = map_->if_contains(token);
      if (v && v->is_string())
        out.append(v->as_string());
      else
        out.append(token);
      i = close + 1;
    }
    held_.erase(0, i);
    return out;
  }
  std::string flush() { return std::exchange(held_, {}); }

 private:
  static constexpr size_t kMaxToken = 24;
  const json::object* map_;
  std::string held_;
};

}  // namespace

asio::awaitable<Result<json::value>> runModel(Orchestrator& o, const std::shared_ptr<ActiveTask>& t,
                                              const store::Task& task, const json::object& route,
                                              size_t routeIndex, int64_t remainingMs, Spend& spend,
                                              bool& streamed) {
  const auto& d = o.deps();
  std::string model(route.at("target").as_string());
  std::string provider =
      route.contains("provider") ? std::string(route.at("provider").as_string()) : std::string();
  std::string key = "model:" + model;
  double priceIn = number(route, "priceInPerMTok"), priceOut = number(route, "priceOutPerMTok");
  int maxOut = static_cast<int>(number(route, "maxOutputTokens", 256));
  bool embedding = route.contains("modelType") && route.at("modelType").as_string() == "embedding";
  // Read in place; a redaction masks a copy.
  const json::object empty;
  const json::object* paramsIn = task.params.is_object() ? &task.params.as_object() : &empty;
  json::object masked;

  // Hybrid privacy: a local module masks PII before any remote provider sees
  // the text; if it fails, the provider is not called.
  const json::object* redaction = nullptr;
  if (task.route.is_object())
    if (auto* rd = task.route.as_object().if_contains("redaction"); rd && rd->is_object())
      redaction = &rd->as_object();
  bool remote =
      !(route.contains("local") && route.at("local").is_bool() && route.at("local").as_bool());
  json::object redactMap;
  json::value redactCounts;
  bool rehydrate = false;
  if (redaction && remote) {
    std::string module(redaction->at("module").as_string());
    rehydrate = redaction->contains("rehydrate") && redaction->at("rehydrate").as_bool();
    json::object in;
    for (const char* k : {"text", "messages"})
      if (auto* v = paramsIn->if_contains(k)) in[k] = *v;
    if (in.empty()) in["text"] = jsonText(*paramsIn);
    std::string input = jsonText(in);
    modhost::CallOptions opts{.timeoutMs = static_cast<int>(remainingMs), .cancel = &t->cancel};
    auto red = co_await d.modules.callAsync(module, input, opts, d.moduleExec);
    modhost::countModuleCall(d.metrics, module, red);
    if (!red || !red->output.is_object() || !red->output.as_object().contains("map"))
      co_return fail(
          ErrorCode::kModuleFailed,
          "redaction by module '" + module + "' failed, so provider '" + provider +
              "' was not called: " + (red ? "no map in its output" : red.error().message));
    auto& ro = red->output.as_object();
    redactMap = ro.at("map").is_object() ? ro.at("map").as_object() : json::object();
    redactCounts = ro.contains("counts") ? ro.at("counts") : json::value(nullptr);
    masked = *paramsIn;
    for (const char* k : {"text", "messages"})
      if (auto* v = ro.if_contains(k)) masked[k] = *v;
    if (!masked.contains("messages") && !masked.contains("text") && ro.contains("text"))
      masked["text"] = ro.at("text");
    paramsIn = &masked;
    o.progress(t, {{"redacted", json::object{{"route", key},
                                             {"module", module},
                                             {"counts", redactCounts},
                                             {"placeholders", redactMap.size()}}}});
  }

  const json::object& params = *paramsIn;

  // Reserve the most this call can cost before it starts.
  auto ps = d.policies.current();
  std::string reservation =
      task.id + ":" + std::to_string(t->attempt) + ":" + std::to_string(routeIndex);
  int64_t maxNano = store::toNanoUsd(number(route, "maxCostUsd"));
  auto scopes = budgetScopes(ps->policies, task);
  auto reserved = co_await d.budgets.reserveAsync(reservation, task.tenant, task.keyId,
                                                  std::move(scopes), maxNano, nowMs());
  if (!reserved) co_return std::unexpected(reserved.error());

  auto started = std::chrono::steady_clock::now();
  providers::CallControl ctl;
  ctl.stop = t->stop.get_token();
  ctl.deadline = providers::Clock::now() + std::chrono::milliseconds(remainingMs);
  // The provider call's span: its id goes upstream as the parent of the provider's spans.
  std::string callSpan = telemetry::newSpanId();
  int64_t callStartNs = telemetry::recording(t->span.sampled) ? telemetry::unixNanos() : 0;
  if (!task.traceId.empty()) {
    ctl.traceparent = telemetry::traceparent(task.traceId, callSpan, t->span.sampled);
    ctl.tracestate = task.traceState;
  }
  ctl.onRetry = [&o, t, key](const json::object& info) {
    o.progress(t, {{"retry", json::object{{"route", key}, {"retry", info}}}});
  };

  // Each fragment becomes a delta event: committed (not fsynced) in order,
  // then pushed to followers. Group commit batches a fast stream's deltas.
  auto text = std::make_shared<std::string>();
  // One rehydrator per choice (n > 1): a masked token ([EMAIL_1]) may straddle fragments.
  auto hydrate = std::make_shared<std::map<int64_t, Rehydrator>>();
  const json::object* hydrateMap = rehydrate ? &redactMap : nullptr;
  auto deltaIndex = std::make_shared<int64_t>(0);
  auto sendDelta = [&o, t, key, deltaIndex](std::string piece, int64_t choice,
                                            const providers::Delta* more) {
    if (piece.empty() && (!more || (!more->toolCalls && !more->logprobs))) return;
    json::object d{{"route", key}, {"index", (*deltaIndex)++}, {"text", std::move(piece)}};
    if (choice) d["choice"] = choice;
    if (more && more->toolCalls) d["toolCalls"] = *more->toolCalls;
    if (more && more->logprobs) d["logprobs"] = *more->logprobs;
    o.progress(t, {{"delta", std::move(d)}});
  };
  auto onDelta = [text, hydrate, hydrateMap, sendDelta, &streamed](const providers::Delta& piece) {
    streamed = true;
    text->append(piece.text);
    auto& h = hydrate->try_emplace(piece.choice, hydrateMap).first->second;
    sendDelta(h.feed(piece.text), piece.choice, &piece);
  };

  providers::Usage usage;
  Result<json::value> out = fail(ErrorCode::kInternal, "no call made");
  if (embedding) {
    std::vector<std::string> inputs;
    if (auto* in = params.if_contains("input"); in && in->is_array()) {
      for (auto& v : in->as_array())
        if (v.is_string()) inputs.emplace_back(v.as_string());
    } else if (auto* s1 = params.if_contains("input"); s1 && s1->is_string()) {
      inputs.emplace_back(s1->as_string());
    } else if (auto* tx = params.if_contains("text"); tx && tx->is_string()) {
      inputs.emplace_back(tx->as_string());
    }
    auto r = co_await d.providers.embed(model, std::move(inputs), ctl);
    if (r) {
      usage = r->usage;
      out = json::object{{"embeddings", r->vectors}, {"model", r->model}, {"provider", provider}};
    } else {
      out = std::unexpected(r.error());
    }
  } else {
    providers::ChatCall call;
    call.messages = chatMessages(params);
    call.maxTokens = maxOut;
    if (auto* mt = params.if_contains("max_tokens"); mt && mt->is_int64() && mt->as_int64() > 0)
      call.maxTokens = static_cast<int>(std::min<int64_t>(mt->as_int64(), maxOut));
    if (params.contains("temperature")) call.temperature = number(params, "temperature");
    if (auto* st = params.if_contains("stream"); st && st->is_bool()) call.stream = st->as_bool();
    for (auto k : providers::kChatOptions)
      if (auto* v = params.if_contains(k); v && !v->is_null()) call.options[k] = *v;
    auto r = co_await d.providers.chat(model, std::move(call), onDelta, ctl);
    for (auto& [choice, h] : *hydrate) sendDelta(h.flush(), choice, nullptr);
    auto restore = [&](const std::string& s) {
      if (!rehydrate) return s;
      Rehydrator whole(&redactMap);
      return whole.feed(s) + whole.flush();
    };
    if (r) {
      usage = r->usage;
      std::string answer = restore(r->text);
      json::object message{{"role", "assistant"}, {"content", answer}};
      if (!r->toolCalls.empty()) message["tool_calls"] = r->toolCalls;
      json::object res{{"text", answer},
                       {"message", std::move(message)},
                       {"finishReason", r->finishReason},
                       {"model", r->model},
                       {"provider", provider}};
      if (!r->toolCalls.empty()) res["toolCalls"] = std::move(r->toolCalls);
      if (!r->logprobs.is_null()) res["logprobs"] = std::move(r->logprobs);
      if (!r->choices.empty()) {
        for (auto& c : r->choices)
          if (auto* m = c.as_object().if_contains("message"); m && m->is_object())
            if (auto* ct = m->as_object().if_contains("content"); ct && ct->is_string())
              *ct = restore(std::string(ct->as_string()));
        res["choices"] = std::move(r->choices);
      }
      out = std::move(res);
    } else {
      out = std::unexpected(r.error());
      if (!text->empty()) {
        // Cut mid-stream or canceled: bill what was generated, as an estimate.
        usage.promptTokens = providers::estimateTokens(chatMessages(params));
        usage.completionTokens = providers::estimateTokens(*text);
        usage.promptEstimated = usage.completionEstimated = true;
      }
    }
  }
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  if (out) d.latency.record(key, ms);

  int64_t costNano =
      static_cast<int64_t>(std::llround((static_cast<double>(usage.promptTokens) * priceIn +
                                         static_cast<double>(usage.completionTokens) * priceOut) *
                                        1000.0));
  co_await d.budgets.settleAsync(reservation, costNano, nowMs());
  if (usage.promptTokens || usage.completionTokens) {
    spend.usage.push_back(store::UsageRecord{.id = reservation,
                                             .taskId = task.id,
                                             .tsMs = nowMs(),
                                             .tenant = task.tenant,
                                             .keyId = task.keyId,
                                             .intent = task.intent,
                                             .provider = provider,
                                             .model = model,
                                             .promptTokens = usage.promptTokens,
                                             .completionTokens = usage.completionTokens,
                                             .costNanoUsd = costNano,
                                             .estimated = usage.estimated()});
    d.metrics.spend(provider, model, task.tenant, usage.promptTokens, usage.completionTokens,
                    store::fromNanoUsd(costNano));
    spend.usd += store::fromNanoUsd(costNano);
    spend.estimated = spend.estimated || usage.estimated();
  }
  if (telemetry::recording(t->span.sampled)) {
    // OpenTelemetry GenAI conventions: "{operation} {model}", gen_ai.* attributes.
    std::string op = embedding ? "embeddings" : "chat";
    telemetry::Span s{.traceId = task.traceId,
                      .spanId = callSpan,
                      .parentSpanId = t->spanId,
                      .traceState = task.traceState,
                      .name = op + " " + model,
                      .kind = telemetry::SpanKind::kClient,
                      .startNs = callStartNs,
                      .endNs = telemetry::unixNanos()};
    s.attributes = {{"gen_ai.operation.name", op},
                    {"gen_ai.system", provider},
                    {"gen_ai.request.model", model},
                    {"gen_ai.usage.input_tokens", usage.promptTokens},
                    {"gen_ai.usage.output_tokens", usage.completionTokens},
                    {"aion.route", key},
                    {"aion.cost_usd", store::fromNanoUsd(costNano)}};
    if (!out) s.error = out.error().message;
    telemetry::tracer()->record(std::move(s));
  }
  if (out && out->is_object()) {
    out->as_object()["usage"] = {{"promptTokens", usage.promptTokens},
                                 {"completionTokens", usage.completionTokens},
                                 {"totalTokens", usage.promptTokens + usage.completionTokens},
                                 {"estimated", usage.estimated()}};
    out->as_object()["costUsd"] = store::fromNanoUsd(costNano);
    if (redaction && remote)
      out->as_object()["redaction"] = {{"module", redaction->at("module")},
                                       {"counts", redactCounts},
                                       {"rehydrated", rehydrate},
                                       {"map", redactMap}};
  }
  co_return out;
}

}  // namespace aion::control
