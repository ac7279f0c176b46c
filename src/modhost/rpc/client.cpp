#include "modhost/rpc/client.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <future>

#include "common/async.h"
#include "control/rpc/codec.h"
#include "modhost/rpc/codec.h"

namespace aion::modhost::rpc {
namespace asio = boost::asio;
namespace json = boost::json;
namespace pb = aion::internal::v1;
using control::rpc::fromStatus;

namespace {

// The module host answers kUnavailable with this detail when it has nothing
// loaded (it restarted): the client loads again and retries.
bool notLoaded(const Error& e) {
  auto* v = e.details.if_contains("notLoaded");
  return v && v->is_bool() && v->as_bool();
}

Result<CallResult> resultOf(const pb::CallReply& r) {
  CallResult out;
  boost::system::error_code ec;
  out.output = json::parse(r.output_json(), ec);
  if (ec) return fail(ErrorCode::kModuleFailed, "the module host sent output that is not JSON");
  out.micros = r.micros();
  out.stderrTail = r.stderr_tail();
  out.fuelUsed = r.fuel_used();
  out.memoryBytes = r.memory_bytes();
  return out;
}

struct PendingCall {
  grpc::ClientContext ctx;
  pb::CallRequest req;
  pb::CallReply reply;
  grpc::Status status;
  std::atomic<bool> done{false};
};

// The task's cancel flag is a plain atomic the orchestrator sets: look at it
// every 20 ms while the call is out, and cancel the RPC once it is set.
struct CancelWatch : std::enable_shared_from_this<CancelWatch> {
  CancelWatch(asio::any_io_executor ex, std::shared_ptr<PendingCall> c,
              const std::atomic<bool>* cancel)
      : timer(std::move(ex)), call(std::move(c)), cancel(cancel) {}
  void tick() {
    if (call->done.load()) return;
    if (cancel->load()) return call->ctx.TryCancel();
    timer.expires_after(std::chrono::milliseconds(20));
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->tick();
    });
  }
  asio::steady_timer timer;
  std::shared_ptr<PendingCall> call;
  const std::atomic<bool>* cancel;
};

}  // namespace

RemoteModuleHost::RemoteModuleHost(ClientOptions o) : o_(std::move(o)) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  args.SetMaxSendMessageSize(256 << 20);  // Load carries every artifact
  args.SetMaxReceiveMessageSize(64 << 20);
  channel_ = grpc::CreateCustomChannel(o_.target, o_.creds, args);
  stub_ = pb::ModuleHost::NewStub(channel_);
}

Status RemoteModuleHost::loadSpecs(const pb::LoadRequest& req) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + o_.loadTimeout);
  ctx.set_wait_for_ready(true);  // a module host still starting is waited for, up to the deadline
  pb::HostInfo info;
  auto st = stub_->Load(&ctx, req, &info);
  if (!st.ok()) return std::unexpected(fromStatus(st, who()));
  boost::system::error_code ec;
  auto mods = json::parse(info.modules_json(), ec);
  std::lock_guard lock(mu_);
  described_ = !ec && mods.is_array() ? mods.as_array() : json::array();
  return {};
}

std::expected<void, std::vector<std::string>> RemoteModuleHost::load(const policy::PolicySet& set) {
  auto req = std::make_shared<pb::LoadRequest>();
  std::vector<std::string> errors;
  for (const auto& [name, m] : set.modules) {
    if (!m.usable()) continue;  // refused modules never leave the control plane
    if (auto st = toSpec(m, req->add_modules()); !st) errors.push_back(st.error().message);
  }
  if (!errors.empty()) return std::unexpected(errors);
  if (auto st = loadSpecs(*req); !st) {
    auto* list = st.error().details.if_contains("errors");
    if (list && list->is_array())
      for (auto& e : list->as_array())
        if (e.is_string()) errors.emplace_back(e.as_string());
    if (errors.empty()) errors.push_back(st.error().message);
    return std::unexpected(errors);
  }
  std::lock_guard lock(mu_);
  last_ = std::move(req);
  return {};
}

Result<CallResult> RemoteModuleHost::call(const std::string& name, std::string_view input,
                                          const CallOptions& opts) {
  for (int attempt = 0;; ++attempt) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(opts.timeoutMs) +
                     o_.callMargin);
    ctx.set_wait_for_ready(true);
    pb::CallRequest req;
    req.set_name(name);
    req.set_input(std::string(input));
    req.set_timeout_ms(opts.timeoutMs);
    pb::CallReply reply;
    auto st = stub_->Call(&ctx, req, &reply);
    if (st.ok()) return resultOf(reply);
    auto e = fromStatus(st, who());
    if (attempt > 0 || !notLoaded(e)) return std::unexpected(e);
    std::shared_ptr<const pb::LoadRequest> last;
    {
      std::lock_guard lock(mu_);
      last = last_;
    }
    if (!last) return std::unexpected(e);
    if (auto l = loadSpecs(*last); !l) return std::unexpected(l.error());
  }
}

asio::awaitable<Result<CallResult>> RemoteModuleHost::callAsync(std::string name, std::string input,
                                                                CallOptions opts,
                                                                asio::any_io_executor pool) {
  auto ex = co_await asio::this_coro::executor;
  for (int attempt = 0;; ++attempt) {
    auto c = std::make_shared<PendingCall>();
    c->ctx.set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(opts.timeoutMs) + o_.callMargin);
    // A module host that restarts is waited for, within the call's deadline.
    c->ctx.set_wait_for_ready(true);
    if (!opts.traceparent.empty()) c->ctx.AddMetadata("traceparent", opts.traceparent);
    if (!opts.tracestate.empty()) c->ctx.AddMetadata("tracestate", opts.tracestate);
    c->req.set_name(name);
    c->req.set_input(input);
    c->req.set_timeout_ms(opts.timeoutMs);
    const std::atomic<bool>* cancel = opts.cancel;
    if (cancel) std::make_shared<CancelWatch>(ex, c, cancel)->tick();
    auto* stub = stub_.get();
    auto begin = [c, stub](auto finished) {
      stub->async()->Call(&c->ctx, &c->req, &c->reply, [c, finished](grpc::Status st) {
        c->status = std::move(st);
        c->done = true;
        finished();
      });
    };
    co_await callbackAsync<>(asio::use_awaitable, std::move(begin));
    if (c->status.ok()) co_return resultOf(c->reply);
    auto e = fromStatus(c->status, who());
    if (e.code == ErrorCode::kCanceled && cancel && cancel->load())
      co_return fail(ErrorCode::kCanceled, "canceled");
    if (attempt > 0 || !notLoaded(e)) co_return std::unexpected(e);
    std::shared_ptr<const pb::LoadRequest> last;
    {
      std::lock_guard lock(mu_);
      last = last_;
    }
    if (!last) co_return std::unexpected(e);
    spdlog::warn("{} has no modules loaded (restarted?): loading them again", who());
    // Rare (a restarted module host), and Load compiles: off the I/O thread.
    auto reload = [this, last] { return loadSpecs(*last); };
    auto l = co_await offload(pool, reload);
    if (!l) co_return std::unexpected(l.error());
  }
}

json::array RemoteModuleHost::describe() const {
  std::lock_guard lock(mu_);
  return described_;
}

Result<RemoteModuleHost::Info> RemoteModuleHost::info(std::chrono::milliseconds timeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  ctx.set_wait_for_ready(true);
  pb::HostInfo hi;
  auto st = stub_->Describe(&ctx, pb::DescribeRequest(), &hi);
  if (!st.ok()) return std::unexpected(fromStatus(st, who()));
  Info out;
  boost::system::error_code ec;
  out.sandbox = json::parse(hi.sandbox_json(), ec);
  if (ec) out.sandbox = nullptr;
  out.subprocessBlocked = hi.subprocess_blocked();
  for (auto& g : hi.gpus()) out.gpus.push_back({g.name(), g.memory_mb()});
  return out;
}

}  // namespace aion::modhost::rpc
