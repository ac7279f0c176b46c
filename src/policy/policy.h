#pragma once
// The validated, immutable policy snapshot (STYLE.md §7). Built by the loader
// from the four files in AION_POLICY_DIR; swapped whole on reload.
#include <boost/json/value.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/principal.h"
#include "policy/json_schema.h"

namespace aion::policy {

enum class PrivacyMode { kLocalOnly, kHybrid, kAllowApi };  // strictest first
enum class RouteKind { kModule, kModel };

std::optional<PrivacyMode> parsePrivacy(std::string_view s);
std::string_view privacyName(PrivacyMode m);
std::string_view routeKindName(RouteKind k);
//! True when `a` allows no more than `b` (local-only is the strictest).
inline bool atLeastAsStrict(PrivacyMode a, PrivacyMode b) {
  return a <= b;
}

struct Candidate {
  RouteKind kind = RouteKind::kModule;
  std::string target;         // module or model name
  bool explicitOnly = false;  // serves only requests that name it (`explicit: true`)
};

//! How an intent uses the vector index (intents.yml `vectors`).
enum class VectorMode {
  kNone,
  //! The task is a nearest-neighbour search: its route (the embedding
  //! module) embeds params.query; the result is the nearest chunks of
  //! params.collection.
  kSearch,
  //! params.context {collection, top_k, query?} is optional: the chunks
  //! nearest to the query (default: the last user message) go before the
  //! prompt, as a system message.
  kContext,
};

struct Intent {
  std::string name;
  std::string description;
  PrivacyMode privacy = PrivacyMode::kLocalOnly;
  RoleSet roles = 0;
  std::vector<Candidate> candidates;
  JsonSchema paramsSchema;
  int timeoutMs = 30000;
  int maxOutputTokens = 256;           // for cost estimates of model routes
  std::optional<int> latencyTargetMs;  // overrides policies.yml targets for this intent
  // Hybrid privacy: the local module that masks PII before a remote route
  // (default: the module named "redact" when loaded), and whether answers
  // are re-hydrated.
  std::string redactModule;
  bool rehydrate = true;
  std::optional<double> budgetUsd;
  VectorMode vectors = VectorMode::kNone;
  std::string vectorModule;  // the embedding module (`vectors.module`), when vectors are used
};

struct ProviderTimeouts {
  int connectMs = 5000;
  int readMs = 30000;    // longest silence between bytes (stalled streams)
  int totalMs = 120000;  // whole call; the task deadline may cut it shorter
};

struct RetryPolicy {
  int max = 2;  // retries after the first try (429, 5xx, connection errors)
  int baseMs = 250;
  int maxMs = 8000;
};

struct BreakerPolicy {
  int failures = 5;    // consecutive failures that open the circuit
  int openMs = 30000;  // then one trial call is let through
};

struct Provider {
  std::string name;
  std::string kind;  // openai | azure | huggingface | vllm | ollama
  std::string baseUrl;
  std::string baseUrlEnv;  // when set and non-empty in the environment, wins over baseUrl
  bool local = false;
  std::string credentialEnv;   // empty: needs no credential
  std::string credentialFile;  // a secrets file holding the credential
  bool credentialOptional = false;
  std::string apiVersion;  // azure
  std::string api;         // huggingface: tgi | openai
  ProviderTimeouts timeouts;
  RetryPolicy retries;
  BreakerPolicy breaker;
};

struct Model {
  std::string name;
  std::string provider;
  std::string upstream;       // name at the provider (Azure: deployment); default: name
  std::string upstreamEnv;    // environment variable overriding `upstream`
  std::string type = "chat";  // chat | embedding
  std::string tier;
  double priceInPerMTok = 0;
  double priceOutPerMTok = 0;
  int contextWindow = 0;
  int latencyMs = 1000;
};

struct ModuleLimits {
  int memoryMb = 64;
  int timeoutMs = 5000;
  int64_t outputBytes = 1 << 20;
  uint64_t fuel = 0;    // wasm: instructions budget per call; 0 = unmetered
  int concurrency = 0;  // calls running at once; 0 = no per-module limit
  int cpuMs = 0;        // subprocess: CPU time (RLIMIT_CPU, rounded up to s); 0 = timeoutMs
  int maxFiles = 64;    // subprocess: RLIMIT_NOFILE
  int maxProcs = 1;     // subprocess: processes/threads the module may have (1 = no fork)
};

enum class GpuNeed { kNone, kOptional, kRequired };

struct ModuleResources {
  GpuNeed gpu = GpuNeed::kNone;
  int gpuMemoryMb = 0;  // required device memory, when gpu != none
};

//! Outcome of checking a module's manifest, digest, signature and SBOM.
struct Verification {
  // Refused until checked: a code path that forgets to verify fails closed.
  enum class State { kVerified, kUnsigned, kRefused } state = State::kRefused;
  std::string reason = "not verified";  // why refused / unsigned; empty when verified
  std::string signer;                   // "sha256:<fingerprint of the public key>" when verified
  std::string sha256;                   // of the artifact bytes that were checked
};

struct Module {
  std::string name;
  std::string version;
  std::string kind;          // wasm | subprocess
  std::string artifactPath;  // resolved absolute path
  std::string sha256;        // declared digest, empty if not declared
  std::string manifestPath;  // empty for inline (unsigned) entries in modules.yml
  std::string sbomPath;
  std::vector<std::string> intents;
  ModuleLimits limits;
  ModuleResources resources;
  // Environment the module sees: declared config values and declared secrets
  // (resolved from aiond's environment at load). Nothing else.
  std::map<std::string, std::string> env;
  std::vector<std::string> missingSecrets;  // declared but not set: the module is refused
  std::optional<JsonSchema> inputSchema;    // checked before a call (after the intent's)
  std::optional<JsonSchema> outputSchema;   // a result that fails it fails the call
  Verification verification;
  std::string source = "policy";  // policy (modules.yml) | registry (registered over the API)
  int latencyMs = 50;             // expected latency before live stats exist

  bool usable() const { return verification.state != Verification::State::kRefused; }
};

struct LatencyTargets {
  int localMs = 600;
  int apiMs = 2000;
  int hybridMs = 2300;
};

struct Budget {
  double defaultUsd = 0.02;
  double hardCapUsd = 0.20;
};

struct TenantPolicy {
  std::optional<std::set<std::string>> providerAllow;
  std::optional<double> budgetUsd;
};

//! Spend ceilings over UTC calendar periods.
struct PeriodBudget {
  std::optional<double> dayUsd;
  std::optional<double> monthUsd;
};

struct Policies {
  LatencyTargets latency;
  Budget budget;
  // By tenant name / key id; "*" applies to each one without its own entry.
  std::map<std::string, PeriodBudget> tenantBudgets;
  std::map<std::string, PeriodBudget> keyBudgets;
  std::optional<std::set<std::string>> providerAllow;  // unset: all
  std::map<std::string, TenantPolicy> tenants;
};

struct PolicySet {
  std::string digest;  // sha256 over the four files, first 16 hex chars
  int64_t loadedAtMs = 0;
  std::map<std::string, Intent> intents;
  Policies policies;
  std::map<std::string, Provider> providers;
  std::map<std::string, Model> models;
  std::map<std::string, Module> modules;
  //! The one embedding module of the vector index: every intent with
  //! `vectors` names it, so documents and queries share one vector space.
  //! Empty when no intent uses vectors.
  std::string vectorModule;

  const Intent* intent(const std::string& n) const;
};

using PolicySetPtr = std::shared_ptr<const PolicySet>;

}  // namespace aion::policy
