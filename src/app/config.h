#pragma once
// Process configuration from environment variables (the seed's
// configuration matrix plus limits). docs/configuration.md lists them all.
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "auth/api_keys.h"
#include "common/error.h"
#include "http/tls.h"
#include "modhost/gpu.h"
#include "providers/url.h"
#include "redis/redis_client.h"

namespace aion::app {

struct Config {
  uint16_t gatewayPort = 8080;
  uint16_t controlPort = 8000;
  int grpcPort = 50051;
  std::string bindAddress = "0.0.0.0";
  std::vector<auth::ApiKey> apiKeys;
  auth::TenancyMode tenancy = auth::TenancyMode::kSingle;
  std::filesystem::path policyDir = "policies";
  std::filesystem::path dataDir = "data";
  std::filesystem::path moduleDir;  // default: <dir of aiond>/modules
  std::string logLevel = "info";
  bool logJson = false;  // AION_LOG_FORMAT=json: one JSON object per line, plus events
  int workers = 2;
  int ioThreads = 2;
  size_t queueMax = 1024;
  size_t maxBodyBytes = 1 << 20;
  size_t maxHeaderBytes = 16 << 10;
  std::chrono::milliseconds readTimeout{10000};
  std::chrono::milliseconds sseHeartbeat{15000};
  size_t maxConnections = 4096;
  size_t maxStreams = 1024;
  uint64_t rateLimitPerKey = 0;  // 0: no limit
  uint64_t rateLimitPerIp = 0;
  std::chrono::seconds rateLimitWindow{60};
  std::chrono::seconds idempotencyTtl{86400};
  size_t idempotencyMaxKeys = 100000;
  size_t wsMaxQueuedBytes = 1 << 20;
  std::optional<http::TlsFiles> tls;        // AION_TLS_CERT + AION_TLS_KEY: HTTPS and gRPC over TLS
  std::optional<redis::RedisUrl> redisUrl;  // AION_CONTROL_REDIS_URL: shared limits and idempotency
  // AION_MODULE_TRUSTED_KEYS: PEM public keys (files, or folders of *.pub)
  // whose module signatures are accepted; default <module dir>/trusted-keys.
  std::vector<std::filesystem::path> trustedKeys;
  bool allowUnsigned = false;  // AION_MODULES_ALLOW_UNSIGNED: development only
  bool storeSyncFull = true;   // AION_STORE_SYNC: full (fsync per commit) | normal
  bool allowWeakSandbox =
      false;                // AION_SANDBOX_ALLOW_WEAK: run subprocess modules in a weak sandbox
  std::string postgresDsn;  // AION_CONTROL_POSTGRES_DSN: tasks in PostgreSQL, not SQLite
  //! AION_CONTROL_MONGO_DSN: large params/results and every task's event
  //! history in MongoDB, the task row keeping a reference.
  std::string mongoDsn;
  //! AION_CONTROL_PLANE_ID: this control plane among those sharing the
  //! PostgreSQL store; default <hostname>:<AION_CONTROL_PORT>, so a plane
  //! restarted in place takes its own unfinished tasks back at once.
  std::string planeId;
  std::chrono::milliseconds lease{10000};  // AION_CONTROL_LEASE_MS
  //! AION_CONTROL_SHARE_AFTER_MS: a task queued this long on a busy plane
  //! may run on a plane with a free slot (PostgreSQL store; 0: never).
  std::chrono::milliseconds shareAfter{500};
  //! AION_TASK_RETENTION_DAYS: finished tasks older than this go with their
  //! events and documents (0: kept forever); checked every
  //! AION_TASK_RETENTION_EVERY_MS.
  int taskRetentionDays = 0;
  std::chrono::milliseconds retentionEvery{3600000};
  std::string kafkaBrokers;                 // KAFKA_BROKERS: relay task events and usage to Kafka
  std::filesystem::path eventsDir;          // AION_EVENTS_DIR: ... or to JSON-lines files there
  std::optional<providers::Url> qdrantUrl;  // AION_CONTROL_QDRANT_URL: vectors in Qdrant
  std::string qdrantApiKey;                 // AION_CONTROL_QDRANT_API_KEY: its api-key header
  bool openAiBehind = false;       // AION_DURABILITY=async: OpenAI-compatible calls written behind
  size_t modelConcurrency = 1024;  // AION_MODEL_CONCURRENCY: model-first tasks running at once
  int storeReaders = 4;            // AION_STORE_READERS: read connections
  std::chrono::milliseconds writeBehind{
      100};  // AION_WRITE_BEHIND_MS: longest wait of a write behind
  std::optional<std::vector<modhost::GpuDevice>> gpus;  // AION_MODULE_HOST_GPUS; unset: detect

  // Roles apart (aiond --role, docs/roles.md).
  std::string controlGrpc;      // AION_CONTROL_GRPC: host:port a gateway dials
  int controlGrpcPort = 50061;  // AION_CONTROL_GRPC_PORT: where the control role listens
  //! AION_INTERNAL_TLS_CERT/_KEY/_CA: mutual TLS between roles (PEM contents).
  struct InternalTls {
    std::string certPem, keyPem, caPem;
  };
  std::optional<InternalTls> internalTls;
  std::chrono::milliseconds controlCallTimeout{10000};  // AION_CONTROL_GRPC_TIMEOUT_MS
  std::string modhostGrpc;      // AION_MODHOST_GRPC: host:port the control role runs modules at
  int modhostGrpcPort = 50071;  // AION_MODHOST_GRPC_PORT: where the modhost role listens
  uint16_t modhostPort = 8090;  // AION_MODHOST_PORT: the modhost role's /healthz, /readyz, /metrics
};

using EnvLookup = std::function<std::optional<std::string>(const char*)>;

//! Reads the configuration. A bad value fails with one line naming the
//! variable, the accepted values and what was given.
Result<Config> loadConfig(const EnvLookup& env, const std::filesystem::path& exeDir);
//! The process environment.
std::optional<std::string> processEnv(const char* name);

}  // namespace aion::app
