#pragma once
// Prometheus metrics (prometheus-cpp), one registry per process. Names follow
// aion_<subsystem>_<what>_<unit>.
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace aion::telemetry {

class Metrics {
 public:
  Metrics();

  //! Prometheus text exposition of everything registered.
  std::string serialize() const;
  prometheus::Registry& registry() { return *registry_; }

  void httpRequest(const std::string& listener, const std::string& route, int status,
                   double seconds);
  void taskSubmitted(const std::string& intent);
  void taskFinished(const std::string& intent, const std::string& status, double seconds);
  //! A module call: outcome and latency; fuel used and memory (-1: not
  //! known); the limit that stopped it (empty: none).
  void moduleCall(const std::string& module, bool ok, double seconds, int64_t fuel = -1,
                  int64_t memoryBytes = -1, const std::string& limit = {});
  void policyReload(bool ok);
  //! One HTTP exchange with a model provider (each retry counts).
  void providerCall(const std::string& provider, const std::string& model,
                    const std::string& outcome, double seconds);
  //! One call to the vector index (engine in-process or qdrant; op search,
  //! upsert, …; outcome ok or an error code).
  void vectorCall(const std::string& engine, const std::string& op, const std::string& outcome,
                  double seconds);
  //! One call to the task document store (engine mongodb; op put,
  //! append_events, get, events, ping; outcome ok or an error code).
  void documentCall(const std::string& engine, const std::string& op, const std::string& outcome,
                    double seconds);
  //! Tokens and spend of a finished model call, by tenant.
  void spend(const std::string& provider, const std::string& model, const std::string& tenant,
             int64_t promptTokens, int64_t completionTokens, double usd);
  //! What aionOS added to one task: accepted to finished, minus the time
  //! inside modules and provider calls (aion_gateway_overhead_seconds).
  void overhead(const std::string& surface, const std::string& route, double seconds);
  //! A feature served in degraded mode (e.g. Redis down: "ratelimit", "idempotency").
  void degraded(const std::string& feature);
  //! Admission refused a request: rate_limit_ip, rate_limit_key, unauthenticated, stream_limit.
  void rejected(const std::string& reason);
  //! A stream the gateway ended on its side (reason: slow_reader).
  void streamDropped(const std::string& surface, const std::string& reason);
  //! A request with an Idempotency-Key: first, replayed, conflict, in_progress.
  void idempotency(const std::string& outcome);
  //! The plan of a submitted task (route "none": every candidate was dropped).
  void routeDecision(const std::string& intent, const std::string& route,
                     const std::string& privacy);
  //! A route failed and the task moved on to the next one.
  void fallback(const std::string& intent, const std::string& from, const std::string& to);
  //! One store transaction and the writes it carried.
  void storeCommit(double seconds, size_t writes);
  void storeBacklog(double seconds);
  //! A task that asked to be written behind was stored durably: the writer
  //! was more than the write-behind window behind (AION_DURABILITY=async).
  void behindRefused();
  //! Tasks deleted by retention (AION_TASK_RETENTION_DAYS).
  void tasksPurged(size_t n);
  //! A capped budget's spend in its current period (scope: tenant:<t> or key:<id>).
  void budget(const std::string& scope, const std::string& period, double spentUsd, double capUsd);
  //! Spans by outcome: exported, failed (the collector refused or was down), dropped (queue full).
  void spans(const std::string& outcome, size_t n);
  //! Records relayed to an event sink (kafka): delivered or failed (retried).
  void sinkMessages(const std::string& sink, const std::string& outcome, size_t n);
  //! Whether the sink's last batch was acknowledged.
  void sinkUp(const std::string& sink, bool up);
  //! Tasks this control plane took from others (reason: takeover, a gone
  //! plane's; shared, from a busy plane's queue).
  void tasksTaken(const std::string& reason, size_t n);
  //! Runs before each scrape, to set gauges read from elsewhere (one hook).
  void onScrape(std::function<void()> refresh);
  prometheus::Gauge& queueDepth() { return *queueDepth_; }
  prometheus::Gauge& queueCapacity() { return *queueCapacity_; }
  prometheus::Gauge& runningTasks() { return *running_; }
  prometheus::Gauge& openStreams() { return *streams_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  uint64_t id_;  // tells instances apart in the per-thread cache of children
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* requestSeconds_;
  prometheus::Family<prometheus::Counter>* submitted_;
  prometheus::Family<prometheus::Counter>* finished_;
  prometheus::Family<prometheus::Histogram>* taskSeconds_;
  prometheus::Family<prometheus::Counter>* moduleCalls_;
  prometheus::Family<prometheus::Counter>* moduleFuel_;
  prometheus::Family<prometheus::Histogram>* moduleMemory_;
  prometheus::Family<prometheus::Counter>* moduleLimits_;
  prometheus::Family<prometheus::Histogram>* moduleSeconds_;
  prometheus::Family<prometheus::Counter>* reloads_;
  prometheus::Family<prometheus::Counter>* degraded_;
  prometheus::Family<prometheus::Counter>* providerCalls_;
  prometheus::Family<prometheus::Histogram>* providerSeconds_;
  prometheus::Family<prometheus::Counter>* vectorCalls_;
  prometheus::Family<prometheus::Histogram>* vectorSeconds_;
  prometheus::Family<prometheus::Counter>* documentCalls_;
  prometheus::Family<prometheus::Histogram>* documentSeconds_;
  prometheus::Family<prometheus::Counter>* tokens_;
  prometheus::Family<prometheus::Counter>* costUsd_;
  prometheus::Family<prometheus::Histogram>* overhead_;
  prometheus::Family<prometheus::Counter>* rejected_;
  prometheus::Family<prometheus::Counter>* streamDrops_;
  prometheus::Family<prometheus::Counter>* tasksTaken_;
  prometheus::Counter* behindRefused_;
  prometheus::Counter* tasksPurged_;
  prometheus::Family<prometheus::Counter>* idempotency_;
  prometheus::Family<prometheus::Counter>* decisions_;
  prometheus::Family<prometheus::Counter>* fallbacks_;
  prometheus::Histogram* storeCommit_;
  prometheus::Counter* storeWrites_;
  prometheus::Gauge* storeBacklog_;
  prometheus::Family<prometheus::Gauge>* budgetSpent_;
  prometheus::Family<prometheus::Gauge>* budgetCap_;
  prometheus::Family<prometheus::Counter>* spans_;
  prometheus::Family<prometheus::Counter>* sinkMessages_;
  prometheus::Family<prometheus::Gauge>* sinkUp_;
  mutable std::mutex mu_;
  std::function<void()> onScrape_;
  prometheus::Gauge* queueDepth_;
  prometheus::Gauge* queueCapacity_;
  prometheus::Gauge* running_;
  prometheus::Gauge* streams_;
};

}  // namespace aion::telemetry
