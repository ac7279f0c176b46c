#include "control/control_service.h"

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <set>

#include "common/async.h"
#include "common/digest.h"
#include "common/ids.h"
#include "common/json_text.h"
#include "control/model_catalog.h"
#include "control/policy_files.h"
#include "events/bus_follower.h"
#include "router/router.h"
#include "telemetry/trace.h"
#include "telemetry/tracer.h"

namespace aion::control {
namespace asio = boost::asio;
namespace json = boost::json;
using store::TaskStatus;

std::expected<std::unique_ptr<ControlService>, std::vector<std::string>> ControlService::create(
    Deps deps, Options opts) {
  std::unique_ptr<ModuleRegistry> registry;
  if (!opts.moduleStateDir.empty()) {
    auto r = ModuleRegistry::open(opts.moduleStateDir);
    if (!r) return std::unexpected(std::vector<std::string>{"AION_DATA_DIR: " + r.error().message});
    registry = std::move(*r);
    opts.loadOptions.registryDir = registry->registryDir();
  }
  auto set = policy::loadPolicyDir(opts.policyDir, opts.loadOptions);
  if (!set) return std::unexpected(set.error());
  if (auto m = deps.modules.load(**set); !m) return std::unexpected(m.error());
  deps.providers.configure(**set);
  for (auto& [name, m] : (*set)->modules) {
    if (!m.usable())
      spdlog::warn("module {} refused: {}", name, m.verification.reason);
    else if (m.verification.state == policy::Verification::State::kUnsigned)
      spdlog::warn("module {} is unsigned (allowed by AION_MODULES_ALLOW_UNSIGNED)", name);
  }
  std::unique_ptr<ControlService> svc(
      new ControlService(deps, std::move(opts), *set, std::move(registry)));
  if (deps.cluster) svc->budgets_.share(deps.cluster, deps.store.readExecutor());
  if (auto st = svc->budgets_.load(deps.store, nowMs()); !st)
    return std::unexpected(std::vector<std::string>{"AION_DATA_DIR: " + st.error().message});
  svc->checkReadiness();
  if (svc->opts_.taskRetention.count() > 0)
    svc->keepPurging(
        std::min<std::chrono::milliseconds>(svc->opts_.retentionEvery, std::chrono::seconds(10)));
  return svc;
}

ControlService::ControlService(Deps deps, Options opts, policy::PolicySetPtr initial,
                               std::unique_ptr<ModuleRegistry> registry)
    : d_(deps),
      opts_(std::move(opts)),
      policies_(std::make_unique<PolicyStore>(std::move(initial))),
      registry_(std::move(registry)) {
  if (d_.vectors)
    retrieval_ = std::make_unique<Retrieval>(
        Retrieval::Deps{*d_.vectors, d_.modules, d_.moduleExec, *policies_}, DocumentLimits{});
  opts_.orchestrator.sharedQueue = d_.cluster && opts_.shareAfter.count() > 0;
  orchestrator_ = std::make_unique<Orchestrator>(
      Orchestrator::Deps{d_.store, d_.modules, d_.moduleExec, d_.providers, budgets_, d_.bus,
                         d_.metrics, latency_, *policies_, d_.nextIo, retrieval_.get()},
      opts_.orchestrator);
}

ControlService::~ControlService() {
  alive_->store(false);
  if (d_.cluster) d_.cluster->unlisten();  // its callbacks reach into this object
  // On its loop: a live loop runs it; a destroyed one took the timer with it.
  if (auto t = readyTimer_.lock()) asio::post(t->get_executor(), [t] { t->cancel(); });
  if (auto t = leaseTimer_.lock()) asio::post(t->get_executor(), [t] { t->cancel(); });
  if (auto t = shareTimer_.lock()) asio::post(t->get_executor(), [t] { t->cancel(); });
}

void ControlService::stop(std::function<void()> drained) {
  if (auto t = readyTimer_.lock()) asio::post(t->get_executor(), [t] { t->cancel(); });
  // The lease is still renewed while running tasks finish (else a peer would
  // take them over); nothing more is claimed.
  stopping_->store(true);
  orchestrator_->stop(std::move(drained));
}

Status ControlService::recover() {
  if (!d_.cluster) {
    auto tasks = d_.store.unfinished();
    if (!tasks) return std::unexpected(tasks.error());
    return orchestrator_->recover(std::move(*tasks));
  }
  auto& cluster = *d_.cluster;
  if (auto r = cluster.renew(); !r) return std::unexpected(r.error());
  // Followed here, run elsewhere: events come as markers; cancels of our
  // tasks asked elsewhere come to us. Listening before claiming: nothing
  // committed after the claim is missed.
  cluster.listen(
      {.committed = [bus = &d_.bus](const std::string& id, int64_t seq) { bus->announce(id, seq); },
       .cancel = [this](const std::string& id) { cancelAskedElsewhere(id); },
       .taken = [this](const std::string& id) { orchestrator_->forget(id); },
       .resync = [bus = &d_.bus] { bus->announceAll(); }});
  auto tasks = cluster.claim(/*ownToo=*/true);
  if (!tasks) return std::unexpected(tasks.error());
  if (auto st = orchestrator_->recover(std::move(*tasks)); !st) return st;
  keepLease();
  if (opts_.orchestrator.sharedQueue) keepSharing();
  return {};
}

void ControlService::endLease() {
  if (!d_.cluster) return;
  std::lock_guard lease(leaseMu_);
  leaseEnded_ = true;
  d_.cluster->release();
}

void ControlService::cancelAskedElsewhere(const std::string& id) {
  auto t = orchestrator_->find(id);
  if (!t || t->cancelRequested || store::isTerminal(t->status)) return;
  asio::co_spawn(d_.nextIo(), orchestrator_->cancel(id, "canceled through another control plane"),
                 asio::detached);
}

void ControlService::after(std::weak_ptr<asio::steady_timer>& slot, std::chrono::milliseconds delay,
                           std::function<void()> fn) {
  auto timer = slot.lock();
  if (!timer) {
    timer = std::make_shared<asio::steady_timer>(d_.nextIo());
    slot = timer;
  }
  timer->expires_after(delay);
  timer->async_wait([alive = alive_, timer, fn = std::move(fn)](boost::system::error_code ec) {
    if (!ec && alive->load()) fn();
  });
}

void ControlService::blockingAfter(std::weak_ptr<asio::steady_timer>& slot,
                                   std::chrono::milliseconds delay, std::function<void()> fn) {
  after(slot, delay, [this, fn = std::move(fn)] {
    asio::post(d_.blocking, [alive = alive_, fn] {
      if (alive->load()) fn();
    });
  });
}

void ControlService::keepLease() {
  blockingAfter(leaseTimer_, opts_.leaseRenewEvery, [this, alive = alive_] {
    std::unique_lock lease(leaseMu_);
    if (leaseEnded_) return;
    auto cancels = d_.cluster->renew();
    lease.unlock();
    if (!cancels) {
      spdlog::warn("control plane {}: lease not renewed: {}", d_.cluster->planeId(),
                   cancels.error().message);
    } else {
      for (auto& id : *cancels) cancelAskedElsewhere(id);
      if (stopping_->load()) return keepLease();
      auto claimed = d_.cluster->claim(/*ownToo=*/false);
      if (claimed && !claimed->empty()) {
        spdlog::info("control plane {}: took over {} task(s) of control planes whose lease ran out",
                     d_.cluster->planeId(), claimed->size());
        d_.metrics.tasksTaken("takeover", claimed->size());
        if (auto st =
                orchestrator_->recover(std::move(*claimed), Orchestrator::Recovery::kTakeover);
            !st)
          spdlog::error("taking over tasks: {}", st.error().message);
      } else if (!claimed) {
        spdlog::warn("claiming tasks of gone control planes: {}", claimed.error().message);
      }
    }
    if (alive->load()) keepLease();
  });
}

void ControlService::keepSharing() {
  // Polled, not notified: a plane with nothing to do asks twice per
  // shareAfter, one indexed statement (the partial index on active tasks).
  after(shareTimer_, std::max(std::chrono::milliseconds(50), opts_.shareAfter / 2), [this] {
    size_t idle = stopping_->load() ? 0 : orchestrator_->idleSlots();
    if (idle == 0) return keepSharing();
    asio::post(d_.blocking, [this, alive = alive_, idle] {
      if (!alive->load()) return;
      auto took = d_.cluster->take(std::min<size_t>(idle, 64), opts_.shareAfter);
      if (!took) {
        spdlog::warn("control plane {}: taking queued tasks of busy planes: {}",
                     d_.cluster->planeId(), took.error().message);
      } else if (!took->empty()) {
        d_.metrics.tasksTaken("shared", took->size());
        if (auto st = orchestrator_->recover(std::move(*took), Orchestrator::Recovery::kShared);
            !st)
          spdlog::error("running tasks taken from busy planes: {}", st.error().message);
      }
      if (alive->load()) keepSharing();
    });
  });
}

void ControlService::keepPurging(std::chrono::milliseconds delay) {
  blockingAfter(purgeTimer_, delay, [this, alive = alive_] { purgeBatch(alive); });
}

void ControlService::purgeBatch(const std::shared_ptr<std::atomic<bool>>& alive) {
  // Small batches, each its own write: the writer serves the request path
  // between them, and a long backlog (retention just turned on) does not
  // hold a blocking thread for its whole length.
  constexpr int kBatch = 256;
  auto gone = d_.store.purgeFinished(nowMs() - opts_.taskRetention.count(), kBatch);
  if (!gone) {
    spdlog::warn("retention: deleting finished tasks: {}", gone.error().message);
  } else if (!gone->empty()) {
    d_.metrics.tasksPurged(gone->size());
    spdlog::info("retention: deleted {} finished task(s) older than {} day(s)", gone->size(),
                 opts_.taskRetention.count() / 86400000.0);
    if (gone->size() == static_cast<size_t>(kBatch) && !stopping_->load()) {
      asio::post(d_.blocking, [this, alive] {
        if (alive->load()) purgeBatch(alive);
      });
      return;
    }
  }
  if (alive->load()) keepPurging(opts_.retentionEvery);
}

// Readiness is re-checked in the background: a read on the store's pool and
// the age of the oldest uncommitted write. The handler reads the outcome.
void ControlService::checkReadiness() {
  auto timer = readyTimer_.lock();
  if (!timer) {
    timer = std::make_shared<asio::steady_timer>(d_.nextIo());
    readyTimer_ = timer;
  }
  auto sent = std::chrono::steady_clock::now();
  auto alive = alive_;
  bool send;
  {
    std::lock_guard lock(readyMu_);
    send = !pingPending_;  // a ping still out is not sent again
    if (send) {
      pingSent_ = sent;
      pingPending_ = true;
    }
  }
  if (send)
    asio::post(d_.store.readExecutor(), [this, alive, sent] {
      if (!alive->load()) return;
      auto st = d_.store.ping();
      std::lock_guard lock(readyMu_);
      if (pingSent_ != sent) return;
      pingPending_ = false;
      storeOk_ = st.has_value();
      storeProblem_ = st ? "" : st.error().message;
    });
  timer->expires_after(opts_.readinessEvery);
  timer->async_wait([this, alive, timer](boost::system::error_code ec) {
    if (!ec && alive->load()) checkReadiness();
  });
}

Result<router::Plan> ControlService::plan(const SubmitRequest& req, const policy::PolicySet& ps,
                                          size_t paramsBytes) {
  const auto* intent = ps.intent(req.intent);
  if (!intent) {
    json::array known;
    for (auto& [n, _] : ps.intents) known.push_back(json::string(n));
    return fail(ErrorCode::kUnknownIntent, "unknown intent '" + req.intent + "'",
                {{"known", known}});
  }
  if (!req.principal.hasAny(intent->roles)) {
    return fail(ErrorCode::kForbidden, "role not allowed for intent '" + req.intent + "'",
                {{"required", roleSetString(intent->roles)}});
  }
  if (!req.params.is_object())
    return fail(ErrorCode::kInvalidParams, "params must be a JSON object");
  if (auto errs = intent->paramsSchema.validate(req.params); !errs.empty()) {
    json::array list;
    for (auto& e : errs) list.push_back(json::string(e));
    return fail(ErrorCode::kInvalidParams, errs.front(), {{"errors", list}});
  }
  router::LiveState live;
  live.latency = latency_.snapshot();
  live.unavailable = d_.providers.unavailableProviders();
  live.unavailableModels = d_.providers.unavailableModels();
  if (registry_)
    for (auto& n : registry_->disabled()) live.unavailableModules[n] = "disabled by an operator";
  live.gpus = opts_.gpus;
  if (!opts_.subprocessBlocked.empty())
    for (auto& [name, m] : ps.modules)
      if (m.kind == "subprocess") live.unavailableModules.emplace(name, opts_.subprocessBlocked);
  if (!req.route.empty()) {
    bool offered = false;
    for (auto& c : intent->candidates)
      offered = offered || router::isRoute(req.route, c.kind, c.target);
    if (!offered)
      return fail(ErrorCode::kNotFound,
                  "route '" + req.route + "' does not serve intent '" + req.intent + "'",
                  {{"intent", req.intent}});
  }
  return router::decide({.tenant = req.principal.tenant,
                         .intent = req.intent,
                         .paramsBytes = paramsBytes,
                         .privacy = req.privacy,
                         .budgetUsd = req.budgetUsd,
                         .onlyRoute = req.route},
                        ps, live);
}

namespace {
// Outside the co_await below: GCC 12 mis-compiles string literals there.
// The route event carries the plan without its per-candidate explanation:
// that is on the task (GET /v1/tasks/{id}) and in the dry run, and copying
// it into every follower of every task was a large part of a call's cost.
// Like the task's, it is the compact plan (router/plan_json.h).
std::vector<EventDraft> firstEvents(const json::object& plan) {
  json::object brief;
  for (auto& [k, v] : plan)
    if (k != "candidates") brief.emplace(k, v);
  return {{"status", json::object{{"status", "queued"}}},
          {"route", json::object{{"status", "routed"}, {"plan", std::move(brief)}}}};
}
}  // namespace

namespace {
// The routing decision as a span: the chosen route and why, the fallbacks,
// and each dropped candidate's reason.
void describePlan(telemetry::ScopedSpan& span, const Result<router::Plan>& p) {
  if (!span.on()) return;
  if (!p) {
    span.fail(p.error().message);
    return;
  }
  std::string chosen = p->routes.empty() ? "none" : p->routes.front().key();
  span.attr("aion.route", chosen);
  span.attr("aion.privacy", policy::privacyName(p->privacy));
  std::string fallbacks, dropped;
  for (size_t i = 1; i < p->routes.size(); ++i) {
    if (!fallbacks.empty()) fallbacks += ", ";
    fallbacks += p->routes[i].key();
  }
  for (auto& c : p->candidates) {
    if (c.kept) {
      if (c.route.key() == chosen) span.attr("aion.route.why", router::reasonOf(c, p->budgetUsd));
      continue;
    }
    if (!dropped.empty()) dropped += "; ";
    dropped += c.route.key() + ": " + c.reason;
  }
  span.attr("aion.route.fallbacks", fallbacks);
  span.attr("aion.route.dropped", dropped);
}
}  // namespace

ControlApi::Awaitable ControlService::submit(SubmitRequest req) {
  auto ps = policies_->current();
  std::string paramsText = jsonText(req.params);
  if (req.traceId.empty()) req.traceId = telemetry::newTraceId();
  // The task span's id is drawn now: the routing span, which comes first, is its child.
  std::string taskSpanId = telemetry::recording(req.sampled) ? telemetry::newSpanId() : "";
  Result<router::Plan> p;  // set inside the routing span
  {
    telemetry::ScopedSpan span(req.traceId, taskSpanId, req.sampled, "route ", req.intent);
    span.state(req.traceState);
    p = plan(req, *ps, paramsText.size());
    describePlan(span, p);
  }
  if (!p) {
    if (auto* in = ps->intent(req.intent); in && p.error().code == ErrorCode::kNoRoute)
      d_.metrics.routeDecision(req.intent, "none",
                               std::string(policy::privacyName(req.privacy.value_or(in->privacy))));
    co_return std::unexpected(p.error());
  }
  d_.metrics.routeDecision(req.intent, p->routes.empty() ? "none" : p->routes.front().key(),
                           std::string(policy::privacyName(p->privacy)));
  const auto* intent = ps->intent(req.intent);
  if (req.timeoutMs && (*req.timeoutMs <= 0 || *req.timeoutMs > intent->timeoutMs)) {
    co_return fail(ErrorCode::kInvalidRequest, "timeoutMs must be between 1 and the intent's " +
                                                   std::to_string(intent->timeoutMs));
  }
  if (!orchestrator_->tryReserve()) {
    co_return fail(ErrorCode::kUnavailable, "task queue is full; retry later",
                   {{"retryAfterSeconds", 1}});
  }
  store::Task t;
  t.id = newTaskId();
  t.tenant = req.principal.tenant;
  t.keyId = req.principal.keyId;
  t.intent = req.intent;
  t.surface = req.surface;
  t.traceId = req.traceId;
  t.traceState = std::move(req.traceState);
  t.params = std::move(req.params);
  t.status = TaskStatus::kRouted;
  auto planJson = router::storedJson(*p);
  auto events = firstEvents(planJson);
  t.route = std::move(planJson);
  t.createdMs = nowMs();
  t.deadlineMs = t.createdMs + req.timeoutMs.value_or(intent->timeoutMs);
  // Named, not braced inside the co_await: GCC 12 (common/async.h).
  TaskSpan span{req.parentSpanId, req.sampled, std::move(taskSpanId)};
  auto admitted = co_await orchestrator_->admit(std::move(t), std::move(events), req.behind,
                                                req.attached, std::move(span));
  if (admitted && feed_.followers() > 0)  // the item is built only for someone
    feed_.publish(admitted->tenant, json::object{{"taskId", admitted->id},
                                                 {"intent", admitted->intent},
                                                 {"status", store::statusName(admitted->status)},
                                                 {"surface", admitted->surface},
                                                 {"createdMs", admitted->createdMs}});
  co_return admitted;
}

std::unique_ptr<TaskFeed::Subscription> TaskFeed::subscribe(std::string tenant, Listener fn) {
  std::lock_guard lock(mu_);
  auto id = next_++;
  listeners_.emplace(id, std::pair{std::move(tenant), std::make_shared<Listener>(std::move(fn))});
  return std::make_unique<Subscription>(this, id);
}

void TaskFeed::publish(const std::string& tenant, const json::object& item) {
  std::vector<std::shared_ptr<Listener>> targets;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, l] : listeners_)
      if (l.first == tenant) targets.push_back(l.second);
  }
  for (auto& fn : targets) (*fn)(item);
}

size_t TaskFeed::followers() const {
  std::lock_guard lock(mu_);
  return listeners_.size();
}

void TaskFeed::drop(uint64_t id) {
  std::lock_guard lock(mu_);
  listeners_.erase(id);
}

void ControlService::exportBudgets() {
  auto ps = policies_->current();
  int64_t now = nowMs();
  auto each = [&](BudgetScope::Kind kind, const std::map<std::string, policy::PeriodBudget>& caps,
                  const char* prefix) {
    std::set<std::string> ids;
    for (auto& [id, _] : caps)
      if (id != "*") ids.insert(id);
    for (auto& id : budgets_.ids(kind)) ids.insert(id);
    for (auto& id : ids) {
      auto it = caps.find(id);
      if (it == caps.end()) it = caps.find("*");
      if (it == caps.end()) continue;
      for (auto [period, cap] :
           {std::pair{"day", it->second.dayUsd}, std::pair{"month", it->second.monthUsd}}) {
        if (!cap) continue;
        auto [spent, reserved] = budgets_.spent({kind, id, period, 0}, now);
        d_.metrics.budget(prefix + id, period, store::fromNanoUsd(spent), *cap);
      }
    }
  };
  each(BudgetScope::Kind::kTenant, ps->policies.tenantBudgets, "tenant:");
  each(BudgetScope::Kind::kKey, ps->policies.keyBudgets, "key:");
}

ControlApi::Awaitable ControlService::get(Principal who, std::string id) {
  co_return co_await lookup(std::move(who), std::move(id), false);
}

ControlApi::Awaitable ControlService::lookup(Principal who, std::string id, bool brief) {
  std::optional<store::Task> t = orchestrator_->find(id, brief);
  if (!t) {
    auto row = co_await offload(d_.store.readExecutor(), [this, &id] { return d_.store.get(id); });
    if (!row) co_return std::unexpected(row.error());
    t = std::move(*row);
  }
  if (!t || t->tenant != who.tenant) co_return fail(ErrorCode::kNotFound, "no task '" + id + "'");
  co_return std::move(*t);
}

asio::awaitable<Result<store::TaskPage>> ControlService::list(Principal who, store::ListQuery q) {
  q.tenant = who.tenant;
  co_return co_await offload(d_.store.readExecutor(), [this, &q] { return d_.store.list(q); });
}

ControlApi::Awaitable ControlService::cancel(Principal who, std::string id, std::string reason) {
  auto t = co_await get(who, id);
  if (!t) co_return t;
  auto conflict = [](const store::Task& x) {
    return fail(ErrorCode::kConflict, "task already " + std::string(store::statusName(x.status)),
                {{"status", store::statusName(x.status)}});
  };
  if (store::isTerminal(t->status)) co_return conflict(*t);
  auto now = co_await orchestrator_->cancel(id, std::move(reason));
  if (now) co_return std::move(*now);
  if (d_.cluster) {
    // Run by another control plane: flag it in the store and tell its owner.
    auto asked = co_await offload(d_.store.readExecutor(),
                                  [this, &id] { return d_.cluster->requestCancel(id); });
    if (!asked) co_return std::unexpected(asked.error());
    if (*asked) co_return std::move(**asked);
  }
  // It finished meanwhile.
  t = co_await get(who, id);
  if (t && store::isTerminal(t->status)) co_return conflict(*t);
  co_return t;
}

asio::awaitable<Result<std::unique_ptr<events::Follower>>> ControlService::follow(
    Principal who, std::string id, int64_t afterSeq) {
  auto t = co_await lookup(who, id, /*brief=*/true);
  if (!t) co_return std::unexpected(t.error());
  co_return co_await events::BusFollower::open(d_.bus, d_.store, *t, afterSeq);
}

Result<json::object> ControlService::decide(const SubmitRequest& req) {
  auto ps = policies_->current();
  auto p = plan(req, *ps, jsonText(req.params).size());
  if (!p) return std::unexpected(p.error());
  auto out = router::toJson(*p);
  out["policyDigest"] = ps->digest;
  return out;
}

std::shared_ptr<const std::vector<ModelEntry>> ControlService::catalog() {
  auto ps = policies_->current();
  std::lock_guard lock(catalogMu_);
  if (catalogOf_ != ps) {
    catalog_ = std::make_shared<const std::vector<ModelEntry>>(modelCatalog(*ps));
    catalogOf_ = ps;
  }
  return catalog_;
}

Result<ModelEntry> ControlService::model(const std::string& name, const std::string& intent) {
  return findModel(*catalog(), name, intent);
}

std::vector<ModelEntry> ControlService::models() {
  auto ps = policies_->current();
  auto unavailable = d_.providers.unavailableProviders();
  auto open = d_.providers.unavailableModels();
  std::vector<ModelEntry> out = *catalog();
  for (auto& e : out) {
    if (!e.route.starts_with("model:")) continue;
    std::string name = e.route.substr(6);
    const auto& m = ps->models.at(name);
    if (auto u = unavailable.find(m.provider); u != unavailable.end())
      e.unavailable = "provider '" + m.provider + "': " + u->second;
    else if (auto o = open.find(name); o != open.end())
      e.unavailable = o->second;
  }
  return out;
}

asio::awaitable<Result<json::object>> ControlService::reloadPolicies() {
  co_return co_await offload(d_.blocking, [this] {
    std::lock_guard lock(reloadMu_);
    return reloadLocked();
  });
}

Result<json::object> ControlService::reloadLocked() {
  auto set = policy::loadPolicyDir(opts_.policyDir, opts_.loadOptions);
  std::vector<std::string> errors;
  if (!set) {
    errors = set.error();
  } else if (auto m = d_.modules.load(**set); !m) {
    errors = m.error();
  }
  if (!errors.empty()) {
    d_.metrics.policyReload(false);
    json::array list;
    for (auto& e : errors) list.push_back(json::string(e));
    spdlog::warn("policy reload rejected ({} problem(s)); the previous set stays in force",
                 errors.size());
    return fail(ErrorCode::kInvalidPolicy, "policy set rejected; the previous set stays in force",
                {{"errors", list}, {"digest", policies_->current()->digest}});
  }
  auto previous = policies_->current()->digest;
  d_.providers.configure(**set);
  policies_->swap(*set);
  d_.metrics.policyReload(true);
  spdlog::info("policies reloaded: {} -> {}", previous, (*set)->digest);
  return json::object{{"status", "reloaded"},
                      {"digest", (*set)->digest},
                      {"previousDigest", previous},
                      {"intents", (*set)->intents.size()},
                      {"modules", (*set)->modules.size()},
                      {"models", (*set)->models.size()}};
}

asio::awaitable<Result<json::object>> ControlService::usage(Principal who, store::UsageQuery q) {
  if (!who.has(Role::kAdmin)) q.filters["tenant"] = who.tenant;
  auto rows = co_await offload(d_.store.readExecutor(), [this, &q] { return d_.store.usage(q); });
  if (!rows) co_return std::unexpected(rows.error());
  json::array groups;
  store::UsageRow total;
  for (auto& r : *rows) {
    json::object g;
    for (auto& [k, v] : r.group) g[k] = v;
    g["calls"] = r.calls;
    g["promptTokens"] = r.promptTokens;
    g["completionTokens"] = r.completionTokens;
    g["totalTokens"] = r.promptTokens + r.completionTokens;
    g["costUsd"] = store::fromNanoUsd(r.costNanoUsd);
    g["costNanoUsd"] = r.costNanoUsd;
    g["estimatedCalls"] = r.estimatedCalls;
    groups.push_back(std::move(g));
    total.calls += r.calls;
    total.promptTokens += r.promptTokens;
    total.completionTokens += r.completionTokens;
    total.costNanoUsd += r.costNanoUsd;
    total.estimatedCalls += r.estimatedCalls;
  }
  json::array groupBy;
  for (auto& g : q.groupBy) groupBy.push_back(json::string(g));
  json::object filters;
  for (auto& [k, v] : q.filters) filters[k] = v;
  if (!q.fromDay.empty()) filters["from"] = q.fromDay;
  if (!q.toDay.empty()) filters["to"] = q.toDay;
  co_return json::object{{"groupBy", groupBy},
                         {"filters", filters},
                         {"groups", groups},
                         {"total",
                          {{"calls", total.calls},
                           {"promptTokens", total.promptTokens},
                           {"completionTokens", total.completionTokens},
                           {"totalTokens", total.promptTokens + total.completionTokens},
                           {"costUsd", store::fromNanoUsd(total.costNanoUsd)},
                           {"costNanoUsd", total.costNanoUsd},
                           {"estimatedCalls", total.estimatedCalls}}}};
}

namespace {

const char* stateName(policy::Verification::State s) {
  switch (s) {
    case policy::Verification::State::kVerified:
      return "verified";
    case policy::Verification::State::kUnsigned:
      return "unsigned";
    case policy::Verification::State::kRefused:
      return "refused";
  }
  return "refused";
}

const char* gpuName(policy::GpuNeed g) {
  return g == policy::GpuNeed::kRequired   ? "required"
         : g == policy::GpuNeed::kOptional ? "optional"
                                           : "none";
}

}  // namespace

json::array ControlService::modules() {
  auto ps = policies_->current();
  auto disabled = registry_ ? registry_->disabled() : std::set<std::string>{};
  json::array out;
  for (auto& [name, m] : ps->modules) {
    const auto& L = m.limits;
    json::object o{{"name", name},
                   {"version", m.version},
                   {"kind", m.kind},
                   {"source", m.source},
                   {"enabled", !disabled.count(name)},
                   {"intents", json::value_from(m.intents)},
                   {"sha256", m.sha256},
                   {"verification",
                    {{"status", stateName(m.verification.state)},
                     {"reason", m.verification.reason},
                     {"signer", m.verification.signer}}},
                   {"limits",
                    {{"memoryMb", L.memoryMb},
                     {"timeoutMs", L.timeoutMs},
                     {"outputBytes", L.outputBytes},
                     {"fuel", L.fuel},
                     {"concurrency", L.concurrency}}},
                   {"resources",
                    {{"gpu", gpuName(m.resources.gpu)}, {"gpuMemoryMb", m.resources.gpuMemoryMb}}}};
    if (!m.manifestPath.empty()) o["manifest"] = m.manifestPath;
    if (!m.sbomPath.empty()) o["sbom"] = m.sbomPath;
    json::array env;
    for (auto& [k, _] : m.env) env.push_back(json::string(k));  // names only: values may be secrets
    o["env"] = env;
    out.push_back(std::move(o));
  }
  return out;
}

asio::awaitable<Result<json::object>> ControlService::registerModule(json::object body) {
  co_return co_await offload(d_.blocking, [this, &body] { return registerModuleBlocking(body); });
}

Result<json::object> ControlService::registerModuleBlocking(const json::object& body) {
  if (!registry_) return fail(ErrorCode::kUnavailable, "this control plane has no module registry");
  std::lock_guard lock(reloadMu_);
  auto name = body.contains("manifest") && body.at("manifest").is_object() &&
                      body.at("manifest").as_object().contains("name") &&
                      body.at("manifest").at("name").is_string()
                  ? std::string(body.at("manifest").at("name").as_string())
                  : std::string();
  if (auto ps = policies_->current(); !name.empty()) {
    if (auto it = ps->modules.find(name); it != ps->modules.end() && it->second.source == "policy")
      return fail(
          ErrorCode::kConflict,
          "module '" + name +
              "' is defined in modules.yml; register under another name or remove it there");
  }
  auto staged = registry_->stage(body, opts_.loadOptions.trust);
  if (!staged) return std::unexpected(staged.error());
  auto previous = registry_->install(*staged);
  if (!previous) return std::unexpected(previous.error());
  Result<json::object> reloaded = fail(ErrorCode::kInternal, "reload did not run");
  try {
    reloaded = reloadLocked();
  } catch (const std::exception& ex) {
    reloaded = fail(ErrorCode::kInternal, std::string("reload failed: ") + ex.what());
  }
  if (!reloaded) {
    registry_->rollback(*staged, *previous);
    // The module hosts may have read the new files before the set was
    // refused; load the restored ones again so hosts and policies agree.
    if (auto again = reloadLocked(); !again)
      spdlog::error("after a refused registration, reloading the previous modules failed: {}",
                    again.error().message);
    auto e = reloaded.error();
    e.message = "module '" + staged->name + "' not registered: " + e.message;
    return std::unexpected(e);
  }
  registry_->commit(*previous);
  spdlog::info("module {} {} registered", staged->name, staged->version);
  for (auto& m : modules())
    if (m.at("name").as_string() == staged->name)
      return json::object{
          {"status", "registered"}, {"module", m}, {"digest", (*reloaded)["digest"]}};
  return fail(ErrorCode::kInternal, "registered module missing after reload");
}

asio::awaitable<Result<json::object>> ControlService::setModuleEnabled(std::string name,
                                                                       bool enabled) {
  if (!registry_)
    co_return fail(ErrorCode::kUnavailable, "this control plane has no module registry");
  auto ps = policies_->current();
  if (!ps->modules.count(name)) co_return fail(ErrorCode::kNotFound, "no module '" + name + "'");
  auto st = co_await offload(
      d_.blocking, [this, &name, enabled] { return registry_->setEnabled(name, enabled); });
  if (!st) co_return std::unexpected(st.error());
  spdlog::info("module {} {}", name, enabled ? "enabled" : "disabled");
  for (auto& m : modules())
    if (m.at("name").as_string() == name) co_return m.as_object();
  co_return fail(ErrorCode::kNotFound, "no module '" + name + "'");
}

std::pair<bool, json::object> ControlService::readiness() {
  auto ps = policies_->current();
  json::array unsignedMods, refused;
  for (auto& [name, m] : ps->modules) {
    if (m.verification.state == policy::Verification::State::kUnsigned)
      unsignedMods.push_back(json::string(name));
    else if (!m.usable())
      refused.push_back(json::object{{"name", name}, {"reason", m.verification.reason}});
  }
  json::array gpus;
  for (auto& g : opts_.gpus)
    gpus.push_back(json::object{{"name", g.name}, {"memoryMb", g.memoryMb}});
  std::string store;
  {
    std::lock_guard lock(readyMu_);
    auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - pingSent_);
    if (pingPending_ && waited > 2 * opts_.readinessEvery)
      store = "store: no answer to a read for " + std::to_string(waited.count()) + " ms";
    else if (!storeOk_)
      store = storeProblem_;
  }
  if (store.empty())
    if (auto lag = d_.store.writeBacklog(); lag > 2 * opts_.readinessEvery)
      store = "store: writes waiting " + std::to_string(lag.count()) + " ms to commit";
  bool ok = store.empty();
  json::object checks{{"store", ok ? "ok" : store},
                      {"policies", ps->digest},
                      {"modules", d_.modules.describe().size()},
                      {"unsignedModules", unsignedMods},
                      {"refusedModules", refused},
                      {"gpus", gpus},
                      {"sandbox", opts_.sandbox},
                      {"runningTasks", orchestrator_->running()}};
  return {ok, json::object{{"status", ok ? "ready" : "not_ready"}, {"checks", checks}}};
}

asio::awaitable<Result<json::object>> ControlService::policyFiles() {
  co_return co_await offload(d_.blocking, [this]() -> Result<json::object> {
    std::lock_guard lock(reloadMu_);  // never a file half way through a save
    json::array files;
    for (auto name : kPolicyFileNames) {
      auto text = readPolicyFile(opts_.policyDir, name, opts_.loadOptions.maxFileBytes);
      if (!text) return std::unexpected(text.error());
      files.push_back(json::object{
          {"name", name}, {"text", *text}, {"bytes", text->size()}, {"sha256", sha256Hex(*text)}});
    }
    return json::object{{"files", std::move(files)},
                        {"digest", policies_->current()->digest},
                        {"maxBytes", opts_.loadOptions.maxFileBytes}};
  });
}

asio::awaitable<Result<json::object>> ControlService::putPolicyFile(std::string name,
                                                                    std::string text,
                                                                    std::string expectedSha256,
                                                                    bool dryRun) {
  if (auto ok = checkPolicyFileName(name); !ok) co_return std::unexpected(ok.error());
  if (text.size() > opts_.loadOptions.maxFileBytes)
    co_return fail(
        ErrorCode::kPayloadTooLarge,
        name + " is larger than " + std::to_string(opts_.loadOptions.maxFileBytes) + " bytes");
  co_return co_await offload(d_.blocking, [&, this]() -> Result<json::object> {
    std::lock_guard lock(reloadMu_);
    auto old = readPolicyFile(opts_.policyDir, name, opts_.loadOptions.maxFileBytes);
    if (!old) return std::unexpected(old.error());
    if (!expectedSha256.empty() && expectedSha256 != sha256Hex(*old))
      return fail(ErrorCode::kConflict, name + " changed since it was read; reload it first",
                  {{"sha256", sha256Hex(*old)}});
    auto checked = validateReplacement(opts_.policyDir, name, text, opts_.loadOptions);
    if (!checked) {
      d_.metrics.policyReload(false);
      json::array errors, locations;
      for (auto& e : checked.error()) {
        errors.push_back(json::string(e));
        locations.push_back(locatePolicyError(e));
      }
      spdlog::warn("policy file {} refused ({} problem(s)); nothing changed", name,
                   checked.error().size());
      return fail(
          ErrorCode::kInvalidPolicy, name + " refused; the policy set in force is unchanged",
          {{"errors", errors}, {"locations", locations}, {"digest", policies_->current()->digest}});
    }
    if (dryRun)
      return json::object{{"status", "valid"}, {"file", name}, {"digest", (*checked)->digest}};
    auto path = opts_.policyDir / name;
    if (auto w = writeFileAtomically(path, text); !w) return std::unexpected(w.error());
    auto reloaded = reloadLocked();
    if (!reloaded) {
      if (auto back = writeFileAtomically(path, *old); !back)
        spdlog::error("could not restore {} after a refused reload: {}", name,
                      back.error().message);
      return std::unexpected(reloaded.error());
    }
    spdlog::info("policy file {} saved ({} bytes)", name, text.size());
    (*reloaded)["file"] = name;
    (*reloaded)["sha256"] = sha256Hex(text);
    return std::move(*reloaded);
  });
}

json::array ControlService::intents(const Principal& who) {
  auto ps = policies_->current();
  json::array items;
  for (auto& [name, in] : ps->intents) {
    json::array cands;
    for (auto& c : in.candidates)
      cands.push_back(json::object{{"kind", policy::routeKindName(c.kind)},
                                   {"target", c.target},
                                   {"explicit", c.explicitOnly}});
    items.push_back(json::object{{"name", name},
                                 {"description", in.description},
                                 {"privacy", policy::privacyName(in.privacy)},
                                 {"roles", roleSetString(in.roles)},
                                 {"canSubmit", who.hasAny(in.roles)},
                                 {"timeoutMs", in.timeoutMs},
                                 {"paramsSchema", in.paramsSchema.raw()},
                                 {"candidates", std::move(cands)}});
  }
  return items;
}

}  // namespace aion::control
