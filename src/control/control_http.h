#pragma once
// The control plane's admin REST surface (port AION_CONTROL_PORT).
#include "auth/api_keys.h"
#include "control/control_service.h"
#include "http/server.h"

namespace aion::control {

struct ControlHttpDeps {
  ControlService& control;
  const auth::KeyRing& keys;
  telemetry::Metrics& metrics;
};

http::Routes controlRoutes(ControlHttpDeps deps);
//! GET /v1/usage query: from, to (YYYY-MM-DD), groupBy (comma list), and
//! filters tenant, key, intent, provider, model. Unknown parameters are errors.
Result<store::UsageQuery> parseUsageQuery(const std::map<std::string, std::string>& query);

//! PUT /v1/policy/files/{name}: body {"text", ["expectedSha256"]}, query
//! dryRun=true|false. The name must be one of the four policy files.
struct PolicyFilePut {
  std::string name;
  std::string text;
  std::string expectedSha256;
  bool dryRun = false;
};
Result<PolicyFilePut> parsePolicyFilePut(const std::string& name,
                                         const std::map<std::string, std::string>& query,
                                         const http::Request& req);

}  // namespace aion::control
