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
                          std::optional<json::value> result, std::optional<json::value> error) {
  int64_t now = nowMs();
  evs.push_back(EventDraft{"done", doneData(to, task.createdMs, task.startedMs, now)});
  store::Transition t{.taskId = task.id, .from = store::kActiveMask, .to = to};
  t.finishedMs = now;
  t.result = std::move(result);
  t.error = std::move(error);
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
  json::array failures;
  std::optional<Error> last;
  size_t n = routes ? routes->size() : 0;
  for (size_t i = 0; i < n; ++i) {
    const auto& r = routes->at(i).as_object();
    std::string kind(r.at("kind").as_string());
    std::string target(r.at("target").as_string());
    std::string key = kind + ":" + target;
    int64_t remaining = task.deadlineMs ? task.deadlineMs - nowMs() : 30000;
    Result<modhost::CallResult> out =
        fail(ErrorCode::kTimeout, "task deadline reached before route " + key);
    if (remaining > 0) {
      if (kind == "module") {
        out = d_.modules.call(target, input,
                              {.timeoutMs = static_cast<int>(remaining), .cancel = cancel.get()});
        double ms = out ? out->micros / 1000.0 : 0;
        d_.metrics.moduleCall(target, out.has_value(), ms / 1000.0);
        if (out) d_.latency.record(key, ms);
      } else {
        out = fail(ErrorCode::kUnavailable, "model providers are not available in this build");
      }
    }
    if (out) {
      finish(task, TaskStatus::kSucceeded,
             {{"result", json::object{{"route", key}, {"result", out->output}}}}, out->output,
             std::nullopt);
      return;
    }
    last = out.error();
    if (last->code == ErrorCode::kCanceled || cancel->load()) {
      finish(task, TaskStatus::kCanceled, {}, std::nullopt, std::nullopt);
      return;
    }
    bool deadlineHit = task.deadlineMs && nowMs() >= task.deadlineMs;
    bool retriable = last->code != ErrorCode::kInvalidParams && !deadlineHit;
    json::object attempt{{"route", key}, {"error", errorJson(*last)}};
    if (retriable && i + 1 < n)
      attempt["next"] = std::string(routes->at(i + 1).at("kind").as_string()) + ":" +
                        std::string(routes->at(i + 1).at("target").as_string());
    failures.push_back(attempt);
    if (!retriable || i + 1 == n) break;
    auto logged = transition(
        store::Transition{
            .taskId = id, .from = store::maskOf(TaskStatus::kRunning), .to = TaskStatus::kRunning},
        {{"attempt", attempt}});
    if (!logged || !*logged) return;
  }
  if (!last) last = Error(ErrorCode::kNoRoute, "the plan has no routes");
  auto err = errorJson(*last);
  if (failures.size() > 1) err["attempts"] = failures;
  finish(task, TaskStatus::kFailed, {{"error", json::object{{"error", err}}}}, std::nullopt, err);
}

}  // namespace aion::control
