#include "gateway/grpc_service.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <deque>
#include <mutex>

#include "common/digest.h"
#include "common/ids.h"
#include "common/json_text.h"
#include "events/stream_writer.h"
#include "gateway/admission.h"
#include "gateway/task_codec.h"
#include "http/handler_util.h"
#include "router/plan_json.h"
#include "telemetry/tracer.h"

namespace aion::gateway {
namespace json = boost::json;
namespace pb = google::protobuf;
namespace asio = boost::asio;

namespace {

template <typename Msg>
void fromJson(const json::value& v, Msg* out) {
  auto st = pb::util::JsonStringToMessage(jsonText(v), out);
  (void)st;  // our own JSON: always a valid Struct/Value
}

Result<json::value> toJson(const pb::Message& m) {
  std::string s;
  if (auto st = pb::util::MessageToJsonString(m, &s); !st.ok())  // e.g. protobuf's own depth limit
    return fail(ErrorCode::kInvalidRequest, "params: " + std::string(st.message()));
  return http::parseJsonText(s, "params");
}

void fillTask(const store::Task& t, v1::Task* out) {
  out->set_task_id(t.id);
  out->set_status(std::string(store::statusName(t.status)));
  out->set_intent(t.intent);
  out->set_tenant(t.tenant);
  if (t.route.is_object()) fromJson(router::planView(t.route), out->mutable_route());
  if (!t.result.is_null()) fromJson(t.result, out->mutable_result());
  if (t.error.is_object()) fromJson(t.error, out->mutable_error());
  out->set_cost_usd(t.costUsd);
  out->set_attempts(t.attempts);
  out->set_cancel_requested(t.cancelRequested);
  out->set_created_at(formatTimeMs(t.createdMs));
  if (t.startedMs) out->set_started_at(formatTimeMs(t.startedMs));
  if (t.finishedMs) out->set_finished_at(formatTimeMs(t.finishedMs));
}

std::string metadata(grpc::CallbackServerContext* ctx, const char* key) {
  auto& md = ctx->client_metadata();
  auto it = md.find(key);
  return it == md.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

std::string peerIp(grpc::CallbackServerContext* ctx) {
  std::string p = ctx->peer();  // "ipv4:127.0.0.1:5432"
  auto first = p.find(':'), last = p.rfind(':');
  return first != std::string::npos && last > first ? p.substr(first + 1, last - first - 1) : p;
}

}  // namespace

grpc::Status toGrpcStatus(const Error& e) {
  using grpc::StatusCode;
  StatusCode code = StatusCode::INTERNAL;
  switch (e.code) {
    case ErrorCode::kInvalidRequest:
    case ErrorCode::kUnknownIntent:
    case ErrorCode::kInvalidParams:
    case ErrorCode::kNoRoute:
    case ErrorCode::kInvalidPolicy:
    case ErrorCode::kModuleRefused:
      code = StatusCode::INVALID_ARGUMENT;
      break;
    case ErrorCode::kUnauthenticated:
      code = StatusCode::UNAUTHENTICATED;
      break;
    case ErrorCode::kForbidden:
      code = StatusCode::PERMISSION_DENIED;
      break;
    case ErrorCode::kNotFound:
      code = StatusCode::NOT_FOUND;
      break;
    case ErrorCode::kConflict:
      code = StatusCode::FAILED_PRECONDITION;
      break;
    case ErrorCode::kPayloadTooLarge:
    case ErrorCode::kBudgetExceeded:
    case ErrorCode::kRateLimited:
      code = StatusCode::RESOURCE_EXHAUSTED;
      break;
    case ErrorCode::kUnavailable:
      code = StatusCode::UNAVAILABLE;
      break;
    case ErrorCode::kTimeout:
      code = StatusCode::DEADLINE_EXCEEDED;
      break;
    case ErrorCode::kCanceled:
      code = StatusCode::CANCELLED;
      break;
    default:
      break;
  }
  if (auto* k = e.details.if_contains("grpcCode"); k && k->is_int64())
    code = static_cast<StatusCode>(k->as_int64());
  return grpc::Status(code, std::string(errorCodeName(e.code)) + ": " + e.message);
}

namespace {

Credentials credentialsOf(grpc::CallbackServerContext* ctx, const telemetry::TraceJoin& trace) {
  std::string key = metadata(ctx, "x-api-key");
  if (key.empty()) {
    auto authz = metadata(ctx, "authorization");
    if (authz.rfind("Bearer ", 0) == 0 || authz.rfind("bearer ", 0) == 0) key = authz.substr(7);
  }
  return {std::move(key), metadata(ctx, "x-tenant-id"), peerIp(ctx),
          trace.traceId,  trace.parentSpanId,           trace.sampled};
}

// The admission error as gRPC says it: a missing key names the metadata to
// send; a rate limit carries retry-after.
grpc::Status refused(grpc::CallbackServerContext* ctx, const Credentials& c, const Error& e) {
  if (e.code == ErrorCode::kRateLimited)
    if (auto* ra = e.details.if_contains("retryAfterSeconds"); ra && ra->is_number()) {
      auto secs = std::to_string(ra->to_number<int64_t>());
      ctx->AddTrailingMetadata("retry-after", secs);
      return toGrpcStatus(Error(e.code, e.message + "; retry after " + secs + " s", e.details));
    }
  if (e.code == ErrorCode::kUnauthenticated && c.apiKey.empty())
    return toGrpcStatus(
        Error(ErrorCode::kUnauthenticated,
              "missing API key: send metadata 'x-api-key: <key>' (grpcurl -H 'x-api-key: <key>')"));
  return toGrpcStatus(e);
}

Result<control::SubmitRequest> submitOf(const v1::SubmitRequest& req, const Principal& who,
                                        const telemetry::TraceJoin& trace, json::object& body) {
  body = json::object{{"intent", req.intent()}};
  if (!req.schema_version().empty()) body["schemaVersion"] = req.schema_version();
  auto params = toJson(req.params());
  if (!params) return std::unexpected(params.error());
  body["params"] = req.has_params() ? *params : json::value(json::object{});
  if (!req.privacy().empty()) body["privacy"] = req.privacy();
  if (req.budget_usd() != 0) body["budgetUsd"] = req.budget_usd();
  if (req.timeout_ms() != 0) body["timeoutMs"] = req.timeout_ms();
  auto sub = parseSubmit(body, who);
  if (!sub) return sub;
  sub->surface = "grpc";
  sub->traceId = trace.traceId;
  sub->parentSpanId = trace.parentSpanId;
  sub->sampled = trace.sampled;
  sub->traceState = trace.traceState;
  return sub;
}

// An RPC's server span, and the trace its work joins (parent: that span).
struct RpcSpan {
  RpcSpan(grpc::CallbackServerContext* ctx, const char* method)
      : join(telemetry::joinTrace(metadata(ctx, "traceparent"), metadata(ctx, "tracestate"))),
        span(join.traceId, join.parentSpanId, join.sampled, "aion.v1.AionTasks/", method,
             telemetry::SpanKind::kServer),
        inner{join.traceId, span.idOr(join.parentSpanId), join.sampled, join.traceState} {
    span.state(join.traceState);
    ctx->AddInitialMetadata("x-aion-trace-id", join.traceId);
    span.attr("rpc.system", "grpc");
    span.attr("rpc.service", "aion.v1.AionTasks");
    span.attr("rpc.method", method);
  }
  void end(const grpc::Status& st) {
    span.attr("rpc.grpc.status_code", static_cast<int64_t>(st.error_code()));
    if (!st.ok()) span.fail(st.error_message());
  }
  telemetry::TraceJoin join;
  telemetry::ScopedSpan span;
  telemetry::TraceJoin inner;
};

v1::Event eventOf(const store::Event& e) {
  v1::Event out;
  out.set_task_id(e.taskId);
  out.set_seq(e.seq);
  out.set_type(e.type);
  out.set_ts(formatTimeMs(e.tsMs));
  if (e.data.is_object()) fromJson(router::eventDataView(e), out.mutable_data());
  return out;
}

// A server stream of a task's events (events/stream_writer.h).
class EventStream final : public events::StreamWriter<v1::Event> {
 public:
  //! `submit` set: the Run RPC (submit, then follow; the task belongs to the call).
  EventStream(GatewayDeps d, grpc::CallbackServerContext* ctx, std::string taskId, int64_t after,
              std::optional<v1::SubmitRequest> submit)
      : StreamWriter(d.nextIo()) {
    asio::co_spawn(core_->strand, run(d, ctx, std::move(taskId), after, std::move(submit)),
                   asio::detached);
  }

 private:
  asio::awaitable<void> run(GatewayDeps d, grpc::CallbackServerContext* ctx, std::string taskId,
                            int64_t after, std::optional<v1::SubmitRequest> submit) {
    auto core = core_;  // Finish may end the reactor: keep the state alive
    RpcSpan rpc(ctx, submit ? "Run" : "Stream");
    auto finish = [&](grpc::Status st) {
      rpc.end(st);
      Finish(st);
    };
    auto creds = credentialsOf(ctx, rpc.inner);
    auto a = co_await d.admission.admit(creds, true);
    if (!a) co_return finish(refused(ctx, creds, a.error()));
    if (after < 0)
      co_return finish(
          toGrpcStatus(Error(ErrorCode::kInvalidRequest, "after_seq must not be negative")));
    bool owned = submit.has_value();
    Result<std::unique_ptr<events::Follower>> f;
    if (owned) {
      json::object body;
      auto req = submitOf(*submit, a->who, rpc.inner, body);
      if (!req) co_return finish(toGrpcStatus(req.error()));
      auto t = co_await d.control.submitAttached(std::move(*req));
      if (!t) co_return finish(toGrpcStatus(t.error()));
      taskId = t->task.id;
      f = std::move(t->follower);
    } else {
      f = co_await d.control.follow(a->who, taskId, after);
    }
    if (!f) co_return finish(toGrpcStatus(f.error()));
    core->follower = f->get();
    grpc::Status st = grpc::Status::OK;
    while (!(*f)->finished() && !core->canceled) {
      auto evs = co_await (*f)->next(std::chrono::hours(1));
      if (!evs) {
        st = toGrpcStatus(evs.error());
        break;
      }
      for (auto& e : *evs) {
        if (core->canceled) break;
        auto ev = eventOf(e);
        if (!co_await write(ev)) core->canceled = true;
      }
    }
    core->follower = nullptr;
    if (core->canceled) {
      if (owned && !(*f)->finished()) co_await d.control.cancel(a->who, taskId, kClientLeft);
      st = grpc::Status(grpc::StatusCode::CANCELLED, "canceled by the client");
    }
    finish(st);
  }
};

}  // namespace

grpc::ServerUnaryReactor* GrpcTasksService::unary(
    grpc::CallbackServerContext* ctx, const char* method,
    std::function<asio::awaitable<grpc::Status>(const Principal&, const telemetry::TraceJoin&)>
        fn) {
  auto* reactor = ctx->DefaultReactor();
  asio::co_spawn(
      asio::make_strand(d_.nextIo()),
      [this, ctx, method, reactor, fn = std::move(fn)]() -> asio::awaitable<void> {
        RpcSpan rpc(ctx, method);
        auto creds = credentialsOf(ctx, rpc.inner);
        auto a = co_await d_.admission.admit(creds, false);
        if (!a) {
          auto st = refused(ctx, creds, a.error());
          rpc.end(st);
          co_return reactor->Finish(st);
        }
        auto st = co_await fn(a->who, rpc.inner);
        rpc.end(st);
        reactor->Finish(st);
      },
      asio::detached);
  return reactor;
}

grpc::ServerUnaryReactor* GrpcTasksService::Submit(grpc::CallbackServerContext* ctx,
                                                   const v1::SubmitRequest* req,
                                                   v1::SubmitResponse* resp) {
  return unary(
      ctx, "Submit",
      [this, req, resp](const Principal& who,
                        const telemetry::TraceJoin& trace) -> asio::awaitable<grpc::Status> {
        json::object body;
        auto sub = submitOf(*req, who, trace, body);
        if (!sub) co_return toGrpcStatus(sub.error());
        auto answer = co_await d_.admission.once(
            who, req->idempotency_key(), body, [&]() -> asio::awaitable<Result<IdempotentAnswer>> {
              auto t = co_await d_.control.submit(std::move(*sub));
              if (!t) co_return std::unexpected(t.error());
              co_return IdempotentAnswer{
                  202, json::object{{"taskId", t->id}, {"status", store::statusName(t->status)}}};
            });
        if (!answer) {
          auto& e = answer.error();
          if (e.code == ErrorCode::kConflict)
            co_return grpc::Status(e.details.contains("retryAfterSeconds")
                                       ? grpc::StatusCode::ABORTED
                                       : grpc::StatusCode::ALREADY_EXISTS,
                                   "conflict: " + e.message);
          co_return toGrpcStatus(e);
        }
        auto& v = answer->body.as_object();
        resp->set_task_id(std::string(v.at("taskId").as_string()));
        resp->set_status(std::string(v.at("status").as_string()));
        co_return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* GrpcTasksService::Get(grpc::CallbackServerContext* ctx,
                                                const v1::GetRequest* req, v1::Task* resp) {
  return unary(ctx, "Get",
               [this, req, resp](const Principal& who,
                                 const telemetry::TraceJoin&) -> asio::awaitable<grpc::Status> {
                 auto t = co_await d_.control.get(who, req->task_id());
                 if (!t) co_return toGrpcStatus(t.error());
                 fillTask(*t, resp);
                 co_return grpc::Status::OK;
               });
}

grpc::ServerUnaryReactor* GrpcTasksService::List(grpc::CallbackServerContext* ctx,
                                                 const v1::ListRequest* req,
                                                 v1::ListResponse* resp) {
  return unary(
      ctx, "List",
      [this, req, resp](const Principal& who,
                        const telemetry::TraceJoin&) -> asio::awaitable<grpc::Status> {
        store::ListQuery q;
        q.limit = req->limit() == 0 ? 20 : req->limit();
        if (q.limit < 1 || q.limit > o_.maxPageSize)
          co_return toGrpcStatus(
              Error(ErrorCode::kInvalidRequest,
                    "limit must be from 1 to " + std::to_string(o_.maxPageSize)));
        if (!req->status().empty()) {
          q.status = store::parseStatus(req->status());
          if (!q.status)
            co_return toGrpcStatus(Error(ErrorCode::kInvalidRequest, "unknown status filter"));
        }
        q.intent = req->intent();
        q.afterId = req->cursor();
        auto page = co_await d_.control.list(who, q);
        if (!page) co_return toGrpcStatus(page.error());
        for (auto& t : page->items) fillTask(t, resp->add_items());
        resp->set_next_cursor(page->nextCursor);
        co_return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* GrpcTasksService::Cancel(grpc::CallbackServerContext* ctx,
                                                   const v1::CancelRequest* req, v1::Task* resp) {
  return unary(
      ctx, "Cancel",
      [this, req, resp](const Principal& who,
                        const telemetry::TraceJoin&) -> asio::awaitable<grpc::Status> {
        if (!who.hasAny(roleBit(Role::kAdmin) | roleBit(Role::kManager) | roleBit(Role::kUser)))
          co_return toGrpcStatus(Error(ErrorCode::kForbidden, "viewers cannot cancel tasks"));
        auto t = co_await d_.control.cancel(who, req->task_id(), kCanceledByClient);
        if (!t) co_return toGrpcStatus(t.error());
        fillTask(*t, resp);
        co_return grpc::Status::OK;
      });
}

grpc::ServerWriteReactor<v1::Event>* GrpcTasksService::Stream(grpc::CallbackServerContext* ctx,
                                                              const v1::StreamRequest* req) {
  return new EventStream(d_, ctx, req->task_id(), req->after_seq(), std::nullopt);
}

grpc::ServerWriteReactor<v1::Event>* GrpcTasksService::Run(grpc::CallbackServerContext* ctx,
                                                           const v1::SubmitRequest* req) {
  return new EventStream(d_, ctx, "", 0, *req);
}

std::unique_ptr<grpc::Server> startGrpcServer(GrpcTasksService& service, const std::string& address,
                                              int& port,
                                              std::shared_ptr<grpc::ServerCredentials> creds) {
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder b;
  b.AddListeningPort(address + ":" + std::to_string(port), std::move(creds), &port);
  b.RegisterService(&service);
  b.SetMaxReceiveMessageSize(4 << 20);
  return b.BuildAndStart();
}

}  // namespace aion::gateway
