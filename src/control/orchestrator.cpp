#include "control/orchestrator.h"

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <future>

#include "common/async.h"
#include "common/ids.h"
#include "common/json_text.h"
#include "control/model_runner.h"
#include "control/retrieval.h"
#include "telemetry/log.h"
#include "telemetry/trace.h"
#include "telemetry/tracer.h"

namespace aion::control {
namespace asio = boost::asio;
namespace json = boost::json;
using store::TaskStatus;

namespace {

int64_t steadyUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string routeKey(const json::value& r) {
  return std::string(r.at("kind").as_string()) + ":" + std::string(r.at("target").as_string());
}

const json::array* routesOf(const store::Task& t) {
  if (!t.route.is_object()) return nullptr;
  auto* r = t.route.as_object().if_contains("routes");
  return r && r->is_array() ? &r->as_array() : nullptr;
}

}  // namespace

namespace {
// GCC 12 mis-compiles string literals in co_await full-expressions: events
// are built outside them.
std::vector<EventDraft> errorEvents(const json::object& err) {
  return {EventDraft{"error", json::object{{"error", err}}}};
}
}  // namespace

json::object errorJson(const Error& e) {
  json::object o{{"code", errorCodeName(e.code)}, {"message", e.message}};
  if (!e.details.empty()) o["details"] = e.details;
  return o;
}

Orchestrator::Orchestrator(Deps deps, Options opts) : d_(deps), opts_(opts) {}

// The store's writer thread may still hold callbacks into this object (a
// task written behind retires once its last write is on disk, after its slot
// was given back and stop() reported it drained): they run before it is gone.
Orchestrator::~Orchestrator() {
  d_.store.flush();
}

bool Orchestrator::tryReserve() {
  std::lock_guard lock(mu_);
  if (stopping_ || queuedCount_ + reserved_ >= opts_.queueMax) return false;
  ++reserved_;
  return true;
}

void Orchestrator::unreserve() {
  std::lock_guard lock(mu_);
  --reserved_;
}

size_t Orchestrator::running() const {
  std::lock_guard lock(mu_);
  return busy_[0] + busy_[1];
}

Orchestrator::Lane Orchestrator::laneOf(const store::Task& t) const {
  auto* routes = routesOf(t);
  if (routes && !routes->empty() && routes->at(0).at("kind").as_string() == "model")
    return Lane::kModel;
  return Lane::kModule;
}

// ---- the journal --------------------------------------------------------

namespace {
// A task's state change as a log event (JSON logs only); `u` is the change.
void logState(const store::Task& t, const store::TaskUpdate& u) {
  TaskStatus status = u.status.value_or(t.status);
  json::object f{{"taskId", t.id},       {"tenant", t.tenant},
                 {"keyId", t.keyId},     {"intent", t.intent},
                 {"surface", t.surface}, {"status", store::statusName(status)},
                 {"traceId", t.traceId}};
  if (auto* routes = routesOf(t); routes && !routes->empty()) f["route"] = routeKey(routes->at(0));
  if (u.costUsd) f["costUsd"] = *u.costUsd;
  if (u.costEstimated && *u.costEstimated) f["costEstimated"] = true;
  if (u.error && u.error->is_object())
    if (auto* code = u.error->as_object().if_contains("code")) f["error"] = *code;
  if (u.overheadUs) f["overheadUs"] = *u.overheadUs;
  telemetry::logEvent("task", f);
}
}  // namespace

store::Write Orchestrator::buildWrite(ActiveTask& t, store::TaskUpdate u,
                                      std::vector<EventDraft> events,
                                      std::vector<store::UsageRecord> usage,
                                      store::Durability dur) {
  store::Write w;
  w.taskId = t.task.id;
  w.durability = t.behind ? store::Durability::kBehind : dur;
  int64_t now = nowMs();
  w.events.reserve(events.size());
  for (auto& d : events)
    w.events.push_back(
        store::Event{t.task.id, t.nextSeq++, std::move(d.type), now, std::move(d.data)});
  w.update = std::move(u);
  w.usage = std::move(usage);
  return w;
}

void Orchestrator::journal(const TaskPtr& t, store::TaskUpdate u, std::vector<EventDraft> events,
                           std::vector<store::UsageRecord> usage, store::Durability dur,
                           std::function<void(const Status&)> then) {
  store::Write w;
  {
    std::lock_guard lock(t->mu);
    if (u.status && telemetry::eventsOn()) logState(t->task, u);
    w = buildWrite(*t, {}, std::move(events), std::move(usage), dur);
    bool rowChange = u.status || u.result || u.error || u.startedMs || u.finishedMs || u.attempts ||
                     u.costUsd || u.cancelRequested || u.overheadUs;
    if (t->behind) {
      u.applyTo(t->task);
      if (!w.events.empty()) t->task.lastSeq = w.events.back().seq;
    }
    // Events only: no row change beyond last_seq. Behind, the task already
    // has the update: the write takes it; durable, the commit's callback
    // applies its own copy.
    if (!rowChange)
      w.update.reset();
    else if (t->behind)
      w.update = std::move(u);
    else
      w.update = u;
  }
  if (t->behind) {
    // Queued before it is published: a flush after seeing an event covers it.
    auto evs = w.events;
    d_.store.write(std::move(w), nullptr);
    for (auto& e : evs) d_.bus.publish(std::move(e));
    if (then) then(Status{});
    return;
  }
  // Durable: visible and published only once committed, in commit order.
  d_.store.write(std::move(w), [&bus = d_.bus, t, u = std::move(u), then = std::move(then)](
                                   const Status& st, store::Write& done) {
    if (st) {
      {
        std::lock_guard lock(t->mu);
        u.applyTo(t->task);
        if (!done.events.empty())
          t->task.lastSeq = std::max(t->task.lastSeq, done.events.back().seq);
      }
      for (auto& e : done.events) bus.publish(std::move(e));
    }
    if (then) then(st);
  });
}

asio::awaitable<Status> Orchestrator::record(const TaskPtr& t, store::TaskUpdate u,
                                             std::vector<EventDraft> events,
                                             std::vector<store::UsageRecord> usage) {
  // Named, not written inside the co_await: see common/async.h (GCC 12).
  auto commit = [this, &t, &u, &events, &usage](auto done) {
    journal(t, std::move(u), std::move(events), std::move(usage), store::Durability::kDurable,
            std::move(done));
  };
  co_return co_await callbackAsync<Status>(asio::use_awaitable, commit);
}

void Orchestrator::progress(const TaskPtr& t, std::vector<EventDraft> events, store::TaskUpdate u) {
  journal(t, std::move(u), std::move(events), {}, store::Durability::kCommitted, nullptr);
}

asio::awaitable<void> Orchestrator::finish(const TaskPtr& t, TaskStatus to,
                                           std::vector<EventDraft> events,
                                           std::optional<json::value> result,
                                           std::optional<json::value> error,
                                           std::vector<store::UsageRecord> usage, double costUsd,
                                           bool costEstimated) {
  int64_t createdMs, startedMs;
  {
    std::lock_guard lock(t->mu);
    if (t->finishing) co_return;
    t->finishing = true;
    createdMs = t->task.createdMs;
    startedMs = t->task.startedMs;
  }
  releaseSlot(t);
  int64_t now = nowMs();
  int64_t upstream = t->upstreamUs.load();
  int64_t overhead = std::max<int64_t>(0, steadyUs() - t->acceptedUs - upstream);
  events.push_back(
      {"done", json::object{{"status", store::statusName(to)},
                            {"queueMs", startedMs ? startedMs - createdMs : now - createdMs},
                            {"runMs", startedMs ? now - startedMs : 0},
                            {"overheadMs", static_cast<double>(overhead) / 1000.0}}});
  store::TaskUpdate u;
  u.status = to;
  u.finishedMs = now;
  u.result = std::move(result);
  u.error = std::move(error);
  if (costUsd > 0 || costEstimated) {
    u.costUsd = costUsd;
    u.costEstimated = costEstimated;
  }
  u.upstreamUs = upstream;
  u.overheadUs = overhead;
  std::string id, intent, surface, route;
  {
    std::lock_guard lock(t->mu);
    id = t->task.id;
    intent = t->task.intent;
    surface = t->task.surface;
    if (auto* routes = routesOf(t->task); routes && !routes->empty())
      route = routeKey(routes->at(0));
  }
  std::string errorCode;  // for the span: `u` may be moved below
  if (u.error && u.error->is_object())
    if (auto* code = u.error->as_object().if_contains("code"); code && code->is_string())
      errorCode = std::string(code->as_string());
  Status st;
  if (t->behind) {
    // Queued for writing behind: never refused, so nothing to retry and
    // nothing to copy.
    journal(t, std::move(u), std::move(events), std::move(usage), store::Durability::kBehind,
            nullptr);
  } else {
    for (int attempt = 0; attempt < 3; ++attempt) {
      st = co_await record(t, u, events, usage);
      if (st) break;
      if (opts_.sharedQueue && st.error().code == ErrorCode::kNotFound) {
        dropTaken(t);  // a queued task a peer took before this plane closed it
        co_return;
      }
      asio::steady_timer wait(co_await asio::this_coro::executor);
      wait.expires_after(std::chrono::milliseconds(200 << attempt));
      co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
  if (!st) {
    // The store refuses: tell followers anyway so nobody waits forever; the
    // row stays unfinished and the next start closes it as interrupted.
    spdlog::error("task {}: final state not stored ({}); recovery will close it", id,
                  st.error().message);
    std::vector<store::Event> evs;
    {
      std::lock_guard lock(t->mu);
      u.applyTo(t->task);
      int64_t ts = nowMs();
      for (auto& d : events) evs.push_back({id, t->nextSeq++, d.type, ts, d.data});
      t->task.lastSeq = evs.back().seq;
    }
    for (auto& e : evs) d_.bus.publish(e);
  }
  d_.metrics.taskFinished(intent, std::string(store::statusName(to)), (now - createdMs) / 1000.0);
  if (telemetry::recording(t->span.sampled)) {
    telemetry::Span s{.spanId = t->spanId,
                      .parentSpanId = t->span.parentSpanId,
                      .name = "task " + intent,
                      .startNs = t->startNs,
                      .endNs = telemetry::unixNanos()};
    s.traceId = t->task.traceId;  // set at submission, never changed
    s.traceState = t->task.traceState;
    s.attributes = {{"aion.task_id", id},
                    {"aion.intent", intent},
                    {"aion.surface", surface},
                    {"aion.route", route},
                    {"aion.status", store::statusName(to)},
                    {"aion.cost_usd", costUsd},
                    {"aion.overhead_us", overhead}};
    if (to == TaskStatus::kFailed || to == TaskStatus::kExpired)
      s.error = errorCode.empty() ? std::string(store::statusName(to)) : errorCode;
    telemetry::tracer()->record(std::move(s));
  }
  d_.metrics.overhead(surface.empty() ? "rest" : surface, route, overhead / 1e6);
  if (t->behind) {
    // Behind: retire once the final write is on disk (GET answers from here until then).
    d_.store.write(store::Write{.taskId = id, .durability = store::Durability::kBehind},
                   [this, id](const Status&, store::Write&) { retire(id); });
  } else {
    retire(id);
  }
}

void Orchestrator::retire(const std::string& id) {
  {
    std::lock_guard lock(mu_);
    active_.erase(id);
  }
  d_.bus.retire(id);
}

// ---- admission, queues, slots ------------------------------------------

// What a submitter and a follower need of a task: its identity and state,
// without its params and plan (copied on every call, and sent over the
// internal gRPC hop when the roles are apart).
store::Task Orchestrator::briefOf(const store::Task& x) {
  store::Task b;
  b.id = x.id;
  b.tenant = x.tenant;
  b.keyId = x.keyId;
  b.intent = x.intent;
  b.surface = x.surface;
  b.traceId = x.traceId;
  b.status = x.status;
  b.createdMs = x.createdMs;
  b.startedMs = x.startedMs;
  b.deadlineMs = x.deadlineMs;
  b.attempts = x.attempts;
  b.lastSeq = x.lastSeq;
  return b;
}

asio::awaitable<Result<store::Task>> Orchestrator::admit(store::Task task,
                                                         std::vector<EventDraft> events,
                                                         bool behind, bool attached,
                                                         TaskSpan span) {
  if (behind && opts_.behindLagMax.count() > 0 && d_.store.writeBacklog() > opts_.behindLagMax) {
    behind = false;
    d_.metrics.behindRefused();
  }
  auto t = std::make_shared<ActiveTask>();
  t->task = std::move(task);
  if (span.sampled) {
    t->spanId = span.spanId.empty() ? telemetry::newSpanId() : span.spanId;
    t->span = std::move(span);
    t->startNs = telemetry::unixNanos();
  }
  t->behind = behind;
  t->acceptedUs = steadyUs();
  // A task whose submitter waits for it starts in the same write as it is
  // stored when a slot is free: one commit fewer on the way to its answer.
  Lane lane = laneOf(t->task);
  bool startNow = false;
  if (attached) {
    std::lock_guard lock(mu_);
    auto i = static_cast<size_t>(lane);
    size_t cap = lane == Lane::kModule ? opts_.moduleSlots : opts_.modelSlots;
    if (!stopping_ && busy_[i] < cap && queue_[i].empty()) {
      ++busy_[i];
      startNow = true;
      t->lane = i;
      t->holdsSlot = true;
    }
  }
  if (startNow) {
    t->task.status = TaskStatus::kRunning;
    t->task.startedMs = nowMs();
    t->task.attempts = 1;
    t->queued = false;
    auto* routes = routesOf(t->task);
    events.push_back(
        {"status", json::object{{"status", "running"},
                                {"route", routes && !routes->empty() ? routeKey(routes->at(0))
                                                                     : std::string()},
                                {"attempt", 1}}});
  }
  store::Write w;
  {
    std::lock_guard lock(t->mu);
    w = buildWrite(*t, {}, std::move(events), {}, store::Durability::kDurable);
    w.update.reset();
    t->task.lastSeq = w.events.empty() ? 0 : w.events.back().seq;
    w.create = t->task;
    if (telemetry::eventsOn()) logState(t->task, {});
  }
  std::string id = t->task.id;
  d_.bus.track(id, 0);
  if (behind) {
    {
      std::lock_guard lock(mu_);
      active_[id] = t;
    }
    auto evs = w.events;
    d_.store.write(std::move(w), nullptr);
    for (auto& e : evs) d_.bus.publish(std::move(e));
  } else {
    auto commit = [this, t, w = std::move(w)](auto done) mutable {
      d_.store.write(std::move(w),
                     [this, t, done = std::move(done)](const Status& st, store::Write& stored) {
                       if (st) {
                         {
                           std::lock_guard lock(mu_);
                           active_[t->task.id] = t;
                         }
                         for (auto& e : stored.events) d_.bus.publish(std::move(e));
                       }
                       done(st);
                     });
    };
    auto st = co_await callbackAsync<Status>(asio::use_awaitable, std::move(commit));
    if (!st) {
      d_.bus.retire(id);
      unreserve();
      if (startNow) releaseSlot(t);
      co_return std::unexpected(st.error());
    }
  }
  {
    std::lock_guard lock(mu_);
    --reserved_;
  }
  d_.metrics.taskSubmitted(t->task.intent);
  store::Task view;
  {
    std::lock_guard lock(t->mu);
    view = briefOf(t->task);
  }
  if (startNow) {
    // On the submitter's strand: its follower is woken without a thread hop.
    d_.metrics.runningTasks().Increment();
    // Not in one statement with the co_await: GCC 12 would destroy the
    // capturing lambda twice (common/async.h).
    auto here = co_await asio::this_coro::executor;
    asio::co_spawn(here, run(t), [this, t](std::exception_ptr) { releaseSlot(t); });
  } else {
    enqueue(std::move(t));
  }
  co_return view;
}

void Orchestrator::enqueue(TaskPtr t) {
  Lane lane;
  {
    std::lock_guard lock(t->mu);
    lane = laneOf(t->task);
  }
  std::lock_guard lock(mu_);
  auto i = static_cast<size_t>(lane);
  size_t cap = lane == Lane::kModule ? opts_.moduleSlots : opts_.modelSlots;
  if (!stopping_ && busy_[i] < cap && queue_[i].empty()) {
    startLocked(std::move(t), lane);
    return;
  }
  ++queuedCount_;
  queue_[i].push_back(std::move(t));
  d_.metrics.queueDepth().Set(static_cast<double>(queuedCount_));
}

void Orchestrator::startLocked(TaskPtr t, Lane lane) {
  ++busy_[static_cast<size_t>(lane)];
  if (t->queued && telemetry::recording(t->span.sampled)) {
    // The wait for a slot, when there was one worth showing (1 ms or more).
    int64_t now = telemetry::unixNanos();
    if (now - t->startNs >= 1'000'000) {
      telemetry::Span s{.traceId = t->task.traceId,
                        .spanId = telemetry::newSpanId(),
                        .parentSpanId = t->spanId,
                        .traceState = t->task.traceState,
                        .name = "queue wait",
                        .startNs = t->startNs,
                        .endNs = now};
      s.attributes = {{"aion.lane", lane == Lane::kModule ? "module" : "model"}};
      telemetry::tracer()->record(std::move(s));
    }
  }
  t->queued = false;
  t->lane = static_cast<size_t>(lane);
  t->holdsSlot = true;
  d_.metrics.runningTasks().Increment();
  auto strand = asio::make_strand(d_.nextIo());
  asio::co_spawn(strand, run(t), [this, t](std::exception_ptr) { releaseSlot(t); });
}

void Orchestrator::releaseSlot(const TaskPtr& t) {
  if (t->holdsSlot.exchange(false)) released(static_cast<Lane>(t->lane));
}

void Orchestrator::released(Lane lane) {
  std::function<void()> drained;
  {
    std::lock_guard lock(mu_);
    auto i = static_cast<size_t>(lane);
    --busy_[i];
    d_.metrics.runningTasks().Decrement();
    if (!stopping_ && !queue_[i].empty()) {
      auto next = std::move(queue_[i].front());
      queue_[i].pop_front();
      --queuedCount_;
      d_.metrics.queueDepth().Set(static_cast<double>(queuedCount_));
      startLocked(std::move(next), lane);
    }
    if (stopping_ && busy_[0] + busy_[1] == 0 && drained_) drained = std::exchange(drained_, {});
  }
  if (drained) drained();
}

void Orchestrator::stop(std::function<void()> drained) {
  bool now;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    now = busy_[0] + busy_[1] == 0;
    if (!now) drained_ = std::move(drained);
  }
  if (now && drained) drained();
}

std::optional<store::Task> Orchestrator::find(const std::string& id, bool brief) {
  TaskPtr t;
  {
    std::lock_guard lock(mu_);
    auto it = active_.find(id);
    if (it == active_.end()) return std::nullopt;
    t = it->second;
  }
  std::lock_guard lock(t->mu);
  return brief ? briefOf(t->task) : t->task;
}

asio::awaitable<std::optional<store::Task>> Orchestrator::cancel(std::string id,
                                                                 std::string reason) {
  TaskPtr t;
  bool wasQueued = false;
  {
    std::lock_guard lock(mu_);
    auto it = active_.find(id);
    if (it == active_.end()) co_return std::nullopt;
    t = it->second;
    if (t->queued) wasQueued = unqueueLocked(t);
  }
  {
    std::lock_guard lock(t->mu);
    if (t->cancelReason.empty()) t->cancelReason = reason;
  }
  if (wasQueued) {
    t->cancel = true;
    co_await finish(t, TaskStatus::kCanceled, {}, std::nullopt, std::nullopt);
    if (t->taken) co_return std::nullopt;  // a peer runs it: cancel it there
  } else {
    // Durable first: a restart that finds the flag closes the task canceled.
    store::TaskUpdate u;
    u.cancelRequested = true;
    co_await record(t, u, {});
    // The answer is the task as asked to stop (202), read before the stop:
    // a run that ends at once would make it 200 on some calls only.
    std::optional<store::Task> asked;
    {
      std::lock_guard lock(t->mu);
      asked = t->task;
    }
    t->cancel = true;
    t->stop.request_stop();
    co_return asked;
  }
  std::lock_guard lock(t->mu);
  co_return t->task;
}

bool Orchestrator::unqueueLocked(const TaskPtr& t) {
  for (auto& q : queue_) {
    auto pos = std::find(q.begin(), q.end(), t);
    if (pos == q.end()) continue;
    q.erase(pos);
    --queuedCount_;
    d_.metrics.queueDepth().Set(static_cast<double>(queuedCount_));
    return true;
  }
  return false;
}

void Orchestrator::forget(const std::string& id) {
  TaskPtr t;
  {
    std::lock_guard lock(mu_);
    auto it = active_.find(id);
    if (it == active_.end()) return;
    t = it->second;
    t->taken = true;
    // Started meanwhile: its start write fails (the peer owns the row) and
    // the run drops it.
    if (!unqueueLocked(t)) return;
  }
  dropTaken(t);
}

void Orchestrator::dropTaken(const TaskPtr& t) {
  t->taken = true;
  const std::string& id = t->task.id;
  {
    std::lock_guard lock(mu_);
    auto it = active_.find(id);
    if (it != active_.end() && it->second == t) active_.erase(it);
  }
  d_.bus.retire(id);
  // What the peer committed before the bus stopped tracking it came with no
  // marker here: followers read the store now.
  d_.bus.announce(id, INT64_MAX);
  spdlog::debug("task {}: taken by another control plane", id);
}

size_t Orchestrator::idleSlots() const {
  std::lock_guard lock(mu_);
  if (stopping_ || !queue_[0].empty()) return 0;
  return opts_.moduleSlots > busy_[0] ? opts_.moduleSlots - busy_[0] : 0;
}

// ---- recovery -------------------------------------------------------------

Status Orchestrator::recover(std::vector<store::Task> tasks, Recovery why) {
  bool takeover = why == Recovery::kTakeover;
  size_t requeued = 0, closed = 0;
  std::vector<std::pair<TaskPtr, bool>> restart;  // task, run again
  for (auto& row : tasks) {
    auto t = std::make_shared<ActiveTask>();
    t->task = std::move(row);
    t->nextSeq = t->task.lastSeq + 1;
    t->recovered = true;
    t->acceptedUs = steadyUs();
    d_.bus.track(t->task.id, t->task.lastSeq);
    {
      std::lock_guard lock(mu_);
      active_[t->task.id] = t;
    }
    restart.emplace_back(t, true);
  }
  // Writes go through the journal; wait for each (start-up only).
  auto wait = [this](const TaskPtr& t, store::TaskUpdate u, std::vector<EventDraft> evs) {
    std::promise<Status> done;
    journal(t, std::move(u), std::move(evs), {}, store::Durability::kDurable,
            [&done](const Status& st) { done.set_value(st); });
    return done.get_future().get();
  };
  for (auto& [t, again] : restart) {
    const store::Task& row = t->task;
    if (row.status != TaskStatus::kRunning && !row.cancelRequested) {
      ++requeued;
      continue;
    }
    // Module routes are pure functions of their input: safe to run again once.
    bool idempotent = true;
    if (auto* routes = routesOf(row))
      for (auto& r : *routes) idempotent = idempotent && r.at("kind").as_string() == "module";
    store::TaskUpdate u;
    std::vector<EventDraft> evs;
    if (!row.cancelRequested && idempotent && row.attempts <= 1) {
      u.status = TaskStatus::kQueued;
      evs.push_back(
          {"status",
           json::object{{"status", "queued"},
                        {"reason", takeover ? "its control plane stopped; taken over "
                                              "and retrying once"
                                            : "interrupted by a restart; retrying once"}}});
      if (auto st = wait(t, u, evs); !st) return st;
      ++requeued;
      continue;
    }
    int64_t now = nowMs();
    u.status = row.cancelRequested ? TaskStatus::kCanceled : TaskStatus::kFailed;
    u.finishedMs = now;
    if (!row.cancelRequested) {
      json::object err{
          {"code", "interrupted"},
          {"message",
           "the process stopped while the task ran and its route is not safe to repeat"}};
      u.error = err;
      evs.push_back({"error", json::object{{"error", err}}});
    }
    evs.push_back({"done", json::object{{"status", store::statusName(*u.status)}}});
    if (auto st = wait(t, u, evs); !st) return st;
    again = false;
    retire(t->task.id);
    ++closed;
  }
  for (auto& [t, again] : restart) {
    if (again) enqueue(t);  // admitted before the restart: no admission check
  }
  if (why == Recovery::kShared)
    spdlog::debug("took {} queued task(s) from busy control planes", requeued);
  else if (requeued || closed)
    spdlog::info("recovery{}: {} task(s) re-queued, {} closed as interrupted",
                 takeover ? " (taken over)" : "", requeued, closed);
  return {};
}

// ---- running --------------------------------------------------------------

asio::awaitable<void> Orchestrator::watchdog(TaskPtr t) {
  int64_t deadline;
  {
    std::lock_guard lock(t->mu);
    deadline = t->task.deadlineMs;
  }
  if (!deadline) co_return;
  auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
  timer->expires_after(std::chrono::milliseconds(std::max<int64_t>(0, deadline - nowMs())) +
                       opts_.watchdogGrace);
  {
    std::stop_callback onStop(t->stop.get_token(), [timer] {
      asio::post(timer->get_executor(), [timer] { timer->cancel(); });
    });
    co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
  }
  bool finishing;
  {
    std::lock_guard lock(t->mu);
    finishing = t->finishing;
  }
  if (finishing || t->stop.stop_requested()) co_return;
  spdlog::error("task {}: still running {} ms after its deadline; closing it", t->task.id,
                opts_.watchdogGrace.count());
  Error e(ErrorCode::kTimeout, "the task did not finish by its deadline; its call was abandoned");
  {
    std::lock_guard lock(t->mu);
    t->cancelReason = "deadline";
  }
  t->cancel = true;
  t->stop.request_stop();
  co_await finish(t, TaskStatus::kFailed, errorEvents(errorJson(e)), std::nullopt, errorJson(e));
}

asio::awaitable<void> Orchestrator::run(TaskPtr t) {
  std::optional<Error> crashed;
  try {
    co_await runRoutes(t);
  } catch (const std::exception& ex) {
    spdlog::error("task {}: {}", t->task.id, ex.what());
    crashed = Error(ErrorCode::kInternal, std::string("internal error: ") + ex.what());
  }
  if (crashed)
    co_await finish(t, TaskStatus::kFailed, errorEvents(errorJson(*crashed)), std::nullopt,
                    errorJson(*crashed));
  // The watchdog's timer must not outlive the task's run.
  t->stop.request_stop();
}

asio::awaitable<void> Orchestrator::runRoutes(TaskPtr t) {
  // The fields others may change, read under the lock; the rest (params and
  // route are most of a task's size) do not change once admitted.
  struct {
    bool cancelRequested;
    int64_t deadlineMs;
    TaskStatus status;
    int attempts;
  } task;
  {
    std::lock_guard lock(t->mu);
    task = {t->task.cancelRequested, t->task.deadlineMs, t->task.status, t->task.attempts};
  }
  if (t->cancel || task.cancelRequested) {
    co_await finish(t, TaskStatus::kCanceled, {}, std::nullopt, std::nullopt);
    co_return;
  }
  if (task.deadlineMs && nowMs() >= task.deadlineMs) {
    Error e(ErrorCode::kTimeout, "task expired before a worker was free");
    co_await finish(t, TaskStatus::kExpired, errorEvents(errorJson(e)), std::nullopt, errorJson(e));
    co_return;
  }
  auto here = co_await asio::this_coro::executor;
  asio::co_spawn(here, watchdog(t), asio::detached);

  const json::array* routes = routesOf(t->task);
  size_t n = routes ? routes->size() : 0;
  if (task.status == TaskStatus::kRunning && task.attempts == 1 && !t->recovered) {
    t->attempt = 1;
    co_await runPlan(t);  // started when it was stored
    co_return;
  }
  store::TaskUpdate toRunning;
  toRunning.status = TaskStatus::kRunning;
  toRunning.startedMs = nowMs();
  toRunning.attempts = task.attempts + 1;
  task.attempts = *toRunning.attempts;
  t->attempt = task.attempts;
  std::vector<EventDraft> running{
      {"status", json::object{{"status", "running"},
                              {"route", n ? routeKey(routes->at(0)) : ""},
                              {"attempt", task.attempts}}}};
  if (laneOf(t->task) == Lane::kModule && !opts_.sharedQueue) {
    // Modules are pure functions of their input: if a crash forgets that
    // this run started, running it again is harmless. Do not hold the module
    // slot for an fsync; the final state is committed after this anyway.
    progress(t, std::move(running), std::move(toRunning));
  } else if (auto st = co_await record(t, toRunning, std::move(running)); !st) {
    // A shared queue: only the owner writes a task, so a start refused as
    // kNotFound means a peer took it first. It runs there.
    if (opts_.sharedQueue && (t->taken || st.error().code == ErrorCode::kNotFound)) {
      dropTaken(t);
      co_return;
    }
    Error e(ErrorCode::kUnavailable, "the store refused the task's start: " + st.error().message);
    co_await finish(t, TaskStatus::kFailed, errorEvents(errorJson(e)), std::nullopt, errorJson(e));
    co_return;
  }

  co_await runPlan(t);
}

asio::awaitable<void> Orchestrator::runPlan(TaskPtr t) {
  // Read without the lock: what a run reads (id, owner, params, route,
  // deadline) does not change once admitted; the lock guards the status and
  // results, which commits and cancel change meanwhile.
  const store::Task& task = t->task;
  const json::array* routes = routesOf(task);
  size_t n = routes ? routes->size() : 0;
  // A module's input: the params as text, written once and only if a
  // module route runs (a model route reads the params in place).
  std::optional<std::string> input;
  // Vectors (intents.yml `vectors`): a search intent's module embeds the
  // query and the task answers with the nearest chunks; a chat task's
  // params.context puts the nearest chunks before its prompt, retrieved once
  // for every route.
  bool search = false;
  std::optional<store::Task> withContext;
  json::object contextUsed;
  bool wantsContext = false;
  if (d_.retrieval) {
    auto ps = d_.policies.current();
    const auto* in = ps->intent(task.intent);
    search = in && in->vectors == policy::VectorMode::kSearch;
    if (search) {
      input = Retrieval::searchInput(task.params);
    }
    const auto* po = task.params.if_object();
    wantsContext =
        in && in->vectors == policy::VectorMode::kContext && po && po->contains("context");
  }
  if (wantsContext) {
    int64_t left = task.deadlineMs ? task.deadlineMs - nowMs() : 30000;
    int64_t began = steadyUs();
    auto ctx = co_await d_.retrieval->withContext(
        task, static_cast<int>(std::max<int64_t>(left, 1)), &t->cancel);
    t->upstreamUs += steadyUs() - began;  // embedding and search: upstream, not overhead
    if (!ctx) {
      auto err = errorJson(ctx.error());
      co_await finish(t, TaskStatus::kFailed, errorEvents(err), std::nullopt, err);
      co_return;
    }
    if (*ctx) {
      withContext = task;
      withContext->params = std::move((*ctx)->params);
      contextUsed = std::move((*ctx)->used);
      input = jsonText(withContext->params);
      progress(t, {{"context", contextUsed}});
    }
  }
  const store::Task& run = withContext ? *withContext : task;
  Spend spend;
  bool streamed = false;
  json::array failures;
  std::optional<Error> last;
  for (size_t i = 0; i < n; ++i) {
    const auto& r = routes->at(i).as_object();
    std::string kind(r.at("kind").as_string());
    std::string target(r.at("target").as_string());
    std::string key = kind + ":" + target;
    int64_t remaining = task.deadlineMs ? task.deadlineMs - nowMs() : 30000;
    Result<json::value> out =
        fail(ErrorCode::kTimeout, "task deadline reached before route " + key);
    if (remaining > 0 && !t->cancel) {
      int64_t began = steadyUs();
      if (kind == "module") {
        bool traced = telemetry::recording(t->span.sampled);
        int64_t spanStart = traced ? telemetry::unixNanos() : 0;
        std::string spanId = traced ? telemetry::newSpanId() : std::string();
        if (!input) input = jsonText(task.params);
        modhost::CallOptions opts{.timeoutMs = static_cast<int>(remaining), .cancel = &t->cancel};
        if (traced) {
          opts.traceparent = telemetry::traceparent(task.traceId, spanId);
          opts.tracestate = task.traceState;
        }
        auto call = co_await d_.modules.callAsync(target, *input, opts, d_.moduleExec);
        double ms = call ? call->micros / 1000.0 : 0;
        modhost::countModuleCall(d_.metrics, target, call);
        if (traced && telemetry::tracer()) {
          telemetry::Span s{.traceId = task.traceId,
                            .spanId = spanId,
                            .parentSpanId = t->spanId,
                            .traceState = task.traceState,
                            .name = "module " + target,
                            .startNs = spanStart,
                            .endNs = telemetry::unixNanos()};
          s.attributes = {{"aion.module", target}, {"aion.route", key}};
          if (!call) s.error = call.error().message;
          telemetry::tracer()->record(std::move(s));
        }
        if (call && search) {
          d_.latency.record(key, ms);
          out = co_await d_.retrieval->answerSearch(task, std::move(call->output));
        } else if (call) {
          d_.latency.record(key, ms);
          out = std::move(call->output);
        } else {
          out = std::unexpected(call.error());
        }
      } else {
        out = co_await runModel(*this, t, run, r, i, remaining, spend, streamed);
      }
      t->upstreamUs += steadyUs() - began;
    }
    if (out) {
      if (!contextUsed.empty() && out->is_object()) out->as_object()["context"] = contextUsed;
      std::vector<EventDraft> result{{"result", json::object{{"route", key}, {"result", *out}}}};
      co_await finish(t, TaskStatus::kSucceeded, std::move(result), std::move(*out), std::nullopt,
                      std::move(spend.usage), spend.usd, spend.estimated);
      co_return;
    }
    last = out.error();
    if (last->code == ErrorCode::kCanceled || t->cancel) {
      std::string why;
      {
        std::lock_guard lock(t->mu);
        why = t->cancelReason;
      }
      if (why == "deadline") co_return;  // the watchdog closes it
      co_await finish(t, TaskStatus::kCanceled, {}, std::nullopt, std::nullopt,
                      std::move(spend.usage), spend.usd, spend.estimated);
      co_return;
    }
    bool deadlineHit = task.deadlineMs && nowMs() >= task.deadlineMs;
    // Text already streamed to the client cannot be taken back: no other route.
    bool retriable = last->code != ErrorCode::kInvalidParams && !deadlineHit && !streamed;
    json::object attempt{{"route", key}, {"error", errorJson(*last)}};
    if (retriable && i + 1 < n) attempt["next"] = routeKey(routes->at(i + 1));
    failures.push_back(attempt);
    if (!retriable || i + 1 == n) break;
    d_.metrics.fallback(task.intent, key, routeKey(routes->at(i + 1)));
    progress(t, {{"attempt", attempt}});
  }
  if (!last) last = Error(ErrorCode::kNoRoute, "the plan has no routes");
  auto err = errorJson(*last);
  if (failures.size() > 1) err["attempts"] = failures;
  co_await finish(t, TaskStatus::kFailed, errorEvents(err), std::nullopt, err,
                  std::move(spend.usage), spend.usd, spend.estimated);
}

}  // namespace aion::control
