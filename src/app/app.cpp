#include "app/app.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "common/digest.h"
#include "common/ids.h"
#include "control/control_http.h"
#include "gateway/gateway_http.h"
#include "gateway/grpc_service.h"
#include "gateway/redis_limits.h"
#include "modhost/subprocess_host.h"
#include "modhost/wasm_host.h"
#include "trust/signing.h"

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

App::App(Config cfg)
    : cfg_(std::move(cfg)),
      modulePool_(static_cast<size_t>(std::max(1, cfg_.workers))),
      blocking_(4),
      io_(cfg_.ioThreads) {}

App::~App() {
  metrics_.onScrape(nullptr);
  if (grpc_) grpc_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (gateway_) gateway_->stop();
  if (controlHttp_) controlHttp_->stop();
  if (control_) control_->stop(nullptr);
  io_.stop();
  modulePool_.join();
  blocking_.join();
  if (store_) store_->flush();
  kafkaPoke_.store(nullptr);
  if (kafka_) kafka_->drain(std::chrono::seconds(5));  // what it cannot send stays in the outbox
  telemetry::setTracer(nullptr);  // then tracer_ exports what is queued as it goes
}

std::expected<std::unique_ptr<App>, std::vector<std::string>> App::create(Config cfg) {
  using Errors = std::vector<std::string>;
  std::unique_ptr<App> app(new App(std::move(cfg)));
  const auto& c = app->cfg_;
  std::error_code ec;
  std::filesystem::create_directories(c.dataDir, ec);
  if (ec)
    return std::unexpected(
        Errors{"AION_DATA_DIR: cannot create " + c.dataDir.string() + ": " + ec.message()});
  store::SqliteTaskStore::Options so;
  so.sync = c.storeSyncFull ? store::sqlite::Sync::kFull : store::sqlite::Sync::kNormal;
  so.readers = c.storeReaders;
  so.behindWindow = c.writeBehind;
  so.outbox = !c.kafkaBrokers.empty();
  so.onCommit = [m = &app->metrics_, k = &app->kafkaPoke_](double seconds, size_t writes) {
    m->storeCommit(seconds, writes);
    if (auto* relay = k->load(std::memory_order_acquire)) relay->poke();
  };
  auto st = store::SqliteTaskStore::open(c.dataDir / "aion.db", so);
  if (!st) return std::unexpected(Errors{"AION_DATA_DIR: " + st.error().message});
  app->store_ = std::move(*st);
  if (so.outbox) {
    auto relay =
        events::KafkaRelay::start({.brokers = c.kafkaBrokers}, *app->store_, app->metrics_);
    if (!relay) return std::unexpected(Errors{relay.error().message});
    app->kafka_ = std::move(*relay);
    app->kafkaPoke_.store(app->kafka_.get(), std::memory_order_release);
    spdlog::info(
        "events: task events and usage to Kafka at {} (topics aion.task-events, "
        "aion.usage)",
        c.kafkaBrokers);
  }
  auto traces = telemetry::tracerOptionsFromEnv(processEnv);
  if (!traces) return std::unexpected(Errors{traces.error().message});
  app->tracer_ = std::make_unique<telemetry::Tracer>(*traces, app->metrics_);
  if (app->tracer_->on()) {
    telemetry::setTracer(app->tracer_.get());
    spdlog::info("traces: OTLP/HTTP to {} (service {}, sampler {})", traces->endpoint,
                 traces->serviceName, traces->sampler);
  }
  app->providers_ = std::make_unique<providers::ProviderHub>(processEnv, app->metrics_);

  auto trusted = loadTrustedKeys(c.trustedKeys, c.moduleDir);
  if (!trusted) return std::unexpected(Errors{"AION_MODULE_TRUSTED_KEYS: " + trusted.error()});
  auto gpus = c.gpus ? *c.gpus : modhost::detectGpus();
  std::map<std::string, std::unique_ptr<modhost::ModuleHost>> hosts;
  hosts["wasm"] = std::make_unique<modhost::WasmModuleHost>();
  auto sub = std::make_unique<modhost::SubprocessModuleHost>();
  json::value sandbox = sub->sandboxJson();
  std::string weak = modhost::weakSandboxReason(sub->sandboxCaps());
  if (!weak.empty()) {
    sandbox.as_object()["weak"] = weak;
    if (c.allowWeakSandbox)
      spdlog::warn("subprocess modules run in a weak sandbox (AION_SANDBOX_ALLOW_WEAK): {}", weak);
    else
      spdlog::error(
          "subprocess modules are not routed: {}; AION_SANDBOX_ALLOW_WEAK=true runs them "
          "anyway",
          weak);
  }
  hosts["subprocess"] = std::move(sub);
  app->modules_ = std::make_unique<modhost::CompositeModuleHost>(std::move(hosts), gpus);

  control::ControlService::Options opts;
  opts.policyDir = c.policyDir;
  opts.moduleStateDir = c.dataDir / "modules";
  opts.loadOptions.moduleDir = c.moduleDir;
  opts.loadOptions.trust = {*trusted, c.allowUnsigned};
  for (auto& g : gpus) opts.gpus.push_back({g.name, g.memoryMb});
  opts.sandbox = std::move(sandbox);
  if (!weak.empty() && !c.allowWeakSandbox)
    opts.subprocessBlocked = "the sandbox is too weak here: " + weak +
                             " (AION_SANDBOX_ALLOW_WEAK=true runs subprocess modules anyway)";
  opts.orchestrator = {.moduleSlots = static_cast<size_t>(c.workers),
                       .modelSlots = c.modelConcurrency,
                       .queueMax = c.queueMax};
  auto svc = control::ControlService::create(
      {*app->store_, *app->modules_, app->modulePool_.get_executor(), app->blocking_.get_executor(),
       *app->providers_, app->bus_, app->metrics_, [p = app.get()] { return p->io_.next(); }},
      opts);
  if (!svc) {
    Errors errs{"AION_POLICY_DIR: policies in " + c.policyDir.string() + " are invalid:"};
    for (auto& e : svc.error()) errs.push_back("  " + e);
    return std::unexpected(errs);
  }
  app->control_ = std::move(*svc);
  app->metrics_.queueCapacity().Set(static_cast<double>(c.queueMax));
  app->metrics_.onScrape([p = app.get()] {
    p->metrics_.storeBacklog(static_cast<double>(p->store_->writeBacklog().count()) / 1000.0);
    p->control_->exportBudgets();
  });
  if (auto r = app->control_->recover(); !r)
    return std::unexpected(Errors{"recovery failed: " + r.error().message});

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
  http::Limits limits;
  limits.maxBodyBytes = c.maxBodyBytes;
  limits.maxHeaderBytes = c.maxHeaderBytes;
  limits.readTimeout = c.readTimeout;
  limits.maxConnections = c.maxConnections;

  app->localLimiter_ = std::make_unique<gateway::InProcessRateLimiter>(nowMs);
  if (c.redisUrl) {
    // Shared by every gateway on this Redis; degrades to per-process limits and
    // no idempotency while Redis is down.
    app->redis_ =
        std::make_unique<redis::RedisClient>(*c.redisUrl, 8, std::chrono::milliseconds(500));
    app->limiter_ = std::make_unique<gateway::RedisRateLimiter>(*app->redis_, *app->localLimiter_,
                                                                app->metrics_);
    app->idempotency_ = std::make_unique<gateway::RedisIdempotencyStore>(
        *app->redis_, c.idempotencyTtl, app->metrics_);
  } else {
    app->idempotency_ = std::make_unique<gateway::InProcessIdempotencyStore>(
        nowMs, c.idempotencyTtl, c.idempotencyMaxKeys);
  }
  gateway::RateLimiter& limiter = app->limiter_ ? *app->limiter_ : *app->localLimiter_;
  app->streams_ = std::make_unique<gateway::StreamSlots>(c.maxStreams, app->metrics_.openStreams());
  app->admission_ = std::make_unique<gateway::Admission>(
      *app->keys_, limiter, *app->idempotency_, *app->streams_, app->blocking_.get_executor(),
      gateway::Admission::Options{.ratePerKey = c.rateLimitPerKey,
                                  .ratePerIp = c.rateLimitPerIp,
                                  .rateWindow = c.rateLimitWindow,
                                  .metrics = &app->metrics_});
  gateway::GatewayDeps gwDeps{
      *app->control_, *app->keys_,      app->blocking_.get_executor(),
      app->metrics_,  limiter,          *app->idempotency_,
      *app->streams_, *app->admission_, [p = app.get()] { return p->io_.next(); }};
  gateway::GatewayOptions gwOpts{.sseHeartbeat = c.sseHeartbeat,
                                 .ratePerKey = c.rateLimitPerKey,
                                 .ratePerIp = c.rateLimitPerIp,
                                 .rateWindow = c.rateLimitWindow,
                                 .wsMaxQueuedBytes = c.wsMaxQueuedBytes,
                                 .openAiBehind = c.openAiBehind};
  auto gwRoutes = gateway::gatewayRoutes(gwDeps, gwOpts);
  app->gateway_ = std::make_unique<http::Server>(app->io_, "gateway", limits, std::move(gwRoutes),
                                                 app->metrics_, tls);
  auto ctlRoutes = control::controlRoutes({*app->control_, *app->keys_, app->metrics_});
  app->controlHttp_ = std::make_unique<http::Server>(app->io_, "control", limits,
                                                     std::move(ctlRoutes), app->metrics_, tls);

  auto gp = app->gateway_->listen(c.bindAddress, c.gatewayPort);
  if (!gp) return std::unexpected(Errors{"AION_GATEWAY_PORT: " + gp.error().message});
  auto cp = app->controlHttp_->listen(c.bindAddress, c.controlPort);
  if (!cp) return std::unexpected(Errors{"AION_CONTROL_PORT: " + cp.error().message});
  app->gatewayPort_ = *gp;
  app->grpcService_ = std::make_unique<gateway::GrpcTasksService>(gwDeps, gwOpts);
  int grpcPort = c.grpcPort;
  app->grpc_ = gateway::startGrpcServer(*app->grpcService_, c.bindAddress, grpcPort, grpcCreds);
  if (!app->grpc_ || grpcPort == 0)
    return std::unexpected(Errors{"AION_GATEWAY_GRPC_PORT: cannot listen on " + c.bindAddress +
                                  ":" + std::to_string(c.grpcPort)});
  app->grpcPort_ = static_cast<uint16_t>(grpcPort);
  app->controlPort_ = *cp;
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
  gateway_->stop();
  controlHttp_->stop();
  // Blocking steps (gRPC's shutdown, the store's flush) run off the I/O threads.
  auto finish = [this] {
    std::thread([this] {
      grpc_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
      store_->flush();  // writes behind reach the disk before the process ends
      io_.stop();
    }).detach();
  };
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
