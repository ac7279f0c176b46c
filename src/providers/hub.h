#pragma once
// The model providers of the current policy set, ready to call: base URLs
// and credentials resolved from the environment (or a secrets file), one
// pooled HTTP client, retries with jittered backoff honouring Retry-After,
// and a circuit breaker per provider+model that outlives policy reloads.
// A provider whose variables are missing is unavailable, with the reason the
// routing explanation shows; credentials are never logged or returned.
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <stop_token>
#include <string>

#include "policy/policy.h"
#include "providers/http_client.h"
#include "providers/resilience.h"
#include "providers/wire.h"
#include "telemetry/metrics.h"

namespace aion::providers {

using EnvLookup = std::function<std::optional<std::string>(const char*)>;

struct CallControl {
  std::stop_token stop{};
  Clock::time_point deadline = Clock::time_point::max();
  //! Told about each retry: {"retry", "error", "delayMs"}.
  std::function<void(const boost::json::object&)> onRetry{};
  //! Sent as the `traceparent` and `tracestate` headers of each exchange (empty: none).
  std::string traceparent{};
  std::string tracestate{};
};

class ProviderHub {
 public:
  ProviderHub(EnvLookup env, telemetry::Metrics& metrics);

  //! Resolves the providers and models of `ps`; breakers carry over.
  void configure(const policy::PolicySet& ps);
  //! Provider name → why it cannot be used (missing variable, bad URL).
  std::map<std::string, std::string> unavailableProviders() const;
  //! Model name → why it cannot be used now (open circuit).
  std::map<std::string, std::string> unavailableModels() const;

  //! A chat completion; fragments go to `onDelta` as they arrive (streamed
  //! calls; it runs on the caller's loop). Retries only before the first
  //! fragment. A route that cannot honour the call is kInvalidRequest.
  boost::asio::awaitable<Result<ChatResult>> chat(std::string model, ChatCall call,
                                                  DeltaSink onDelta, CallControl ctl);
  boost::asio::awaitable<Result<EmbedResult>> embed(std::string model,
                                                    std::vector<std::string> inputs,
                                                    CallControl ctl);

 private:
  struct Resolved {
    policy::Provider provider;
    std::optional<Endpoint> endpoint;  // nullopt: unavailable
    std::string reason;
  };
  struct ModelEntry {
    policy::Model model;
    std::string provider;
  };
  struct Snapshot {
    std::map<std::string, Resolved> providers;
    std::map<std::string, ModelEntry> models;
  };
  //! Where a call to `model` goes: its provider and endpoint (with the
  //! model's upstream name), or why it cannot go anywhere.
  struct Target {
    std::shared_ptr<const Snapshot> snap;  // keeps `provider` alive
    const Resolved* provider = nullptr;
    Endpoint endpoint;
  };
  Result<Target> target(const std::string& model) const;
  std::shared_ptr<CircuitBreaker> breaker(const std::string& provider, const std::string& model,
                                          const policy::BreakerPolicy& p);
  //! One logical call with retries; `exchange` runs one HTTP exchange.
  template <typename R>
  boost::asio::awaitable<Result<R>> withRetries(
      const Resolved& p, const std::string& model, const CallControl& ctl,
      std::function<boost::asio::awaitable<Result<R>>(Timeouts, bool& progressed)> exchange);

  EnvLookup env_;
  telemetry::Metrics& metrics_;
  HttpClient http_;
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> snap_ = std::make_shared<Snapshot>();
  std::map<std::string, std::shared_ptr<CircuitBreaker>> breakers_;  // "provider/model"
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace aion::providers
