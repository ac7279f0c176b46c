#include "modhost/rpc/server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "common/json_text.h"
#include "control/rpc/codec.h"
#include "modhost/call_metrics.h"
#include "modhost/rpc/codec.h"
#include "telemetry/tracer.h"

namespace aion::modhost::rpc {
namespace asio = boost::asio;
namespace json = boost::json;
namespace pb = aion::internal::v1;
using control::rpc::toStatus;

namespace {

// A unary call whose work runs on an Asio pool and stops when the caller
// cancels: OnCancel sets the flag the module host polls.
class PoolCall final : public grpc::ServerUnaryReactor {
 public:
  template <typename Work>
  PoolCall(asio::any_io_executor pool, Work work) {
    asio::post(pool, [this, work = std::move(work)]() mutable { Finish(work(cancel_)); });
  }
  void OnCancel() override { cancel_ = true; }
  void OnDone() override { delete this; }

 private:
  std::atomic<bool> cancel_{false};
};

}  // namespace

void ModuleHostRpcService::fillInfo(pb::HostInfo* out) const {
  out->set_modules_json(jsonText(host_.describe()));
  out->set_sandbox_json(jsonText(o_.sandbox));
  out->set_subprocess_blocked(o_.subprocessBlocked);
  for (auto& g : host_.gpus()) {
    auto* x = out->add_gpus();
    x->set_name(g.name);
    x->set_memory_mb(g.memoryMb);
  }
}

grpc::ServerUnaryReactor* ModuleHostRpcService::Load(grpc::CallbackServerContext*,
                                                     const pb::LoadRequest* req,
                                                     pb::HostInfo* resp) {
  return new PoolCall(blocking_, [this, req, resp](std::atomic<bool>&) {
    policy::PolicySet set;
    json::array errors;
    for (auto& spec : req->modules()) {
      if (spec.kind() == "subprocess" && !o_.subprocessBlocked.empty()) {
        errors.push_back(json::string("modules." + spec.name() +
                                      ": refused by this module host: " + o_.subprocessBlocked));
        continue;
      }
      auto m = fromSpec(spec, o_.artifactDir);
      if (!m) {
        errors.push_back(json::string(m.error().message));
        continue;
      }
      set.modules[m->name] = std::move(*m);
    }
    if (errors.empty())
      if (auto r = host_.load(set); !r)
        for (auto& e : r.error()) errors.push_back(json::string(e));
    if (!errors.empty())
      return toStatus(Error(ErrorCode::kInvalidPolicy, "the module host refused the modules",
                            {{"errors", errors}}));
    loaded_ = true;
    spdlog::info("module host: serving {} modules", set.modules.size());
    fillInfo(resp);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* ModuleHostRpcService::Call(grpc::CallbackServerContext* ctx,
                                                     const pb::CallRequest* req,
                                                     pb::CallReply* resp) {
  std::string parent, state;
  auto& md = ctx->client_metadata();
  if (auto it = md.find("traceparent"); it != md.end())
    parent.assign(it->second.data(), it->second.size());
  if (auto it = md.find("tracestate"); it != md.end())
    state.assign(it->second.data(), it->second.size());
  return new PoolCall(pool_, [this, req, resp, parent, state](std::atomic<bool>& cancel) {
    // The run as the module host saw it, under the control plane's module span.
    auto join = telemetry::joinTrace(parent, state);
    telemetry::ScopedSpan span(join.traceId, join.parentSpanId, join.sampled && !parent.empty(),
                               "module run ", req->name(), telemetry::SpanKind::kServer);
    span.state(join.traceState);
    span.attr("aion.module", req->name());
    span.attr("rpc.system", "grpc");
    span.attr("rpc.method", "aion.internal.v1.ModuleHost/Call");
    if (!loaded_)
      return toStatus(Error(ErrorCode::kUnavailable, "the module host has no modules loaded",
                            {{"notLoaded", true}}));
    auto r = host_.call(
        req->name(), req->input(),
        {.timeoutMs = req->timeout_ms() > 0 ? req->timeout_ms() : 5000, .cancel = &cancel});
    if (o_.metrics) countModuleCall(*o_.metrics, req->name(), r);
    if (!r) {
      span.fail(r.error().message);
      return toStatus(r.error());
    }
    if (r->fuelUsed >= 0) span.attr("aion.module.fuel", r->fuelUsed);
    resp->set_output_json(jsonText(r->output));
    resp->set_micros(r->micros);
    resp->set_stderr_tail(r->stderrTail);
    resp->set_fuel_used(r->fuelUsed);
    resp->set_memory_bytes(r->memoryBytes);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* ModuleHostRpcService::Describe(grpc::CallbackServerContext* ctx,
                                                         const pb::DescribeRequest*,
                                                         pb::HostInfo* resp) {
  fillInfo(resp);
  auto* r = ctx->DefaultReactor();
  r->Finish(grpc::Status::OK);
  return r;
}

std::unique_ptr<grpc::Server> startModuleHostRpcServer(
    ModuleHostRpcService& service, const std::string& address, int& port,
    std::shared_ptr<grpc::ServerCredentials> creds) {
  grpc::ServerBuilder b;
  b.AddListeningPort(address + ":" + std::to_string(port), std::move(creds), &port);
  b.RegisterService(&service);
  b.SetMaxReceiveMessageSize(256 << 20);  // Load carries every artifact
  b.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  return b.BuildAndStart();
}

}  // namespace aion::modhost::rpc
