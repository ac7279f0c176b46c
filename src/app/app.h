#pragma once
// Wires aiond's roles: all three in one process (the embedded profile), or
// one of them, talking to the others over gRPC (docs/roles.md).
#include <atomic>
#include <boost/asio.hpp>
#include <memory>

#include "app/config.h"
#include "auth/api_keys.h"
#include "common/io_pool.h"
#include "control/control_service.h"
#include "control/rpc/client.h"
#include "control/rpc/server.h"
#include "events/event_bus.h"
#include "events/event_sink.h"
#include "gateway/admission.h"
#include "gateway/grpc_service.h"
#include "gateway/idempotency.h"
#include "gateway/rate_limiter.h"
#include "http/server.h"
#include "modhost/composite_host.h"
#include "modhost/rpc/client.h"
#include "modhost/rpc/server.h"
#include "providers/hub.h"
#include "store/pg_store.h"
#include "store/sqlite_store.h"
#include "telemetry/metrics.h"
#include "telemetry/tracer.h"
#include "trust/signing.h"
#include "vector/vector_index.h"

namespace aion::app {

//! The module signing keys aiond trusts: AION_MODULE_TRUSTED_KEYS (files, or
//! folders of *.pub), else <module dir>/trusted-keys when it exists.
std::expected<std::vector<trust::PublicKey>, std::string> loadTrustedKeys(
    const std::vector<std::filesystem::path>& given, const std::filesystem::path& moduleDir);

//! What one aiond process runs (aiond --role).
enum class Role { kAll, kGateway, kControl, kModhost };

class App {
 public:
  //! For the roles with a control plane: opens the store, loads policies and
  //! modules, recovers unfinished tasks. Then binds the role's listeners.
  //! Fails with every problem, one per line.
  static std::expected<std::unique_ptr<App>, std::vector<std::string>> create(
      Config cfg, Role role = Role::kAll);
  ~App();

  //! Serves until SIGINT/SIGTERM; returns the exit code.
  int run();
  uint16_t gatewayPort() const { return gatewayPort_; }
  uint16_t controlPort() const { return controlPort_; }
  uint16_t grpcPort() const { return grpcPort_; }
  uint16_t controlGrpcPort() const { return controlGrpcPort_; }
  uint16_t modhostGrpcPort() const { return modhostGrpcPort_; }
  uint16_t modhostPort() const { return modhostPort_; }

 private:
  App(Config cfg, Role role);
  //! This process's module hosts (wasm, subprocess) and what they report.
  struct LocalModules {
    std::unique_ptr<modhost::CompositeModuleHost> host;
    boost::json::value sandbox;
    std::string blocked;  // why subprocess modules are refused; empty: they run
    std::vector<modhost::GpuDevice> gpus;
  };
  LocalModules localModules();
  //! --role modhost: the module hosts behind aion.internal.v1.ModuleHost.
  std::expected<void, std::vector<std::string>> openModhost();
  //! The control plane: store, event sink, providers, modules, ControlService.
  std::expected<void, std::vector<std::string>> openControl();
  //! The vector index: Qdrant when AION_CONTROL_QDRANT_URL is set (it must
  //! answer now), else the in-process index.
  std::expected<void, std::vector<std::string>> openVectors();
  //! The public surfaces over `control` (in-process or remote).
  std::expected<void, std::vector<std::string>> openGateway(
      control::ControlApi& control, std::shared_ptr<boost::asio::ssl::context> tls,
      std::shared_ptr<grpc::ServerCredentials> grpcCreds);
  //! SIGTERM: stop accepting, let running tasks finish (bounded), write
  //! what is behind, then stop the I/O threads.
  void shutdown();

  Config cfg_;
  Role role_;
  telemetry::Metrics metrics_;
  std::unique_ptr<telemetry::Tracer> tracer_;   // exports spans; outlives what records them
  boost::asio::thread_pool modulePool_;         // module calls: AION_WORKERS threads
  boost::asio::thread_pool blocking_;           // Redis, policy reloads, registry files
  store::Cluster* cluster_ = nullptr;           // store_, when control planes share it (PostgreSQL)
  std::unique_ptr<store::TaskStore> store_;     // SQLite, or PostgreSQL (AION_CONTROL_POSTGRES_DSN)
  std::unique_ptr<events::OutboxRelay> relay_;  // relays the store's outbox; before store_ dies
  std::atomic<events::OutboxRelay*> relayPoke_{nullptr};
  events::EventBus bus_;
  std::unique_ptr<modhost::ModuleHost> modules_;  // in-process, or a module host's client
  std::unique_ptr<providers::ProviderHub> providers_;
  std::unique_ptr<vector::VectorIndex> vectors_;  // in-process, or Qdrant (AION_CONTROL_QDRANT_URL)
  std::unique_ptr<control::ControlService> control_;
  std::unique_ptr<control::rpc::RemoteControl> remote_;          // --role gateway
  std::unique_ptr<control::rpc::ControlRpcService> controlRpc_;  // --role control
  std::unique_ptr<grpc::Server> controlGrpc_;
  std::unique_ptr<modhost::rpc::ModuleHostRpcService> modhostRpc_;  // --role modhost
  std::unique_ptr<grpc::Server> modhostGrpc_;
  std::unique_ptr<http::Server> modhostHttp_;
  std::unique_ptr<auth::KeyRing> keys_;
  std::unique_ptr<gateway::InProcessRateLimiter> localLimiter_;
  std::unique_ptr<redis::RedisClient> redis_;
  std::unique_ptr<gateway::RateLimiter> limiter_;
  std::unique_ptr<gateway::IdempotencyStore> idempotency_;
  std::unique_ptr<gateway::StreamSlots> streams_;
  std::unique_ptr<gateway::Admission> admission_;
  std::unique_ptr<http::Server> gateway_;
  std::unique_ptr<http::Server> controlHttp_;
  std::unique_ptr<gateway::GrpcTasksService> grpcService_;
  std::unique_ptr<grpc::Server> grpc_;
  uint16_t gatewayPort_ = 0;
  uint16_t controlPort_ = 0;
  uint16_t grpcPort_ = 0;
  uint16_t controlGrpcPort_ = 0;
  uint16_t modhostGrpcPort_ = 0;
  uint16_t modhostPort_ = 0;
  std::atomic<bool> stopping_{false};
  // Last: destroyed first, with the coroutines it still holds, while
  // everything they reference is alive.
  IoPool io_;
};

}  // namespace aion::app
