#include "control/control_service.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "common/ids.h"
#include "router/router.h"

namespace aion::control {
namespace json = boost::json;
using store::EventDraft;
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
  return std::unique_ptr<ControlService>(
      new ControlService(deps, std::move(opts), *set, std::move(registry)));
}

ControlService::ControlService(Deps deps, Options opts, policy::PolicySetPtr initial,
                               std::unique_ptr<ModuleRegistry> registry)
    : d_(deps),
      opts_(std::move(opts)),
      policies_(std::make_unique<PolicyStore>(std::move(initial))),
      registry_(std::move(registry)) {
  orchestrator_ = std::make_unique<Orchestrator>(
      Orchestrator::Deps{d_.store, d_.modules, d_.providers, d_.ledger, d_.bus, d_.metrics,
                         latency_, *policies_},
      opts_.orchestrator);
}

ControlService::~ControlService() {
  stop();
}

void ControlService::stop() {
  if (orchestrator_) orchestrator_->stop();
}

Status ControlService::recover() {
  // No model call is in flight at start-up: reservations left by a crash go.
  if (auto st = d_.ledger.releaseAll(); !st) return st;
  auto tasks = d_.store.unfinished();
  if (!tasks) return std::unexpected(tasks.error());
  size_t requeued = 0, failed = 0;
  for (auto& t : *tasks) {
    if (t.status != TaskStatus::kRunning) {
      orchestrator_->enqueueRecovered(t.id);
      ++requeued;
      continue;
    }
    // Module routes are pure functions of their input: safe to run again once.
    bool idempotent = true;
    if (auto* routes = t.route.is_object() ? t.route.as_object().if_contains("routes") : nullptr) {
      for (auto& r : routes->as_array())
        idempotent = idempotent && r.at("kind").as_string() == "module";
    }
    store::Transition tr{
        .taskId = t.id, .from = store::maskOf(TaskStatus::kRunning), .to = TaskStatus::kQueued};
    if (!t.cancelRequested && idempotent && t.attempts <= 1) {
      auto r = orchestrator_->transition(
          tr, {{"status", json::object{{"status", "queued"},
                                       {"reason", "interrupted by a restart; retrying once"}}}});
      if (r && *r) {
        orchestrator_->enqueueRecovered(t.id);
        ++requeued;
      }
      continue;
    }
    int64_t now = nowMs();
    tr.to = t.cancelRequested ? TaskStatus::kCanceled : TaskStatus::kFailed;
    tr.finishedMs = now;
    std::vector<EventDraft> evs;
    if (!t.cancelRequested) {
      json::object err{
          {"code", "interrupted"},
          {"message",
           "the process stopped while the task ran and its route is not safe to repeat"}};
      tr.error = err;
      evs.push_back({"error", json::object{{"error", err}}});
    }
    evs.push_back({"done", json::object{{"status", store::statusName(tr.to)}}});
    if (auto r = orchestrator_->transition(tr, evs); r && *r) ++failed;
  }
  if (requeued || failed)
    spdlog::info("recovery: {} task(s) re-queued, {} closed as interrupted", requeued, failed);
  return {};
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
  return router::decide({.tenant = req.principal.tenant,
                         .intent = req.intent,
                         .paramsBytes = paramsBytes,
                         .privacy = req.privacy,
                         .budgetUsd = req.budgetUsd},
                        ps, live);
}

Result<store::Task> ControlService::submit(const SubmitRequest& req) {
  auto ps = policies_->current();
  std::string paramsText = json::serialize(req.params);
  auto p = plan(req, *ps, paramsText.size());
  if (!p) return std::unexpected(p.error());
  const auto* intent = ps->intent(req.intent);
  if (req.timeoutMs && (*req.timeoutMs <= 0 || *req.timeoutMs > intent->timeoutMs)) {
    return fail(ErrorCode::kInvalidRequest, "timeoutMs must be between 1 and the intent's " +
                                                std::to_string(intent->timeoutMs));
  }
  if (!orchestrator_->tryReserve()) {
    return fail(ErrorCode::kUnavailable, "task queue is full; retry later",
                {{"retryAfterSeconds", 1}});
  }
  store::Task t;
  t.id = newTaskId();
  t.tenant = req.principal.tenant;
  t.keyId = req.principal.keyId;
  t.intent = req.intent;
  t.params = req.params;
  t.status = TaskStatus::kRouted;
  auto planJson = router::toJson(*p);
  t.route = planJson;
  t.createdMs = nowMs();
  t.deadlineMs = t.createdMs + req.timeoutMs.value_or(intent->timeoutMs);
  auto evs =
      d_.store.create(t, {{"status", json::object{{"status", "queued"}}},
                          {"route", json::object{{"status", "routed"}, {"plan", planJson}}}});
  if (!evs) {
    orchestrator_->unreserve();
    return std::unexpected(evs.error());
  }
  t.lastSeq = static_cast<int64_t>(evs->size());
  for (auto& e : *evs) d_.bus.publish(e);
  orchestrator_->enqueueReserved(t.id);
  d_.metrics.taskSubmitted(t.intent);
  return t;
}

Result<store::Task> ControlService::get(const Principal& who, const std::string& id) {
  auto t = d_.store.get(id);
  if (!t) return std::unexpected(t.error());
  if (!*t || (*t)->tenant != who.tenant) return fail(ErrorCode::kNotFound, "no task '" + id + "'");
  return std::move(**t);
}

Result<store::TaskPage> ControlService::list(const Principal& who, store::ListQuery q) {
  q.tenant = who.tenant;
  return d_.store.list(q);
}

Result<store::Task> ControlService::cancel(const Principal& who, const std::string& id) {
  auto t = get(who, id);
  if (!t) return t;
  if (store::isTerminal(t->status)) {
    return fail(ErrorCode::kConflict, "task already " + std::string(store::statusName(t->status)),
                {{"status", store::statusName(t->status)}});
  }
  // Durable first: a worker or a restart that sees the flag stops the task.
  if (auto st = d_.store.requestCancel(id); !st) return std::unexpected(st.error());
  store::Transition tr{
      .taskId = id,
      .from = store::maskOf(TaskStatus::kQueued) | store::maskOf(TaskStatus::kRouted),
      .to = TaskStatus::kCanceled};
  tr.finishedMs = nowMs();
  auto r = orchestrator_->transition(tr, {{"done", json::object{{"status", "canceled"}}}});
  if (!r) return std::unexpected(r.error());
  if (!*r) orchestrator_->cancelRunning(id);
  return get(who, id);
}

Result<std::vector<store::Event>> ControlService::events(const Principal& who,
                                                         const std::string& id, int64_t afterSeq,
                                                         int limit) {
  if (auto t = get(who, id); !t) return std::unexpected(t.error());
  return d_.store.events(id, afterSeq, limit);
}

std::unique_ptr<events::EventBus::Subscription> ControlService::subscribe(
    const std::string& taskId, events::EventBus::Listener fn) {
  return d_.bus.subscribe(taskId, std::move(fn));
}

Result<json::object> ControlService::decide(const SubmitRequest& req) {
  auto ps = policies_->current();
  auto p = plan(req, *ps, json::serialize(req.params).size());
  if (!p) return std::unexpected(p.error());
  auto out = router::toJson(*p);
  out["policyDigest"] = ps->digest;
  return out;
}

Result<json::object> ControlService::reloadPolicies() {
  std::lock_guard lock(reloadMu_);
  return reloadLocked();
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

Result<json::object> ControlService::usage(const Principal& who, store::UsageQuery q) {
  if (!who.has(Role::kAdmin)) q.filters["tenant"] = who.tenant;
  auto rows = d_.ledger.usage(q);
  if (!rows) return std::unexpected(rows.error());
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
  return json::object{{"groupBy", groupBy},
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

Result<json::object> ControlService::registerModule(const json::object& body) {
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

Result<json::object> ControlService::setModuleEnabled(const std::string& name, bool enabled) {
  if (!registry_) return fail(ErrorCode::kUnavailable, "this control plane has no module registry");
  auto ps = policies_->current();
  if (!ps->modules.count(name)) return fail(ErrorCode::kNotFound, "no module '" + name + "'");
  if (auto st = registry_->setEnabled(name, enabled); !st) return std::unexpected(st.error());
  spdlog::info("module {} {}", name, enabled ? "enabled" : "disabled");
  for (auto& m : modules())
    if (m.at("name").as_string() == name) return m.as_object();
  return fail(ErrorCode::kNotFound, "no module '" + name + "'");
}

std::pair<bool, json::object> ControlService::readiness() {
  auto ps = policies_->current();
  auto st = d_.store.ping();
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
  json::object checks{{"store", st ? "ok" : st.error().message},
                      {"policies", ps->digest},
                      {"modules", d_.modules.describe().size()},
                      {"unsignedModules", unsignedMods},
                      {"refusedModules", refused},
                      {"gpus", gpus},
                      {"sandbox", opts_.sandbox}};
  return {st.has_value(), json::object{{"status", st ? "ready" : "not_ready"}, {"checks", checks}}};
}

}  // namespace aion::control
