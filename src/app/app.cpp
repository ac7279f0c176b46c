#include "app/app.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "common/digest.h"
#include "common/ids.h"
#include "control/control_http.h"
#include "events/file_sink.h"
#include "events/kafka_sink.h"
#include "gateway/gateway_http.h"
#include "gateway/grpc_service.h"
#include "gateway/redis_limits.h"
#include "http/handler_util.h"
#include "modhost/rpc/client.h"
#include "modhost/rpc/server.h"
#include "modhost/subprocess_host.h"
#include "modhost/wasm_host.h"
#include "store/document_task_store.h"
#include "store/mongo_document_store.h"
#include "trust/signing.h"
#include "vector/memory_index.h"
#include "vector/metered_index.h"
#include "vector/qdrant_index.h"

namespace aion::app {
namespace json = boost::json;

// Files, or folders whose *.pub files are keys. The default folder may be absent.
std::expected<std::vector<trust::PublicKey>, std::string> loadTrustedKeys(
    const std::vector<std::filesystem::path>& given, const std::filesystem::path& moduleDir) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  std::error_code ec;
  auto paths = given;
  bool explicitPaths = !paths.empty();
  if (!explicitPaths) paths.push_back(moduleDir / "trusted-keys");
  for (auto& p : paths) {
    if (fs::is_directory(p, ec)) {
      for (auto& e : fs::directory_iterator(p, ec))
        if (e.path().extension() == ".pub") files.push_back(e.path());
    } else if (fs::is_regular_file(p, ec)) {
      files.push_back(p);
    } else if (explicitPaths) {
      return std::unexpected(p.string() + ": no such file or folder");
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<trust::PublicKey> keys;
  for (auto& f : files) {
    auto pem = readFile(f);
    auto k = pem ? trust::PublicKey::fromPem(*pem)
                 : std::expected<trust::PublicKey, std::string>(std::unexpected("unreadable"));
    if (!k) return std::unexpected(f.string() + ": " + k.error());
    spdlog::debug("trusting module signing key {} ({})", k->fingerprint(), f.string());
    keys.push_back(*k);
  }
  return keys;
}

namespace {

http::Limits httpLimits(const Config& c) {
  http::Limits limits;
  limits.maxBodyBytes = c.maxBodyBytes;
  limits.maxHeaderBytes = c.maxHeaderBytes;
  limits.readTimeout = c.readTimeout;
  limits.maxConnections = c.maxConnections;
  return limits;
}

}  // namespace

App::App(Config cfg, Role role)
    : cfg_(std::move(cfg)),
      role_(role),
      modulePool_(static_cast<size_t>(std::max(1, cfg_.workers))),
      blocking_(4),
      io_(cfg_.ioThreads) {}

App::~App() {
  metrics_.onScrape(nullptr);
  if (grpc_) grpc_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (controlGrpc_)
    controlGrpc_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (remote_) remote_->stop();
  if (gateway_) gateway_->stop();
  if (controlHttp_) controlHttp_->stop();
  if (control_) control_->stop(nullptr);
  io_.stop();
  modulePool_.join();
  blocking_.join();
  if (store_) store_->flush();
  relayPoke_.store(nullptr);
  if (relay_) relay_->drain(std::chrono::seconds(5));  // what it cannot send stays in the outbox
  telemetry::setTracer(nullptr);  // then tracer_ exports what is queued as it goes
}

App::LocalModules App::localModules() {
  const auto& c = cfg_;
  LocalModules out;
  out.gpus = c.gpus ? *c.gpus : modhost::detectGpus();
  std::map<std::string, std::unique_ptr<modhost::ModuleHost>> hosts;
  hosts["wasm"] = std::make_unique<modhost::WasmModuleHost>();
  auto sub = std::make_unique<modhost::SubprocessModuleHost>();
  out.sandbox = sub->sandboxJson();
  std::string weak = modhost::weakSandboxReason(sub->sandboxCaps());
  if (!weak.empty()) {
    out.sandbox.as_object()["weak"] = weak;
    if (c.allowWeakSandbox) {
      spdlog::warn("subprocess modules run in a weak sandbox (AION_SANDBOX_ALLOW_WEAK): {}", weak);
    } else {
      spdlog::error(
          "subprocess modules are not routed: {}; AION_SANDBOX_ALLOW_WEAK=true runs them "
          "anyway",
          weak);
      out.blocked = "the sandbox is too weak here: " + weak +
                    " (AION_SANDBOX_ALLOW_WEAK=true runs subprocess modules anyway)";
    }
  }
  hosts["subprocess"] = std::move(sub);
  out.host = std::make_unique<modhost::CompositeModuleHost>(std::move(hosts), out.gpus);
  return out;
}

std::expected<void, std::vector<std::string>> App::openModhost() {
  using Errors = std::vector<std::string>;
  const auto& c = cfg_;
  auto local = localModules();
  auto* host = local.host.get();
  modules_ = std::move(local.host);
  const auto* itls = c.internalTls ? &*c.internalTls : nullptr;
  modhostRpc_ = std::make_unique<modhost::rpc::ModuleHostRpcService>(
      *host, modulePool_.get_executor(), blocking_.get_executor(),
      modhost::rpc::ServiceOptions{.artifactDir = c.dataDir / "modhost" / "artifacts",
                                   .sandbox = std::move(local.sandbox),
                                   .subprocessBlocked = std::move(local.blocked),
                                   .metrics = &metrics_});
  if (!itls)
    spdlog::warn("module host gRPC for control planes without TLS (set AION_INTERNAL_TLS_*)");
  int port = c.modhostGrpcPort;
  modhostGrpc_ = modhost::rpc::startModuleHostRpcServer(
      *modhostRpc_, c.bindAddress, port,
      control::rpc::serverCredentials(itls ? itls->certPem : "", itls ? itls->keyPem : "",
                                      itls ? itls->caPem : ""));
  if (!modhostGrpc_ || port == 0)
    return std::unexpected(Errors{"AION_MODHOST_GRPC_PORT: cannot listen on " + c.bindAddress +
                                  ":" + std::to_string(c.modhostGrpcPort)});
  modhostGrpcPort_ = static_cast<uint16_t>(port);
  // /healthz, /readyz and /metrics. Ready once listening: the control plane
  // loads the modules, and it needs the host reachable to do so.
  http::Routes routes;
  http::addHealthRoutes(
      routes,
      [svc = modhostRpc_.get(), host] {
        return std::pair{
            true,
            json::object{
                {"status", "ready"},
                {"checks", {{"loaded", svc->loaded()}, {"modules", host->describe().size()}}}}};
      },
      metrics_);
  modhostHttp_ = std::make_unique<http::Server>(io_, "modhost", httpLimits(c), std::move(routes),
                                                metrics_, nullptr);
  auto hp = modhostHttp_->listen(c.bindAddress, c.modhostPort);
  if (!hp) return std::unexpected(Errors{"AION_MODHOST_PORT: " + hp.error().message});
  modhostPort_ = *hp;
  return {};
}

std::expected<void, std::vector<std::string>> App::openControl() {
  using Errors = std::vector<std::string>;
  const auto& c = cfg_;
  std::error_code ec;
  std::filesystem::create_directories(c.dataDir, ec);
  if (ec)
    return std::unexpected(
        Errors{"AION_DATA_DIR: cannot create " + c.dataDir.string() + ": " + ec.message()});
  bool outbox = !c.kafkaBrokers.empty() || !c.eventsDir.empty();
  auto onCommit = [m = &metrics_, k = &relayPoke_](double seconds, size_t writes) {
    m->storeCommit(seconds, writes);
    if (auto* relay = k->load(std::memory_order_acquire)) relay->poke();
  };
  if (!c.postgresDsn.empty()) {
    auto st = store::PgTaskStore::open({.dsn = c.postgresDsn,
                                        .readers = c.storeReaders,
                                        .behindWindow = c.writeBehind,
                                        .onCommit = onCommit,
                                        .outbox = outbox,
                                        .planeId = c.planeId,
                                        .exclusive = true,
                                        .lease = c.lease});
    if (!st) return std::unexpected(Errors{"AION_CONTROL_POSTGRES_DSN: " + st.error().message});
    cluster_ = st->get();
    store_ = std::move(*st);
    spdlog::info("store: PostgreSQL (AION_CONTROL_POSTGRES_DSN), control plane '{}', lease {} ms",
                 c.planeId, c.lease.count());
  } else {
    store::SqliteTaskStore::Options so;
    so.sync = c.storeSyncFull ? store::sqlite::Sync::kFull : store::sqlite::Sync::kNormal;
    so.readers = c.storeReaders;
    so.behindWindow = c.writeBehind;
    so.outbox = outbox;
    so.onCommit = onCommit;
    auto st = store::SqliteTaskStore::open(c.dataDir / "aion.db", so);
    if (!st) return std::unexpected(Errors{"AION_DATA_DIR: " + st.error().message});
    store_ = std::move(*st);
  }
  if (!c.mongoDsn.empty()) {
    auto docs = store::MongoDocumentStore::open(c.mongoDsn);
    if (!docs) return std::unexpected(Errors{"AION_CONTROL_MONGO_DSN: " + docs.error().message});
    spdlog::info(
        "task documents: MongoDB (AION_CONTROL_MONGO_DSN), database '{}', collections "
        "task_documents and task_events",
        (*docs)->database());
    auto wrapped = std::make_unique<store::DocumentTaskStore>(
        std::move(store_), cluster_, std::move(*docs),
        store::DocumentTaskStore::Options{
            .onCall = [m = &metrics_](const char* op, const std::string& outcome, double seconds) {
              m->documentCall("mongodb", op, outcome, seconds);
            }});
    if (cluster_) cluster_ = wrapped.get();
    store_ = std::move(wrapped);
  }
  if (outbox) {
    std::unique_ptr<events::EventSink> sink;
    if (!c.kafkaBrokers.empty()) {
      auto k = events::KafkaSink::open({.brokers = c.kafkaBrokers});
      if (!k) return std::unexpected(Errors{k.error().message});
      sink = std::move(*k);
      spdlog::info(
          "events: task events and usage to Kafka at {} (topics aion.task-events, "
          "aion.usage)",
          c.kafkaBrokers);
    } else {
      auto f = events::FileSink::open(c.eventsDir);
      if (!f) return std::unexpected(Errors{f.error().message});
      sink = std::move(*f);
      spdlog::info("events: task events and usage to {} (aion.task-events.jsonl, aion.usage.jsonl)",
                   c.eventsDir.string());
    }
    relay_ = std::make_unique<events::OutboxRelay>(std::move(sink), *store_, metrics_);
    relayPoke_.store(relay_.get(), std::memory_order_release);
  }
  providers_ = std::make_unique<providers::ProviderHub>(processEnv, metrics_);

  auto trusted = loadTrustedKeys(c.trustedKeys, c.moduleDir);
  if (!trusted) return std::unexpected(Errors{"AION_MODULE_TRUSTED_KEYS: " + trusted.error()});
  std::vector<modhost::GpuDevice> gpus;
  json::value sandbox;
  std::string blocked;
  if (!c.modhostGrpc.empty()) {
    const auto* itls = c.internalTls ? &*c.internalTls : nullptr;
    auto remote = std::make_unique<modhost::rpc::RemoteModuleHost>(modhost::rpc::ClientOptions{
        .target = c.modhostGrpc,
        .creds = control::rpc::clientCredentials(
            itls ? itls->certPem : "", itls ? itls->keyPem : "", itls ? itls->caPem : "")});
    auto info = remote->info(std::chrono::seconds(30));  // waits for a module host still starting
    if (!info) return std::unexpected(Errors{"AION_MODHOST_GRPC: " + info.error().message});
    gpus = info->gpus;
    sandbox = info->sandbox;
    blocked = info->subprocessBlocked;
    modules_ = std::move(remote);
    spdlog::info("modules run on the module host at {}{}", c.modhostGrpc,
                 itls ? " (mutual TLS)" : " (without TLS: set AION_INTERNAL_TLS_*)");
  } else {
    auto local = localModules();
    gpus = local.gpus;
    sandbox = std::move(local.sandbox);
    blocked = std::move(local.blocked);
    modules_ = std::move(local.host);
  }
  control::ControlService::Options opts;
  opts.policyDir = c.policyDir;
  opts.moduleStateDir = c.dataDir / "modules";
  opts.loadOptions.moduleDir = c.moduleDir;
  opts.loadOptions.trust = {*trusted, c.allowUnsigned};
  for (auto& g : gpus) opts.gpus.push_back({g.name, g.memoryMb});
  opts.sandbox = std::move(sandbox);
  opts.subprocessBlocked = std::move(blocked);
  opts.leaseRenewEvery = std::max(std::chrono::milliseconds(100), c.lease / 3);
  opts.shareAfter = c.shareAfter;
  opts.taskRetention = std::chrono::days(c.taskRetentionDays);
  opts.retentionEvery = c.retentionEvery;
  opts.orchestrator = {.moduleSlots = static_cast<size_t>(c.workers),
                       .modelSlots = c.modelConcurrency,
                       .queueMax = c.queueMax,
                       .behindLagMax = c.writeBehind};
  if (auto st = openVectors(); !st) return std::unexpected(st.error());
  auto svc = control::ControlService::create(
      {*store_, *modules_, modulePool_.get_executor(), blocking_.get_executor(), *providers_, bus_,
       metrics_, [p = this] { return p->io_.next(); }, vectors_.get(), cluster_},
      opts);
  if (!svc) {
    Errors errs{"AION_POLICY_DIR: policies in " + c.policyDir.string() + " are invalid:"};
    for (auto& e : svc.error()) errs.push_back("  " + e);
    return std::unexpected(errs);
  }
  control_ = std::move(*svc);
  metrics_.queueCapacity().Set(static_cast<double>(c.queueMax));
  metrics_.onScrape([p = this] {
    p->metrics_.storeBacklog(static_cast<double>(p->store_->writeBacklog().count()) / 1000.0);
    p->control_->exportBudgets();
  });
  if (auto r = control_->recover(); !r)
    return std::unexpected(Errors{"recovery failed: " + r.error().message});

  return {};
}

std::expected<void, std::vector<std::string>> App::openVectors() {
  const auto& c = cfg_;
  if (!c.qdrantUrl) {
    auto m = vector::MemoryIndex::open(modulePool_.get_executor(), {.dir = c.dataDir / "vectors"});
    if (!m) return std::unexpected(std::vector<std::string>{"AION_DATA_DIR: " + m.error().message});
    vectors_ = std::make_unique<vector::MeteredIndex>(std::move(*m), metrics_);
    return {};
  }
  auto q = std::make_unique<vector::QdrantIndex>(
      vector::QdrantIndex::Options{.url = *c.qdrantUrl, .apiKey = c.qdrantApiKey});
  // Reachable now, or start-up fails naming the variable. The probe runs on
  // a loop of its own: the I/O loops do not run yet.
  boost::asio::io_context scratch(1);
  auto probe = boost::asio::co_spawn(scratch, q->probe(), boost::asio::use_future);
  scratch.run();
  if (auto st = probe.get(); !st)
    return std::unexpected(
        std::vector<std::string>{"AION_CONTROL_QDRANT_URL: " + st.error().message});
  spdlog::info("vectors: Qdrant at {} (AION_CONTROL_QDRANT_URL)", c.qdrantUrl->origin());
  vectors_ = std::make_unique<vector::MeteredIndex>(std::move(q), metrics_);
  return {};
}

std::expected<void, std::vector<std::string>> App::openGateway(
    control::ControlApi& control, std::shared_ptr<boost::asio::ssl::context> tls,
    std::shared_ptr<grpc::ServerCredentials> grpcCreds) {
  using Errors = std::vector<std::string>;
  const auto& c = cfg_;
  localLimiter_ = std::make_unique<gateway::InProcessRateLimiter>(nowMs);
  if (c.redisUrl) {
    // Shared by every gateway on this Redis; degrades to per-process limits and
    // no idempotency while Redis is down.
    redis_ = std::make_unique<redis::RedisClient>(*c.redisUrl, 8, std::chrono::milliseconds(500));
    limiter_ = std::make_unique<gateway::RedisRateLimiter>(*redis_, *localLimiter_, metrics_);
    idempotency_ =
        std::make_unique<gateway::RedisIdempotencyStore>(*redis_, c.idempotencyTtl, metrics_);
  } else {
    idempotency_ = std::make_unique<gateway::InProcessIdempotencyStore>(nowMs, c.idempotencyTtl,
                                                                        c.idempotencyMaxKeys);
  }
  gateway::RateLimiter& limiter = limiter_ ? *limiter_ : *localLimiter_;
  streams_ = std::make_unique<gateway::StreamSlots>(c.maxStreams, metrics_.openStreams());
  admission_ = std::make_unique<gateway::Admission>(
      *keys_, limiter, *idempotency_, *streams_, blocking_.get_executor(),
      gateway::Admission::Options{.ratePerKey = c.rateLimitPerKey,
                                  .ratePerIp = c.rateLimitPerIp,
                                  .rateWindow = c.rateLimitWindow,
                                  .metrics = &metrics_});
  gateway::GatewayDeps gwDeps{control,   *keys_,      blocking_.get_executor(),
                              metrics_,  limiter,     *idempotency_,
                              *streams_, *admission_, [p = this] { return p->io_.next(); }};
  gateway::GatewayOptions gwOpts{.sseHeartbeat = c.sseHeartbeat,
                                 .ratePerKey = c.rateLimitPerKey,
                                 .ratePerIp = c.rateLimitPerIp,
                                 .rateWindow = c.rateLimitWindow,
                                 .wsMaxQueuedBytes = c.wsMaxQueuedBytes,
                                 .openAiBehind = c.openAiBehind};
  auto gwRoutes = gateway::gatewayRoutes(gwDeps, gwOpts);
  gateway_ = std::make_unique<http::Server>(io_, "gateway", httpLimits(c), std::move(gwRoutes),
                                            metrics_, tls);
  auto gp = gateway_->listen(c.bindAddress, c.gatewayPort);
  if (!gp) return std::unexpected(Errors{"AION_GATEWAY_PORT: " + gp.error().message});
  gatewayPort_ = *gp;
  grpcService_ = std::make_unique<gateway::GrpcTasksService>(gwDeps, gwOpts);
  int grpcPort = c.grpcPort;
  grpc_ = gateway::startGrpcServer(*grpcService_, c.bindAddress, grpcPort, std::move(grpcCreds));
  if (!grpc_ || grpcPort == 0)
    return std::unexpected(Errors{"AION_GATEWAY_GRPC_PORT: cannot listen on " + c.bindAddress +
                                  ":" + std::to_string(c.grpcPort)});
  grpcPort_ = static_cast<uint16_t>(grpcPort);
  return {};
}

std::expected<std::unique_ptr<App>, std::vector<std::string>> App::create(Config cfg, Role role) {
  using Errors = std::vector<std::string>;
  std::unique_ptr<App> app(new App(std::move(cfg), role));
  const auto& c = app->cfg_;
  auto traces = telemetry::tracerOptionsFromEnv(processEnv);
  if (!traces) return std::unexpected(Errors{traces.error().message});
  app->tracer_ = std::make_unique<telemetry::Tracer>(*traces, app->metrics_);
  if (app->tracer_->on()) {
    telemetry::setTracer(app->tracer_.get());
    spdlog::info("traces: OTLP/HTTP to {} (service {}, sampler {})", traces->endpoint,
                 traces->serviceName, traces->sampler);
  }
  if (role == Role::kModhost) {
    if (auto r = app->openModhost(); !r) return std::unexpected(r.error());
    return app;
  }
  if (role != Role::kGateway)
    if (auto r = app->openControl(); !r) return std::unexpected(r.error());

  std::shared_ptr<boost::asio::ssl::context> tls;
  auto grpcCreds = grpc::InsecureServerCredentials();
  if (c.tls) {
    auto m = http::loadServerTls(*c.tls);
    if (!m) return std::unexpected(Errors{m.error().message});
    tls = m->context;
    grpc::SslServerCredentialsOptions o(
        c.tls->clientCa ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                        : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    o.pem_key_cert_pairs.push_back({m->keyPem, m->certPem});
    o.pem_root_certs = m->clientCaPem;
    grpcCreds = grpc::SslServerCredentials(o);
  }
  app->keys_ = std::make_unique<auth::KeyRing>(c.apiKeys, c.tenancy);
  const auto* itls = c.internalTls ? &*c.internalTls : nullptr;

  if (role == Role::kGateway) {
    if (c.controlGrpc.empty())
      return std::unexpected(
          Errors{"AION_CONTROL_GRPC: --role gateway needs the control role's host:port"});
    control::rpc::ClientOptions co{
        .target = c.controlGrpc,
        .creds = control::rpc::clientCredentials(itls ? itls->certPem : "",
                                                 itls ? itls->keyPem : "", itls ? itls->caPem : ""),
        .callTimeout = c.controlCallTimeout,
        .openTimeout = c.controlCallTimeout};  // docs/configuration.md: both
    if (!itls)
      spdlog::warn("gateway -> control plane at {} without TLS (set AION_INTERNAL_TLS_*)",
                   c.controlGrpc);
    app->remote_ = std::make_unique<control::rpc::RemoteControl>(
        std::move(co), [p = app.get()] { return p->io_.next(); });
    app->remote_->start();
    if (auto r = app->openGateway(*app->remote_, tls, grpcCreds); !r)
      return std::unexpected(r.error());
    return app;
  }
  if (role == Role::kAll)
    if (auto r = app->openGateway(*app->control_, tls, grpcCreds); !r)
      return std::unexpected(r.error());

  auto ctlRoutes = control::controlRoutes({*app->control_, *app->keys_, app->metrics_});
  app->controlHttp_ = std::make_unique<http::Server>(app->io_, "control", httpLimits(c),
                                                     std::move(ctlRoutes), app->metrics_, tls);
  auto cp = app->controlHttp_->listen(c.bindAddress, c.controlPort);
  if (!cp) return std::unexpected(Errors{"AION_CONTROL_PORT: " + cp.error().message});
  app->controlPort_ = *cp;
  if (role == Role::kControl) {
    if (!itls)
      spdlog::warn("control plane gRPC for gateways without TLS (set AION_INTERNAL_TLS_*)");
    app->controlRpc_ = std::make_unique<control::rpc::ControlRpcService>(
        *app->control_, [p = app.get()] { return p->io_.next(); });
    int port = c.controlGrpcPort;
    app->controlGrpc_ = control::rpc::startControlRpcServer(
        *app->controlRpc_, c.bindAddress, port,
        control::rpc::serverCredentials(itls ? itls->certPem : "", itls ? itls->keyPem : "",
                                        itls ? itls->caPem : ""));
    if (!app->controlGrpc_ || port == 0)
      return std::unexpected(Errors{"AION_CONTROL_GRPC_PORT: cannot listen on " + c.bindAddress +
                                    ":" + std::to_string(c.controlGrpcPort)});
    app->controlGrpcPort_ = static_cast<uint16_t>(port);
  }
  return app;
}

int App::run() {
  boost::asio::signal_set signals(io_.loop(0), SIGINT, SIGTERM);
  signals.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: stopping (running tasks finish; queued ones resume at next start)",
                 sig);
    shutdown();
  });
  io_.run();
  return 0;
}

void App::shutdown() {
  if (stopping_.exchange(true)) return;
  if (gateway_) gateway_->stop();
  if (controlHttp_) controlHttp_->stop();
  if (modhostHttp_) modhostHttp_->stop();
  // Blocking steps (gRPC's shutdown, the store's flush) run off the I/O threads.
  auto finish = [this] {
    std::thread([this] {
      auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(5);
      if (grpc_) grpc_->Shutdown(deadline);
      if (controlGrpc_) controlGrpc_->Shutdown(deadline);
      if (modhostGrpc_) modhostGrpc_->Shutdown(deadline);
      if (remote_) remote_->stop();
      if (store_) store_->flush();  // writes behind reach the disk before the process ends
      // Peers take the queued tasks left behind now, not once the lease runs out.
      if (control_) control_->endLease();
      io_.stop();
    }).detach();
  };
  if (!control_) return finish();  // a gateway or module host: the control plane owns the tasks
  auto once = std::make_shared<std::atomic<bool>>(false);
  auto done = [finish, once] {
    if (!once->exchange(true)) finish();
  };
  control_->stop(done);
  // Running tasks are bounded by their deadlines; do not wait longer than this.
  auto timer = std::make_shared<boost::asio::steady_timer>(io_.loop(0), std::chrono::seconds(30));
  timer->async_wait([timer, done](const boost::system::error_code& ec) {
    if (!ec) {
      spdlog::warn("tasks still running after 30 s; stopping anyway (recovered at next start)");
      done();
    }
  });
}

}  // namespace aion::app
