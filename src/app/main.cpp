// aiond: the aionOS daemon. With no role it runs gateway, control plane and
// module host in one process on embedded defaults.
#include <absl/synchronization/mutex.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "app/app.h"
#include "app/module_cli.h"
#include "policy/loader.h"
#include "telemetry/log.h"

namespace {

std::filesystem::path exeDir() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::current_path() : p.parent_path();
}

std::string hostFor(const std::string& bind) {
  return bind == "0.0.0.0" || bind == "::" ? "localhost" : bind;
}

int checkPolicies(const aion::app::Config& cfg) {
  auto keys = aion::app::loadTrustedKeys(cfg.trustedKeys, cfg.moduleDir);
  if (!keys) {
    std::cerr << "AION_MODULE_TRUSTED_KEYS: " << keys.error() << "\n";
    return 1;
  }
  aion::policy::LoadOptions opts;
  opts.moduleDir = cfg.moduleDir;
  opts.registryDir = cfg.dataDir / "modules" / "registry";
  opts.trust = {*keys, cfg.allowUnsigned};
  auto r = aion::policy::loadPolicyDir(cfg.policyDir, opts);
  if (!r) {
    for (auto& e : r.error()) std::cerr << e << "\n";
    std::cerr << r.error().size() << " problem(s) in " << cfg.policyDir.string() << "\n";
    return 1;
  }
  std::cout << "policies OK: " << (*r)->intents.size() << " intents, " << (*r)->modules.size()
            << " modules, " << (*r)->models.size() << " models (digest " << (*r)->digest << ")\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's deadlock
  // detector on: every lock gRPC takes would update one global lock graph.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App cli{"aionOS daemon: gateway, control plane and module host"};
  std::string role = "all";
  cli.add_option("--role", role,
                 "Role to run: all (embedded profile), gateway, control or modhost (docs/roles.md)")
      ->check(CLI::IsMember({"all", "gateway", "control", "modhost"}));
  auto* check =
      cli.add_subcommand("check-policies", "Validate the policy files in AION_POLICY_DIR and exit");
  cli.set_version_flag("--version", "aiond 0.1.0");
  aion::app::ModuleCli moduleCli;
  aion::app::addModuleCommands(
      cli, moduleCli, []() -> std::expected<aion::policy::TrustConfig, std::string> {
        auto c = aion::app::loadConfig(aion::app::processEnv, exeDir());
        if (!c) return std::unexpected(c.error().message);
        auto keys = aion::app::loadTrustedKeys(c->trustedKeys, c->moduleDir);
        if (!keys) return std::unexpected("AION_MODULE_TRUSTED_KEYS: " + keys.error());
        return aion::policy::TrustConfig{*keys, c->allowUnsigned};
      });
  CLI11_PARSE(cli, argc, argv);
  if (moduleCli.command) return moduleCli.exitCode;

  auto cfg = aion::app::loadConfig(aion::app::processEnv, exeDir());
  if (!cfg) {
    std::cerr << "aiond: " << cfg.error().message << "\n";
    return 2;
  }
  aion::telemetry::setupLogging(
      cfg->logJson ? aion::telemetry::LogFormat::kJson : aion::telemetry::LogFormat::kText,
      spdlog::level::from_str(cfg->logLevel));

  if (*check) return checkPolicies(*cfg);
  auto appRole = role == "gateway"   ? aion::app::Role::kGateway
                 : role == "control" ? aion::app::Role::kControl
                 : role == "modhost" ? aion::app::Role::kModhost
                                     : aion::app::Role::kAll;
  if (cfg->apiKeys.empty() && appRole != aion::app::Role::kModhost)
    spdlog::warn("AION_GATEWAY_API_KEYS is empty: every API request will get 401");

  auto app = aion::app::App::create(*cfg, appRole);
  if (!app) {
    for (auto& e : app.error()) std::cerr << "aiond: " << e << "\n";
    return 1;
  }
  auto host = hostFor(cfg->bindAddress);
  const char* scheme = cfg->tls ? "https://" : "http://";
  const char* profile = appRole == aion::app::Role::kAll       ? "embedded profile"
                        : appRole == aion::app::Role::kGateway ? "role gateway"
                        : appRole == aion::app::Role::kControl ? "role control"
                                                               : "role modhost";
  std::cout << "aiond ready (" << profile << ")\n";
  if (appRole == aion::app::Role::kModhost) {
    std::cout << "  modhost  " << host << ":" << (*app)->modhostGrpcPort()
              << " (aion.internal.v1.ModuleHost for control planes"
              << (cfg->internalTls ? ", mutual TLS" : "") << ")\n"
              << "  health   http://" << host << ":" << (*app)->modhostPort()
              << " (/healthz, /readyz, /metrics)\n"
              << std::flush;
    return (*app)->run();
  }
  if (appRole != aion::app::Role::kControl)
    std::cout << "  gateway  " << scheme << host << ":" << (*app)->gatewayPort() << "\n"
              << "  grpc     " << host << ":" << (*app)->grpcPort() << (cfg->tls ? " TLS" : "")
              << " (aion.v1.AionTasks, reflection on)\n";
  if (appRole == aion::app::Role::kGateway)
    std::cout << "  control  " << cfg->controlGrpc << " (gRPC"
              << (cfg->internalTls ? ", mutual TLS" : "") << ")\n";
  else
    std::cout << "  control  " << scheme << host << ":" << (*app)->controlPort() << "\n";
  if (appRole == aion::app::Role::kControl)
    std::cout << "  internal " << host << ":" << (*app)->controlGrpcPort()
              << " (aion.internal.v1.Control for gateways"
              << (cfg->internalTls ? ", mutual TLS" : "") << ")\n";
  std::cout << std::flush;
  return (*app)->run();
}
