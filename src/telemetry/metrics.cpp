#include "telemetry/metrics.h"

#include <prometheus/text_serializer.h>

#include <atomic>
#include <map>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace aion::telemetry {
namespace {
const prometheus::Histogram::BucketBoundaries kLatencyBuckets{
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
// What aionOS adds is meant to be tens to hundreds of microseconds.
const prometheus::Histogram::BucketBoundaries kOverheadBuckets{
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1};

std::atomic<uint64_t> nextMetricsId{1};

using LabelList = std::initializer_list<std::pair<const char*, std::string_view>>;

// Family::Add builds a std::map of the labels, hashes it and takes the
// family's lock on every call; the request path records a dozen label sets
// per call, the same ones over and over. Each thread remembers the children
// it has seen (families never remove any). The key starts with the Metrics
// instance's id, so a later instance at the same address never finds an
// earlier one's children.
template <class T, class... A>
T& child(uint64_t metricsId, prometheus::Family<T>* f, LabelList labels, const A&... args) {
  thread_local std::unordered_map<std::string, void*> known;
  thread_local std::string key;
  key.assign(reinterpret_cast<const char*>(&metricsId), sizeof metricsId);
  key.append(reinterpret_cast<const char*>(&f), sizeof f);
  for (auto& [name, value] : labels) {
    auto n = static_cast<uint32_t>(value.size());
    key.append(name).push_back('\0');
    key.append(reinterpret_cast<const char*>(&n), sizeof n).append(value);
  }
  if (auto it = known.find(key); it != known.end()) return *static_cast<T*>(it->second);
  std::map<std::string, std::string> m;
  for (auto& [name, value] : labels) m.emplace(name, std::string(value));
  T& c = f->Add(m, args...);
  known.emplace(key, &c);
  return c;
}
}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()), id_(nextMetricsId.fetch_add(1)) {
  using namespace prometheus;
  requests_ = &BuildCounter()
                   .Name("aion_http_requests_total")
                   .Help("HTTP requests by listener, route and status")
                   .Register(*registry_);
  requestSeconds_ = &BuildHistogram()
                         .Name("aion_http_request_duration_seconds")
                         .Help("HTTP request latency")
                         .Register(*registry_);
  submitted_ = &BuildCounter()
                    .Name("aion_tasks_submitted_total")
                    .Help("Tasks accepted, by intent")
                    .Register(*registry_);
  finished_ = &BuildCounter()
                   .Name("aion_tasks_finished_total")
                   .Help("Tasks finished, by intent and status")
                   .Register(*registry_);
  taskSeconds_ = &BuildHistogram()
                      .Name("aion_task_duration_seconds")
                      .Help("Submit-to-finish task latency")
                      .Register(*registry_);
  moduleCalls_ = &BuildCounter()
                      .Name("aion_module_calls_total")
                      .Help("Module calls by module and outcome")
                      .Register(*registry_);
  moduleSeconds_ = &BuildHistogram()
                        .Name("aion_module_call_duration_seconds")
                        .Help("Module call latency")
                        .Register(*registry_);
  moduleFuel_ = &BuildCounter()
                     .Name("aion_module_fuel_consumed_total")
                     .Help("WASM fuel consumed by modules metered with limits.fuel")
                     .Register(*registry_);
  moduleMemory_ = &BuildHistogram()
                       .Name("aion_module_memory_bytes")
                       .Help("Peak memory of a module call: WASM linear memory, subprocess RSS")
                       .Register(*registry_);
  moduleLimits_ = &BuildCounter()
                       .Name("aion_module_limit_hits_total")
                       .Help(
                           "Module calls stopped by a limit or the sandbox, by limit: fuel, "
                           "wall_time, cpu_time, memory, output, syscall (seccomp)")
                       .Register(*registry_);
  reloads_ = &BuildCounter()
                  .Name("aion_policy_reloads_total")
                  .Help("Policy reloads by result")
                  .Register(*registry_);
  degraded_ = &BuildCounter()
                   .Name("aion_gateway_degraded_total")
                   .Help("Requests served without a dependency (e.g. Redis down), by feature")
                   .Register(*registry_);
  providerCalls_ = &BuildCounter()
                        .Name("aion_provider_requests_total")
                        .Help("HTTP exchanges with model providers by provider, model and outcome")
                        .Register(*registry_);
  providerSeconds_ = &BuildHistogram()
                          .Name("aion_provider_request_duration_seconds")
                          .Help("Model provider exchange latency")
                          .Register(*registry_);
  vectorCalls_ = &BuildCounter()
                      .Name("aion_vector_requests_total")
                      .Help("Vector index calls by engine, operation and outcome")
                      .Register(*registry_);
  vectorSeconds_ = &BuildHistogram()
                        .Name("aion_vector_request_duration_seconds")
                        .Help("Vector index call latency by engine and operation")
                        .Register(*registry_);
  documentCalls_ = &BuildCounter()
                        .Name("aion_store_document_requests_total")
                        .Help("Task document store calls by engine, operation and outcome")
                        .Register(*registry_);
  documentSeconds_ = &BuildHistogram()
                          .Name("aion_store_document_request_duration_seconds")
                          .Help("Task document store call latency by engine and operation")
                          .Register(*registry_);
  tokens_ = &BuildCounter()
                 .Name("aion_tokens_total")
                 .Help("Model tokens by provider, model, tenant and direction (prompt|completion)")
                 .Register(*registry_);
  costUsd_ = &BuildCounter()
                  .Name("aion_cost_usd_total")
                  .Help("Metered spend in USD by provider, model and tenant")
                  .Register(*registry_);
  overhead_ = &BuildHistogram()
                   .Name("aion_gateway_overhead_seconds")
                   .Help(
                       "Time aionOS added to a task (accepted to finished, minus time inside "
                       "modules and model providers), by surface and route")
                   .Register(*registry_);
  queueDepth_ = &BuildGauge()
                     .Name("aion_orchestrator_queue_depth")
                     .Help("Tasks waiting for a worker")
                     .Register(*registry_)
                     .Add({});
  queueCapacity_ =
      &BuildGauge()
           .Name("aion_orchestrator_queue_capacity")
           .Help("Tasks that may wait for a slot before submissions get 503 (AION_QUEUE_MAX)")
           .Register(*registry_)
           .Add({});
  running_ = &BuildGauge()
                  .Name("aion_orchestrator_running_tasks")
                  .Help("Tasks being executed")
                  .Register(*registry_)
                  .Add({});
  rejected_ = &BuildCounter()
                   .Name("aion_gateway_rejections_total")
                   .Help(
                       "Requests refused by admission, by reason (rate_limit_ip, rate_limit_key, "
                       "unauthenticated, stream_limit)")
                   .Register(*registry_);
  idempotency_ = &BuildCounter()
                      .Name("aion_gateway_idempotency_requests_total")
                      .Help(
                          "Requests with an Idempotency-Key, by outcome (first, replayed, "
                          "conflict, in_progress)")
                      .Register(*registry_);
  decisions_ = &BuildCounter()
                    .Name("aion_route_decisions_total")
                    .Help("Routing decisions by intent, primary route (none: no route) and privacy")
                    .Register(*registry_);
  fallbacks_ = &BuildCounter()
                    .Name("aion_route_fallbacks_total")
                    .Help("A task's route failed and the next one ran, by intent and routes")
                    .Register(*registry_);
  storeCommit_ = &BuildHistogram()
                      .Name("aion_store_commit_duration_seconds")
                      .Help("One store transaction (group commit), fsync included when durable")
                      .Register(*registry_)
                      .Add({}, kLatencyBuckets);
  storeWrites_ = &BuildCounter()
                      .Name("aion_store_writes_total")
                      .Help("Writes committed to the task store (many share a transaction)")
                      .Register(*registry_)
                      .Add({});
  storeBacklog_ =
      &BuildGauge()
           .Name("aion_store_write_backlog_seconds")
           .Help("Age of the oldest write not yet committed (writes behind: past their window)")
           .Register(*registry_)
           .Add({});
  budgetSpent_ =
      &BuildGauge()
           .Name("aion_budget_spent_usd")
           .Help("Spend in the current period of each budget with a cap, by scope and period")
           .Register(*registry_);
  budgetCap_ = &BuildGauge()
                    .Name("aion_budget_cap_usd")
                    .Help("Cap of each budget, by scope and period")
                    .Register(*registry_);
  spans_ = &BuildCounter()
                .Name("aion_trace_spans_total")
                .Help(
                    "Trace spans by outcome: exported, failed (collector down or refusing), "
                    "dropped (queue full)")
                .Register(*registry_);
  sinkMessages_ = &BuildCounter()
                       .Name("aion_sink_messages_total")
                       .Help(
                           "Outbox records relayed to an event sink, by sink and outcome: "
                           "delivered, failed (kept in the outbox and retried)")
                       .Register(*registry_);
  sinkUp_ = &BuildGauge()
                 .Name("aion_sink_up")
                 .Help("1 when the event sink acknowledged its last batch, 0 while it fails")
                 .Register(*registry_);
  BuildGauge()
      .Name("aion_build_info")
      .Help("The running aiond's version (value 1)")
      .Register(*registry_)
      .Add({{"version", AION_VERSION}})
      .Set(1);
  behindRefused_ = &BuildCounter()
                        .Name("aion_store_behind_refused_total")
                        .Help(
                            "Calls that asked to be written behind but were stored durably: "
                            "the writer was more than AION_WRITE_BEHIND_MS behind")
                        .Register(*registry_)
                        .Add({});
  tasksPurged_ = &BuildCounter()
                      .Name("aion_store_tasks_purged_total")
                      .Help("Finished tasks deleted with their events by AION_TASK_RETENTION_DAYS")
                      .Register(*registry_)
                      .Add({});
  tasksTaken_ = &BuildCounter()
                     .Name("aion_control_tasks_taken_total")
                     .Help("Tasks this control plane took from others (takeover, shared)")
                     .Register(*registry_);
  streamDrops_ = &BuildCounter()
                      .Name("aion_gateway_stream_drops_total")
                      .Help("Streams the gateway ended because the client could not keep up")
                      .Register(*registry_);
  streams_ = &BuildGauge()
                  .Name("aion_gateway_open_streams")
                  .Help("Open streams (SSE, WebSocket, OpenAI streaming, gRPC)")
                  .Register(*registry_)
                  .Add({});
}

std::string Metrics::serialize() const {
  std::function<void()> refresh;
  {
    std::lock_guard lock(mu_);
    refresh = onScrape_;
  }
  if (refresh) refresh();
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

void Metrics::onScrape(std::function<void()> refresh) {
  std::lock_guard lock(mu_);
  onScrape_ = std::move(refresh);
}

void Metrics::spans(const std::string& outcome, size_t n) {
  child(id_, spans_, {{"outcome", outcome}}).Increment(static_cast<double>(n));
}

void Metrics::sinkMessages(const std::string& sink, const std::string& outcome, size_t n) {
  if (n)
    child(id_, sinkMessages_, {{"sink", sink}, {"outcome", outcome}})
        .Increment(static_cast<double>(n));
}

void Metrics::sinkUp(const std::string& sink, bool up) {
  child(id_, sinkUp_, {{"sink", sink}}).Set(up ? 1 : 0);
}

void Metrics::rejected(const std::string& reason) {
  child(id_, rejected_, {{"reason", reason}}).Increment();
}

void Metrics::streamDropped(const std::string& surface, const std::string& reason) {
  child(id_, streamDrops_, {{"surface", surface}, {"reason", reason}}).Increment();
}

void Metrics::tasksPurged(size_t n) {
  tasksPurged_->Increment(static_cast<double>(n));
}

void Metrics::behindRefused() {
  behindRefused_->Increment();
}

void Metrics::tasksTaken(const std::string& reason, size_t n) {
  child(id_, tasksTaken_, {{"reason", reason}}).Increment(static_cast<double>(n));
}

void Metrics::idempotency(const std::string& outcome) {
  child(id_, idempotency_, {{"outcome", outcome}}).Increment();
}

void Metrics::routeDecision(const std::string& intent, const std::string& route,
                            const std::string& privacy) {
  child(id_, decisions_, {{"intent", intent}, {"route", route}, {"privacy", privacy}}).Increment();
}

void Metrics::fallback(const std::string& intent, const std::string& from, const std::string& to) {
  child(id_, fallbacks_, {{"intent", intent}, {"from", from}, {"to", to}}).Increment();
}

void Metrics::storeCommit(double seconds, size_t writes) {
  storeCommit_->Observe(seconds);
  storeWrites_->Increment(static_cast<double>(writes));
}

void Metrics::storeBacklog(double seconds) {
  storeBacklog_->Set(seconds);
}

void Metrics::budget(const std::string& scope, const std::string& period, double spentUsd,
                     double capUsd) {
  child(id_, budgetSpent_, {{"scope", scope}, {"period", period}}).Set(spentUsd);
  child(id_, budgetCap_, {{"scope", scope}, {"period", period}}).Set(capUsd);
}

void Metrics::httpRequest(const std::string& listener, const std::string& route, int status,
                          double seconds) {
  child(id_, requests_,
        {{"listener", listener}, {"route", route}, {"code", std::to_string(status)}})
      .Increment();
  child(id_, requestSeconds_, {{"listener", listener}, {"route", route}}, kLatencyBuckets)
      .Observe(seconds);
}

void Metrics::taskSubmitted(const std::string& intent) {
  child(id_, submitted_, {{"intent", intent}}).Increment();
}

void Metrics::taskFinished(const std::string& intent, const std::string& status, double seconds) {
  child(id_, finished_, {{"intent", intent}, {"status", status}}).Increment();
  child(id_, taskSeconds_, {{"intent", intent}}, kLatencyBuckets).Observe(seconds);
}

void Metrics::moduleCall(const std::string& module, bool ok, double seconds, int64_t fuel,
                         int64_t memoryBytes, const std::string& limit) {
  static const prometheus::Histogram::BucketBoundaries kMemoryBuckets{
      1 << 20, 4 << 20, 16 << 20, 64 << 20, 256 << 20, 1 << 30, 4.0 * (1 << 30)};
  child(id_, moduleCalls_, {{"module", module}, {"outcome", ok ? "ok" : "error"}}).Increment();
  child(id_, moduleSeconds_, {{"module", module}}, kLatencyBuckets).Observe(seconds);
  if (fuel >= 0) child(id_, moduleFuel_, {{"module", module}}).Increment(static_cast<double>(fuel));
  if (memoryBytes >= 0)
    child(id_, moduleMemory_, {{"module", module}}, kMemoryBuckets)
        .Observe(static_cast<double>(memoryBytes));
  if (!limit.empty()) child(id_, moduleLimits_, {{"module", module}, {"limit", limit}}).Increment();
}

void Metrics::overhead(const std::string& surface, const std::string& route, double seconds) {
  child(id_, overhead_, {{"surface", surface}, {"route", route}}, kOverheadBuckets)
      .Observe(seconds);
}

void Metrics::degraded(const std::string& feature) {
  child(id_, degraded_, {{"feature", feature}}).Increment();
}

void Metrics::policyReload(bool ok) {
  child(id_, reloads_, {{"result", ok ? "ok" : "rejected"}}).Increment();
}

void Metrics::providerCall(const std::string& provider, const std::string& model,
                           const std::string& outcome, double seconds) {
  child(id_, providerCalls_, {{"provider", provider}, {"model", model}, {"outcome", outcome}})
      .Increment();
  child(id_, providerSeconds_, {{"provider", provider}, {"model", model}}, kLatencyBuckets)
      .Observe(seconds);
}

void Metrics::vectorCall(const std::string& engine, const std::string& op,
                         const std::string& outcome, double seconds) {
  child(id_, vectorCalls_, {{"engine", engine}, {"op", op}, {"outcome", outcome}}).Increment();
  child(id_, vectorSeconds_, {{"engine", engine}, {"op", op}}, kLatencyBuckets).Observe(seconds);
}

void Metrics::documentCall(const std::string& engine, const std::string& op,
                           const std::string& outcome, double seconds) {
  child(id_, documentCalls_, {{"engine", engine}, {"op", op}, {"outcome", outcome}}).Increment();
  child(id_, documentSeconds_, {{"engine", engine}, {"op", op}}, kLatencyBuckets).Observe(seconds);
}

void Metrics::spend(const std::string& provider, const std::string& model,
                    const std::string& tenant, int64_t promptTokens, int64_t completionTokens,
                    double usd) {
  child(id_, tokens_,
        {{"provider", provider}, {"model", model}, {"tenant", tenant}, {"direction", "prompt"}})
      .Increment(static_cast<double>(promptTokens));
  child(id_, tokens_,
        {{"provider", provider}, {"model", model}, {"tenant", tenant}, {"direction", "completion"}})
      .Increment(static_cast<double>(completionTokens));
  child(id_, costUsd_, {{"provider", provider}, {"model", model}, {"tenant", tenant}})
      .Increment(usd);
}

}  // namespace aion::telemetry
