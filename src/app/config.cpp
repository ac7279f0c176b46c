#include "app/config.h"

#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "common/digest.h"

namespace aion::app {
namespace {

template <typename T>
Status readInt(const EnvLookup& env, const char* name, T lo, T hi, T& out) {
  auto v = env(name);
  if (!v || v->empty()) return {};  // unset or empty (as in .env.example): the default
  int64_t x = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), x);
  if (ec != std::errc() || p != v->data() + v->size() || x < static_cast<int64_t>(lo) ||
      x > static_cast<int64_t>(hi)) {
    return fail(ErrorCode::kInvalidRequest, std::string(name) + ": must be an integer from " +
                                                std::to_string(lo) + " to " + std::to_string(hi) +
                                                " (got '" + *v + "')");
  }
  out = static_cast<T>(x);
  return {};
}

Status readBool(const EnvLookup& env, const char* name, bool& out) {
  auto v = env(name);
  if (!v || v->empty()) return {};
  if (*v == "true" || *v == "1")
    out = true;
  else if (*v == "false" || *v == "0")
    out = false;
  else
    return fail(ErrorCode::kInvalidRequest,
                std::string(name) + ": must be true or false (got '" + *v + "')");
  return {};
}

Status readMs(const EnvLookup& env, const char* name, int64_t lo, int64_t hi,
              std::chrono::milliseconds& out) {
  int64_t v = out.count();
  if (auto s = readInt<int64_t>(env, name, lo, hi, v); !s) return s;
  out = std::chrono::milliseconds(v);
  return {};
}

}  // namespace

std::optional<std::string> processEnv(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return std::nullopt;
  return std::string(v);
}

Result<Config> loadConfig(const EnvLookup& env, const std::filesystem::path& exeDir) {
  Config c;
  c.moduleDir = exeDir / "modules";
  c.workers = std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
  Status s;
  if (!(s = readInt<uint16_t>(env, "AION_GATEWAY_PORT", 0, 65535, c.gatewayPort)))
    return std::unexpected(s.error());
  if (!(s = readInt<uint16_t>(env, "AION_CONTROL_PORT", 0, 65535, c.controlPort)))
    return std::unexpected(s.error());
  if (!(s = readInt<int>(env, "AION_GATEWAY_GRPC_PORT", 0, 65535, c.grpcPort)))
    return std::unexpected(s.error());
  if (!(s = readInt<int>(env, "AION_WORKERS", 1, 256, c.workers)))
    return std::unexpected(s.error());
  if (!(s = readInt<int>(env, "AION_IO_THREADS", 1, 64, c.ioThreads)))
    return std::unexpected(s.error());
  if (!(s = readInt<size_t>(env, "AION_QUEUE_MAX", 1, 1000000, c.queueMax)))
    return std::unexpected(s.error());
  if (!(s = readInt<size_t>(env, "AION_MAX_BODY_BYTES", 1024, 64 << 20, c.maxBodyBytes)))
    return std::unexpected(s.error());
  if (!(s = readInt<size_t>(env, "AION_MAX_HEADER_BYTES", 1024, 1 << 20, c.maxHeaderBytes)))
    return std::unexpected(s.error());
  if (!(s = readInt<size_t>(env, "AION_MAX_CONNECTIONS", 1, 1000000, c.maxConnections)))
    return std::unexpected(s.error());
  if (!(s = readInt<size_t>(env, "AION_MAX_STREAMS", 1, 1000000, c.maxStreams)))
    return std::unexpected(s.error());
  if (!(s = readMs(env, "AION_READ_TIMEOUT_MS", 100, 3600000, c.readTimeout)))
    return std::unexpected(s.error());
  if (!(s = readMs(env, "AION_SSE_HEARTBEAT_MS", 100, 3600000, c.sseHeartbeat)))
    return std::unexpected(s.error());
  if (!(s = readInt<uint64_t>(env, "AION_RATE_LIMIT_MAX", 0, 1000000000, c.rateLimitPerKey)))
    return std::unexpected(s.error());
  if (!(s = readInt<uint64_t>(env, "AION_RATE_LIMIT_PER_IP", 0, 1000000000, c.rateLimitPerIp)))
    return std::unexpected(s.error());
  int64_t secs = c.rateLimitWindow.count();
  if (!(s = readInt<int64_t>(env, "AION_RATE_LIMIT_WINDOW_SEC", 1, 86400, secs)))
    return std::unexpected(s.error());
  c.rateLimitWindow = std::chrono::seconds(secs);
  secs = c.idempotencyTtl.count();
  if (!(s = readInt<int64_t>(env, "AION_IDEMPOTENCY_TTL_SEC", 1, 30 * 86400, secs)))
    return std::unexpected(s.error());
  c.idempotencyTtl = std::chrono::seconds(secs);
  if (!(s = readInt<size_t>(env, "AION_IDEMPOTENCY_MAX_KEYS", 1, 100000000, c.idempotencyMaxKeys)))
    return std::unexpected(s.error());
  if (!(s = readInt<size_t>(env, "AION_WS_MAX_QUEUED_BYTES", 4096, 1 << 30, c.wsMaxQueuedBytes)))
    return std::unexpected(s.error());
  if (c.gatewayPort != 0 && c.gatewayPort == c.controlPort)
    return fail(ErrorCode::kInvalidRequest,
                "AION_CONTROL_PORT: must differ from AION_GATEWAY_PORT");

  if (auto v = env("AION_BIND_ADDRESS"); v && !v->empty()) c.bindAddress = *v;
  if (auto v = env("AION_CONTROL_REDIS_URL"); v && !v->empty()) {
    auto u = redis::parseUrl(*v);
    if (!u) return fail(ErrorCode::kInvalidRequest, "AION_CONTROL_REDIS_URL: " + u.error().message);
    c.redisUrl = *u;
  }
  {
    auto cert = env("AION_TLS_CERT"), key = env("AION_TLS_KEY"), ca = env("AION_TLS_CLIENT_CA");
    bool hasCert = cert && !cert->empty(), hasKey = key && !key->empty();
    if (hasCert != hasKey)
      return fail(ErrorCode::kInvalidRequest,
                  std::string(hasCert ? "AION_TLS_KEY" : "AION_TLS_CERT") +
                      ": set both AION_TLS_CERT and AION_TLS_KEY, or neither");
    if (ca && !ca->empty() && !hasCert)
      return fail(ErrorCode::kInvalidRequest,
                  "AION_TLS_CLIENT_CA: needs AION_TLS_CERT and AION_TLS_KEY");
    if (hasCert) {
      c.tls = http::TlsFiles{*cert, *key, {}};
      if (ca && !ca->empty()) c.tls->clientCa = *ca;
    }
  }
  if (!(s = readInt<int>(env, "AION_CONTROL_GRPC_PORT", 0, 65535, c.controlGrpcPort)))
    return std::unexpected(s.error());
  if (!(s = readMs(env, "AION_CONTROL_GRPC_TIMEOUT_MS", 100, 600000, c.controlCallTimeout)))
    return std::unexpected(s.error());
  for (auto [name, out] : {std::pair{"AION_CONTROL_GRPC", &c.controlGrpc},
                           std::pair{"AION_MODHOST_GRPC", &c.modhostGrpc}}) {
    auto v = env(name);
    if (!v || v->empty()) continue;
    auto colon = v->rfind(':');
    int port = 0;
    bool ok = colon != std::string::npos && colon > 0 && colon + 1 < v->size() &&
              v->find_first_of(" /\t") == std::string::npos;
    if (ok) {
      auto [p, ec] = std::from_chars(v->data() + colon + 1, v->data() + v->size(), port);
      ok = ec == std::errc() && p == v->data() + v->size() && port > 0 && port <= 65535;
    }
    if (!ok)
      return fail(ErrorCode::kInvalidRequest,
                  std::string(name) + ": must be host:port (got '" + *v + "')");
    *out = *v;
  }
  if (!(s = readInt<int>(env, "AION_MODHOST_GRPC_PORT", 0, 65535, c.modhostGrpcPort)))
    return std::unexpected(s.error());
  if (!(s = readInt<uint16_t>(env, "AION_MODHOST_PORT", 0, 65535, c.modhostPort)))
    return std::unexpected(s.error());
  {
    const char* names[] = {"AION_INTERNAL_TLS_CERT", "AION_INTERNAL_TLS_KEY",
                           "AION_INTERNAL_TLS_CA"};
    std::string pems[3];
    int set = 0;
    for (int i = 0; i < 3; ++i) {
      auto v = env(names[i]);
      if (!v || v->empty()) continue;
      ++set;
      auto pem = readFile(*v);
      if (!pem || pem->empty())
        return fail(ErrorCode::kInvalidRequest,
                    std::string(names[i]) + ": cannot read '" + *v + "'");
      pems[i] = std::move(*pem);
    }
    if (set != 0 && set != 3)
      return fail(ErrorCode::kInvalidRequest,
                  "AION_INTERNAL_TLS_CERT, AION_INTERNAL_TLS_KEY and AION_INTERNAL_TLS_CA: set all "
                  "three (mutual TLS between roles) or none");
    if (set == 3) c.internalTls = Config::InternalTls{pems[0], pems[1], pems[2]};
  }
  if (auto v = env("AION_GATEWAY_API_KEYS"); v && !v->empty()) {
    auto keys = auth::parseApiKeys(*v);
    if (!keys)
      return fail(ErrorCode::kInvalidRequest, "AION_GATEWAY_API_KEYS: " + keys.error().message);
    c.apiKeys = std::move(*keys);
  }
  if (auto v = env("TENANCY_MODE"); v && !v->empty()) {
    if (*v == "single")
      c.tenancy = auth::TenancyMode::kSingle;
    else if (*v == "multi")
      c.tenancy = auth::TenancyMode::kMulti;
    else
      return fail(ErrorCode::kInvalidRequest,
                  "TENANCY_MODE: must be single or multi (got '" + *v + "')");
  }
  if (auto v = env("AION_POLICY_DIR"); v && !v->empty()) c.policyDir = *v;
  if (auto v = env("AION_DATA_DIR"); v && !v->empty()) c.dataDir = *v;
  if (auto v = env("AION_MODULE_DIR"); v && !v->empty()) c.moduleDir = *v;
  if (auto v = env("AION_MODULE_TRUSTED_KEYS"); v && !v->empty()) {
    size_t i = 0;
    while (i <= v->size()) {
      auto j = v->find(',', i);
      if (j == std::string::npos) j = v->size();
      if (j > i) c.trustedKeys.emplace_back(v->substr(i, j - i));
      i = j + 1;
    }
  }
  if (auto v = env("AION_STORE_SYNC"); v && !v->empty()) {
    if (*v != "full" && *v != "normal")
      return fail(ErrorCode::kInvalidRequest,
                  "AION_STORE_SYNC: must be full or normal (got '" + *v + "')");
    c.storeSyncFull = *v == "full";
  }
  if (auto v = env("AION_DURABILITY"); v && !v->empty()) {
    if (*v != "sync" && *v != "async")
      return fail(ErrorCode::kInvalidRequest,
                  "AION_DURABILITY: must be sync or async (got '" + *v + "')");
    c.openAiBehind = *v == "async";
  }
  if (!(s = readInt<size_t>(env, "AION_MODEL_CONCURRENCY", 1, 1000000, c.modelConcurrency)))
    return std::unexpected(s.error());
  if (!(s = readInt<int>(env, "AION_STORE_READERS", 1, 64, c.storeReaders)))
    return std::unexpected(s.error());
  if (!(s = readMs(env, "AION_WRITE_BEHIND_MS", 1, 10000, c.writeBehind)))
    return std::unexpected(s.error());
  if (auto v = env("AION_CONTROL_MONGO_DSN"); v && !v->empty()) {
    // The scheme here, the rest when the store opens (libmongoc parses it).
    if (!v->starts_with("mongodb://") && !v->starts_with("mongodb+srv://"))
      return fail(ErrorCode::kInvalidRequest,
                  "AION_CONTROL_MONGO_DSN: must be a MongoDB connection string, "
                  "mongodb://host[:port][/database][?options]");
    c.mongoDsn = *v;
  }
  if (auto v = env("AION_CONTROL_POSTGRES_DSN"); v && !v->empty()) c.postgresDsn = *v;
  if (auto v = env("AION_CONTROL_QDRANT_URL"); v && !v->empty()) {
    auto u = providers::parseUrl(*v);
    if (!u || u->host.empty())
      return fail(ErrorCode::kInvalidRequest,
                  "AION_CONTROL_QDRANT_URL: must be http(s)://host[:port][/path] (" +
                      (u ? std::string("no host") : u.error().message) + ")");
    c.qdrantUrl = *u;
  }
  if (auto v = env("AION_CONTROL_QDRANT_API_KEY"); v && !v->empty()) {
    if (!c.qdrantUrl)
      return fail(ErrorCode::kInvalidRequest,
                  "AION_CONTROL_QDRANT_API_KEY: set only with AION_CONTROL_QDRANT_URL");
    if (v->find_first_of("\r\n") != std::string::npos)
      return fail(ErrorCode::kInvalidRequest,
                  "AION_CONTROL_QDRANT_API_KEY: must not contain line breaks");
    c.qdrantApiKey = *v;
  }
  if (!(s = readMs(env, "AION_CONTROL_LEASE_MS", 500, 600000, c.lease)))
    return std::unexpected(s.error());
  if (!(s = readMs(env, "AION_CONTROL_SHARE_AFTER_MS", 0, 600000, c.shareAfter)))
    return std::unexpected(s.error());
  if (!(s = readInt<int>(env, "AION_TASK_RETENTION_DAYS", 0, 36500, c.taskRetentionDays)))
    return std::unexpected(s.error());
  if (!(s = readMs(env, "AION_TASK_RETENTION_EVERY_MS", 1000, 86400000, c.retentionEvery)))
    return std::unexpected(s.error());
  if (auto v = env("AION_CONTROL_PLANE_ID"); v && !v->empty()) {
    if (v->size() > 200 || v->find_first_of("\n\t ") != std::string::npos)
      return fail(ErrorCode::kInvalidRequest,
                  "AION_CONTROL_PLANE_ID: at most 200 characters, no spaces");
    c.planeId = *v;
  } else {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0 || !*host) std::strcpy(host, "localhost");
    c.planeId = std::string(host) + ":" + std::to_string(c.controlPort);
  }
  if (auto v = env("KAFKA_BROKERS"); v && !v->empty()) {
    // host:port[,host:port...]: checked here so a typo fails start-up by name.
    size_t start = 0;
    while (start <= v->size()) {
      size_t end = std::min(v->find(',', start), v->size());
      std::string b = v->substr(start, end - start);
      size_t colon = b.rfind(':');
      int port = 0;
      bool ok = colon != std::string::npos && colon > 0 && colon + 1 < b.size();
      if (ok) {
        auto [p, ec] = std::from_chars(b.data() + colon + 1, b.data() + b.size(), port);
        ok = ec == std::errc() && p == b.data() + b.size() && port >= 1 && port <= 65535;
      }
      if (!ok)
        return fail(ErrorCode::kInvalidRequest,
                    "KAFKA_BROKERS: '" + b + "' is not host:port (a comma-separated list)");
      start = end + 1;
    }
    c.kafkaBrokers = *v;
  }
  if (auto v = env("AION_EVENTS_DIR"); v && !v->empty()) {
    if (!c.kafkaBrokers.empty())
      return fail(ErrorCode::kInvalidRequest,
                  "AION_EVENTS_DIR: set either KAFKA_BROKERS or AION_EVENTS_DIR, not both (the "
                  "outbox goes to one sink)");
    c.eventsDir = *v;
  }
  if (!(s = readBool(env, "AION_SANDBOX_ALLOW_WEAK", c.allowWeakSandbox)))
    return std::unexpected(s.error());
  if (!(s = readBool(env, "AION_MODULES_ALLOW_UNSIGNED", c.allowUnsigned)))
    return std::unexpected(s.error());
  if (auto v = env("AION_MODULE_HOST_GPUS"); v && !v->empty()) {
    auto g = modhost::parseGpuList(*v);
    if (!g)
      return fail(ErrorCode::kInvalidRequest,
                  "AION_MODULE_HOST_GPUS: " + g.error() + " (use none or name:MiB,...)");
    c.gpus = std::move(*g);
  }
  if (auto v = env("AION_LOG_LEVEL"); v && !v->empty()) {
    static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
    bool ok = false;
    for (auto* l : kLevels) ok = ok || *v == l;
    if (!ok)
      return fail(
          ErrorCode::kInvalidRequest,
          "AION_LOG_LEVEL: must be trace, debug, info, warn, error or off (got '" + *v + "')");
    c.logLevel = *v;
  }
  if (auto v = env("AION_LOG_FORMAT"); v && !v->empty()) {
    if (*v != "text" && *v != "json")
      return fail(ErrorCode::kInvalidRequest,
                  "AION_LOG_FORMAT: must be text or json (got '" + *v + "')");
    c.logJson = *v == "json";
  }
  return c;
}

}  // namespace aion::app
