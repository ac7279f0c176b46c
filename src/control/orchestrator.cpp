#include "control/orchestrator.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "common/ids.h"

namespace aion::control {
namespace json = boost::json;
using store::EventDraft;
using store::TaskStatus;

namespace {

json::object errorJson(const Error& e) {
  json::object o{{"code", errorCodeName(e.code)}, {"message", e.message}};
  if (!e.details.empty()) o["details"] = e.details;
  return o;
}

json::object doneData(TaskStatus s, int64_t createdMs, int64_t startedMs, int64_t finishedMs) {
  return {{"status", store::statusName(s)},
          {"queueMs", startedMs ? startedMs - createdMs : finishedMs - createdMs},
          {"runMs", startedMs ? finishedMs - startedMs : 0}};
}

}  // namespace

Orchestrator::Orchestrator(Deps deps, Options opts) : d_(deps), opts_(opts) {
  for (int i = 0; i < opts_.workers; ++i) workers_.emplace_back([this] { workerLoop(); });
}

Orchestrator::~Orchestrator() {
  stop();
}

void Orchestrator::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;  // running tasks finish (each is bounded by its deadline)
  }
  cv_.notify_all();
  for (auto& w : workers_)
    if (w.joinable()) w.join();
}

bool Orchestrator::tryReserve() {
  std::lock_guard lock(mu_);
  if (stopping_ || queue_.size() + reserved_ >= opts_.queueMax) return false;
  ++reserved_;
  return true;
}

void Orchestrator::unreserve() {
  std::lock_guard lock(mu_);
  --reserved_;
}

void Orchestrator::enqueueReserved(std::string taskId) {
  {
    std::lock_guard lock(mu_);
    --reserved_;
    queue_.push_back(std::move(taskId));
    d_.metrics.queueDepth().Set(static_cast<double>(queue_.size()));
  }
  cv_.notify_one();
}

void Orchestrator::enqueueRecovered(std::string taskId) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(taskId));
    d_.metrics.queueDepth().Set(static_cast<double>(queue_.size()));
  }
  cv_.notify_one();
}

bool Orchestrator::cancelRunning(const std::string& taskId) {
  std::lock_guard lock(mu_);
  auto it = running_.find(taskId);
  if (it == running_.end()) return false;
  it->second->store(true);
  return true;
}

Result<bool> Orchestrator::transition(const store::Transition& t,
                                      const std::vector<EventDraft>& evs) {
  auto r = d_.store.transition(t, evs);
  if (!r) return std::unexpected(r.error());
  if (!*r) return false;
  for (auto& e : **r) d_.bus.publish(e);
  return true;
}

void Orchestrator::workerLoop() {
  for (;;) {
    std::string id;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;  // queued tasks stay stored and are recovered at start-up
      id = std::move(queue_.front());
      queue_.pop_front();
      d_.metrics.queueDepth().Set(static_cast<double>(queue_.size()));
    }
    try {
      runTask(id);
    } catch (const std::exception& e) {
      spdlog::error("task {}: worker error: {}", id, e.what());
    }
  }
}

void Orchestrator::finish(const store::Task& task, TaskStatus to, std::vector<EventDraft> evs,
                          std::optional<json::value> result, std::optional<json::value> error,
                          const Spend& spend) {
  int64_t now = nowMs();
  evs.push_back(EventDraft{"done", doneData(to, task.createdMs, task.startedMs, now)});
  store::Transition t{.taskId = task.id, .from = store::kActiveMask, .to = to};
  t.finishedMs = now;
  t.result = std::move(result);
  t.error = std::move(error);
  if (spend.usd > 0 || spend.estimated) {
    t.costUsd = spend.usd;
    t.costEstimated = spend.estimated;
  }
  auto r = transition(t, evs);
  if (!r) spdlog::error("task {}: cannot store final state: {}", task.id, r.error().message);
  if (r && *r)
    d_.metrics.taskFinished(task.intent, std::string(store::statusName(to)),
                            (now - task.createdMs) / 1000.0);
}

void Orchestrator::runTask(const std::string& id) {
  auto got = d_.store.get(id);
  if (!got) {
    spdlog::error("task {}: store unavailable: {}", id, got.error().message);
    return;
  }
  if (!*got || store::isTerminal((*got)->status)) return;
  store::Task task = std::move(**got);

  if (task.cancelRequested) {
    finish(task, TaskStatus::kCanceled, {}, std::nullopt, std::nullopt);
    return;
  }
  if (task.deadlineMs && nowMs() >= task.deadlineMs) {
    Error e(ErrorCode::kTimeout, "task expired before a worker was free");
    finish(task, TaskStatus::kExpired, {{"error", json::object{{"error", errorJson(e)}}}},
           std::nullopt, errorJson(e));
    return;
  }

  auto cancel = std::make_shared<std::atomic<bool>>(false);
  {
    std::lock_guard lock(mu_);
    running_[id] = cancel;
  }
  d_.metrics.runningTasks().Increment();
  struct Cleanup {
    Orchestrator* o;
    std::string id;
    ~Cleanup() {
      std::lock_guard lock(o->mu_);
      o->running_.erase(id);
      o->d_.metrics.runningTasks().Decrement();
    }
  } cleanup{this, id};

  const json::array* routes = nullptr;
  if (task.route.is_object()) {
    if (auto* r = task.route.as_object().if_contains("routes"); r && r->is_array())
      routes = &r->as_array();
  }
  task.startedMs = nowMs();
  task.attempts += 1;
  std::string firstKey = routes && !routes->empty()
                             ? std::string(routes->at(0).at("kind").as_string()) + ":" +
                                   std::string(routes->at(0).at("target").as_string())
                             : "";
  store::Transition toRunning{
      .taskId = id,
      .from = store::maskOf(TaskStatus::kQueued) | store::maskOf(TaskStatus::kRouted),
      .to = TaskStatus::kRunning};
  toRunning.startedMs = task.startedMs;
  toRunning.attempts = task.attempts;
  auto moved = transition(
      toRunning,
      {{"status",
        json::object{{"status", "running"}, {"route", firstKey}, {"attempt", task.attempts}}}});
  if (!moved || !*moved) return;  // canceled meanwhile, or store down (recovered at restart)
  if (cancel->load()) {
    finish(task, TaskStatus::kCanceled, {}, std::nullopt, std::nullopt);
    return;
  }

  std::string input = json::serialize(task.params);
  Spend spend;
  bool streamed = false;
  json::array failures;
  std::optional<Error> last;
  size_t n = routes ? routes->size() : 0;
  for (size_t i = 0; i < n; ++i) {
    const auto& r = routes->at(i).as_object();
    std::string kind(r.at("kind").as_string());
    std::string target(r.at("target").as_string());
    std::string key = kind + ":" + target;
    int64_t remaining = task.deadlineMs ? task.deadlineMs - nowMs() : 30000;
    Result<json::value> out =
        fail(ErrorCode::kTimeout, "task deadline reached before route " + key);
    if (remaining > 0) {
      if (kind == "module") {
        auto call = d_.modules.call(
            target, input, {.timeoutMs = static_cast<int>(remaining), .cancel = cancel.get()});
        double ms = call ? call->micros / 1000.0 : 0;
        d_.metrics.moduleCall(target, call.has_value(), ms / 1000.0);
        if (call) {
          d_.latency.record(key, ms);
          out = std::move(call->output);
        } else {
          out = std::unexpected(call.error());
        }
      } else {
        out = runModel(task, r, i, *cancel, remaining, spend, streamed);
      }
    }
    if (out) {
      finish(task, TaskStatus::kSucceeded,
             {{"result", json::object{{"route", key}, {"result", *out}}}}, *out, std::nullopt,
             spend);
      return;
    }
    last = out.error();
    if (last->code == ErrorCode::kCanceled || cancel->load()) {
      finish(task, TaskStatus::kCanceled, {}, std::nullopt, std::nullopt, spend);
      return;
    }
    bool deadlineHit = task.deadlineMs && nowMs() >= task.deadlineMs;
    // Text already streamed to the client cannot be taken back: no other route.
    bool retriable = last->code != ErrorCode::kInvalidParams && !deadlineHit && !streamed;
    json::object attempt{{"route", key}, {"error", errorJson(*last)}};
    if (retriable && i + 1 < n)
      attempt["next"] = std::string(routes->at(i + 1).at("kind").as_string()) + ":" +
                        std::string(routes->at(i + 1).at("target").as_string());
    failures.push_back(attempt);
    if (!retriable || i + 1 == n) break;
    auto logged = transition(store::Transition{.taskId = id,
                                               .from = store::maskOf(TaskStatus::kRunning),
                                               .to = TaskStatus::kRunning,
                                               .progress = true},
                             {{"attempt", attempt}});
    if (!logged || !*logged) return;
  }
  if (!last) last = Error(ErrorCode::kNoRoute, "the plan has no routes");
  auto err = errorJson(*last);
  if (failures.size() > 1) err["attempts"] = failures;
  finish(task, TaskStatus::kFailed, {{"error", json::object{{"error", err}}}}, std::nullopt, err,
         spend);
}

namespace {

// Chat messages from a task's params: `messages` as given, else one user
// message from `prompt` or `text`.
json::array chatMessages(const json::object& params) {
  if (auto* m = params.if_contains("messages"); m && m->is_array()) {
    json::array out;
    for (auto& v : m->as_array()) {
      if (!v.is_object()) continue;
      auto& o = v.as_object();
      json::object msg{{"role", o.contains("role") ? o.at("role") : json::value("user")}};
      auto* c = o.if_contains("content");
      if (c && c->is_string()) {
        msg["content"] = *c;
      } else if (c && c->is_array()) {  // OpenAI content parts: keep the text ones
        std::string text;
        for (auto& part : c->as_array())
          if (part.is_object())
            if (auto* t = part.as_object().if_contains("text"); t && t->is_string())
              text.append(text.empty() ? "" : "\n").append(t->as_string());
        msg["content"] = text;
      } else {
        msg["content"] = "";
      }
      out.push_back(std::move(msg));
    }
    if (!out.empty()) return out;
  }
  for (const char* k : {"prompt", "text"})
    if (auto* t = params.if_contains(k); t && t->is_string())
      return {json::object{{"role", "user"}, {"content", *t}}};
  return {json::object{{"role", "user"}, {"content", json::serialize(params)}}};
}

double number(const json::object& o, std::string_view k, double dflt = 0) {
  auto* v = o.if_contains(k);
  if (!v) return dflt;
  if (v->is_double()) return v->as_double();
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  if (v->is_uint64()) return static_cast<double>(v->as_uint64());
  return dflt;
}

std::vector<store::BudgetScope> budgetScopes(const policy::Policies& p, const store::Task& t) {
  std::vector<store::BudgetScope> out;
  auto add = [&](const std::map<std::string, policy::PeriodBudget>& m, const std::string& id,
                 store::BudgetScope::Kind kind) {
    auto it = m.find(id);
    if (it == m.end()) it = m.find("*");
    if (it == m.end()) return;
    if (it->second.dayUsd) out.push_back({kind, id, "day", store::toNanoUsd(*it->second.dayUsd)});
    if (it->second.monthUsd)
      out.push_back({kind, id, "month", store::toNanoUsd(*it->second.monthUsd)});
  };
  add(p.tenantBudgets, t.tenant, store::BudgetScope::Kind::kTenant);
  add(p.keyBudgets, t.keyId, store::BudgetScope::Kind::kKey);
  return out;
}

// Puts originals back for placeholders of a redaction map, as text streams
// by: a "[" that may still become a placeholder is held until it resolves.
class Rehydrator {
 public:
  explicit Rehydrator(const json::object* map) : map_(map) {}
  std::string feed(std::string_view in) {
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
      auto* v = map_ ? map_->if_contains(token) : nullptr;
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

Result<json::value> Orchestrator::runModel(const store::Task& task, const json::object& route,
                                           size_t routeIndex, const std::atomic<bool>& cancel,
                                           int64_t remainingMs, Spend& spend, bool& streamed) {
  std::string model(route.at("target").as_string());
  std::string provider =
      route.contains("provider") ? std::string(route.at("provider").as_string()) : std::string();
  std::string key = "model:" + model;
  double priceIn = number(route, "priceInPerMTok"), priceOut = number(route, "priceOutPerMTok");
  int maxOut = static_cast<int>(number(route, "maxOutputTokens", 256));
  bool embedding = route.contains("modelType") && route.at("modelType").as_string() == "embedding";
  const json::object empty;
  json::object params = task.params.is_object() ? task.params.as_object() : empty;

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
      if (auto* v = params.if_contains(k)) in[k] = *v;
    if (in.empty()) in["text"] = json::serialize(params);
    auto red = d_.modules.call(module, json::serialize(in),
                               {.timeoutMs = static_cast<int>(remainingMs), .cancel = &cancel});
    d_.metrics.moduleCall(module, red.has_value(), red ? red->micros / 1e6 : 0);
    if (!red || !red->output.is_object() || !red->output.as_object().contains("map"))
      return fail(ErrorCode::kModuleFailed,
                  "redaction by module '" + module + "' failed, so provider '" + provider +
                      "' was not called: " + (red ? "no map in its output" : red.error().message));
    auto& ro = red->output.as_object();
    redactMap = ro.at("map").is_object() ? ro.at("map").as_object() : json::object();
    redactCounts = ro.contains("counts") ? ro.at("counts") : json::value(nullptr);
    for (const char* k : {"text", "messages"})
      if (auto* v = ro.if_contains(k)) params[k] = *v;
    if (!params.contains("messages") && !params.contains("text") && ro.contains("text"))
      params["text"] = ro.at("text");
    transition({.taskId = task.id,
                .from = store::maskOf(TaskStatus::kRunning),
                .to = TaskStatus::kRunning,
                .progress = true},
               {{"redacted", json::object{{"route", key},
                                          {"module", module},
                                          {"counts", redactCounts},
                                          {"placeholders", redactMap.size()}}}});
  }
  Rehydrator hydrate(rehydrate ? &redactMap : nullptr);

  // Reserve the most this call can cost before it starts.
  auto ps = d_.policies.current();
  auto scopes = budgetScopes(ps->policies, task);
  std::string reservation =
      task.id + ":" + std::to_string(task.attempts) + ":" + std::to_string(routeIndex);
  int64_t maxNano = store::toNanoUsd(number(route, "maxCostUsd"));
  if (auto st = d_.ledger.reserve(reservation, task.tenant, task.keyId, scopes, maxNano, nowMs());
      !st)
    return std::unexpected(st.error());

  auto started = std::chrono::steady_clock::now();
  providers::CallControl ctl;
  ctl.cancel = &cancel;
  ctl.deadline = providers::Clock::now() + std::chrono::milliseconds(remainingMs);
  ctl.onRetry = [&](const json::object& info) {
    transition({.taskId = task.id,
                .from = store::maskOf(TaskStatus::kRunning),
                .to = TaskStatus::kRunning,
                .progress = true},
               {{"retry", json::object{{"route", key}, {"retry", info}}}});
  };

  // Deltas become events, coalesced to one per ~25 ms so a fast stream does
  // not cost a store commit per token.
  std::string text, pending;
  int64_t deltaIndex = 0;
  auto lastFlush = std::chrono::steady_clock::now();
  auto flush = [&] {
    if (pending.empty()) return;
    transition(
        {.taskId = task.id,
         .from = store::maskOf(TaskStatus::kRunning),
         .to = TaskStatus::kRunning,
         .progress = true},
        {{"delta", json::object{{"route", key}, {"index", deltaIndex++}, {"text", pending}}}});
    pending.clear();
    lastFlush = std::chrono::steady_clock::now();
  };
  auto onDelta = [&](std::string_view d) {
    streamed = true;
    text.append(d);
    pending.append(hydrate.feed(d));
    if (std::chrono::steady_clock::now() - lastFlush >= std::chrono::milliseconds(25)) flush();
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
    } else if (auto* t = params.if_contains("text"); t && t->is_string()) {
      inputs.emplace_back(t->as_string());
    }
    auto r = d_.providers.embed(model, inputs, ctl);
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
    auto r = d_.providers.chat(model, call, onDelta, ctl);
    pending.append(hydrate.flush());
    flush();
    if (r) {
      usage = r->usage;
      std::string answer = r->text;
      if (rehydrate) {
        Rehydrator whole(&redactMap);
        answer = whole.feed(r->text) + whole.flush();
      }
      out = json::object{{"text", answer},
                         {"message", {{"role", "assistant"}, {"content", answer}}},
                         {"finishReason", r->finishReason},
                         {"model", r->model},
                         {"provider", provider}};
    } else {
      out = std::unexpected(r.error());
      if (!text.empty()) {
        // Cut mid-stream or canceled: bill what was generated, as an estimate.
        usage.promptTokens = providers::estimateTokens(call.messages);
        usage.completionTokens = providers::estimateTokens(text);
        usage.promptEstimated = usage.completionEstimated = true;
      }
    }
  }
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  if (out) d_.latency.record(key, ms);

  int64_t costNano =
      static_cast<int64_t>(std::llround((static_cast<double>(usage.promptTokens) * priceIn +
                                         static_cast<double>(usage.completionTokens) * priceOut) *
                                        1000.0));
  std::optional<store::UsageRecord> rec;
  if (usage.promptTokens || usage.completionTokens) {
    rec = store::UsageRecord{.id = reservation,
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
                             .estimated = usage.estimated()};
    d_.metrics.spend(provider, model, task.tenant, usage.promptTokens, usage.completionTokens,
                     store::fromNanoUsd(costNano));
    spend.usd += store::fromNanoUsd(costNano);
    spend.estimated = spend.estimated || usage.estimated();
  }
  if (auto st = d_.ledger.settle(reservation, rec); !st)
    spdlog::error("task {}: cannot settle spend: {}", task.id, st.error().message);
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
  return out;
}

}  // namespace aion::control
