#include "gateway/grpc_service.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <deque>
#include <mutex>

#include "common/digest.h"
#include "common/ids.h"
#include "gateway/task_codec.h"

namespace aion::gateway {
namespace json = boost::json;
namespace pb = google::protobuf;

namespace {

template <typename Msg>
void fromJson(const json::value& v, Msg* out) {
  auto st = pb::util::JsonStringToMessage(json::serialize(v), out);
  (void)st;  // our own JSON: always a valid Struct/Value
}

Result<json::value> toJson(const pb::Message& m) {
  std::string s;
  if (!pb::util::MessageToJsonString(m, &s).ok())
    return fail(ErrorCode::kInvalidRequest, "params are not valid JSON");
  boost::system::error_code ec;
  auto v = json::parse(s, ec);
  if (ec) return fail(ErrorCode::kInvalidRequest, "params are not valid JSON");
  return v;
}

void fillTask(const store::Task& t, v1::Task* out) {
  out->set_task_id(t.id);
  out->set_status(std::string(store::statusName(t.status)));
  out->set_intent(t.intent);
  out->set_tenant(t.tenant);
  if (t.route.is_object()) fromJson(t.route, out->mutable_route());
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

Result<Principal> GrpcTasksService::admit(grpc::CallbackServerContext* ctx) {
  if (o_.ratePerIp) {
    auto dec = d_.limiter.hit("ip:" + peerIp(ctx), o_.ratePerIp, o_.rateWindow);
    if (!dec.allowed) {
      ctx->AddTrailingMetadata("retry-after", std::to_string(dec.resetSeconds));
      return fail(ErrorCode::kRateLimited,
                  "rate limit exceeded for this client address; retry after " +
                      std::to_string(dec.resetSeconds) + " s");
    }
  }
  std::string key = metadata(ctx, "x-api-key");
  if (key.empty()) {
    auto authz = metadata(ctx, "authorization");
    if (authz.rfind("Bearer ", 0) == 0 || authz.rfind("bearer ", 0) == 0) key = authz.substr(7);
  }
  if (key.empty())
    return fail(
        ErrorCode::kUnauthenticated,
        "missing API key: send metadata 'x-api-key: <key>' (grpcurl -H 'x-api-key: <key>')");
  auto who = d_.keys.authenticate(key, metadata(ctx, "x-tenant-id"));
  if (!who) return who;
  if (o_.ratePerKey) {
    auto dec = d_.limiter.hit("key:" + who->keyId, o_.ratePerKey, o_.rateWindow);
    if (!dec.allowed) {
      ctx->AddTrailingMetadata("retry-after", std::to_string(dec.resetSeconds));
      return fail(ErrorCode::kRateLimited, "rate limit exceeded for this API key; retry after " +
                                               std::to_string(dec.resetSeconds) + " s");
    }
  }
  return who;
}

grpc::ServerUnaryReactor* GrpcTasksService::unary(
    grpc::CallbackServerContext* ctx, std::function<grpc::Status(const Principal&)> fn) {
  auto* reactor = ctx->DefaultReactor();
  // Limits may talk to Redis and handlers to the store: all off gRPC's threads.
  boost::asio::post(d_.blocking, [this, ctx, reactor, fn = std::move(fn)] {
    auto who = admit(ctx);
    reactor->Finish(who ? fn(*who) : toGrpcStatus(who.error()));
  });
  return reactor;
}

grpc::ServerUnaryReactor* GrpcTasksService::Submit(grpc::CallbackServerContext* ctx,
                                                   const v1::SubmitRequest* req,
                                                   v1::SubmitResponse* resp) {
  return unary(ctx, [this, req, resp](const Principal& who) -> grpc::Status {
    json::object body{{"intent", req->intent()}};
    if (!req->schema_version().empty()) body["schemaVersion"] = req->schema_version();
    auto params = toJson(req->params());
    if (!params) return toGrpcStatus(params.error());
    body["params"] = req->has_params() ? *params : json::value(json::object{});
    if (!req->privacy().empty()) body["privacy"] = req->privacy();
    if (req->budget_usd() != 0) body["budgetUsd"] = req->budget_usd();
    if (req->timeout_ms() != 0) body["timeoutMs"] = req->timeout_ms();
    auto sub = parseSubmit(body, who);
    if (!sub) return toGrpcStatus(sub.error());
    std::string scoped;
    if (!req->idempotency_key().empty()) {
      if (req->idempotency_key().size() > 255)
        return toGrpcStatus(
            Error(ErrorCode::kInvalidRequest, "idempotency_key is longer than 255 characters"));
      scoped = who.tenant + '\n' + req->idempotency_key();
      IdempotencyStore::Stored prior;
      switch (d_.idempotency.begin(scoped, sha256Hex(json::serialize(body)), prior)) {
        case IdempotencyStore::Begin::kFirst:
          break;
        case IdempotencyStore::Begin::kReplay: {
          auto v = json::parse(prior.body);
          resp->set_task_id(std::string(v.at("taskId").as_string()));
          resp->set_status(std::string(v.at("status").as_string()));
          return grpc::Status::OK;
        }
        case IdempotencyStore::Begin::kConflict:
          return grpc::Status(
              grpc::StatusCode::ALREADY_EXISTS,
              "conflict: idempotency_key was already used with a different request");
        case IdempotencyStore::Begin::kInProgress:
          return grpc::Status(
              grpc::StatusCode::ABORTED,
              "conflict: a request with this idempotency_key is still in progress; retry");
      }
    }
    auto t = d_.control.submit(*sub);
    if (!t) {
      if (!scoped.empty()) d_.idempotency.abandon(scoped);
      return toGrpcStatus(t.error());
    }
    resp->set_task_id(t->id);
    resp->set_status(std::string(store::statusName(t->status)));
    if (!scoped.empty())
      d_.idempotency.complete(
          scoped,
          {202, json::serialize(json::object{{"taskId", t->id}, {"status", resp->status()}})});
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* GrpcTasksService::Get(grpc::CallbackServerContext* ctx,
                                                const v1::GetRequest* req, v1::Task* resp) {
  return unary(ctx, [this, req, resp](const Principal& who) -> grpc::Status {
    auto t = d_.control.get(who, req->task_id());
    if (!t) return toGrpcStatus(t.error());
    fillTask(*t, resp);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* GrpcTasksService::List(grpc::CallbackServerContext* ctx,
                                                 const v1::ListRequest* req,
                                                 v1::ListResponse* resp) {
  return unary(ctx, [this, req, resp](const Principal& who) -> grpc::Status {
    store::ListQuery q;
    q.limit = req->limit() == 0 ? 20 : req->limit();
    if (q.limit < 1 || q.limit > o_.maxPageSize)
      return toGrpcStatus(Error(ErrorCode::kInvalidRequest,
                                "limit must be from 1 to " + std::to_string(o_.maxPageSize)));
    if (!req->status().empty()) {
      q.status = store::parseStatus(req->status());
      if (!q.status)
        return toGrpcStatus(Error(ErrorCode::kInvalidRequest, "unknown status filter"));
    }
    q.intent = req->intent();
    q.afterId = req->cursor();
    auto page = d_.control.list(who, q);
    if (!page) return toGrpcStatus(page.error());
    for (auto& t : page->items) fillTask(t, resp->add_items());
    resp->set_next_cursor(page->nextCursor);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* GrpcTasksService::Cancel(grpc::CallbackServerContext* ctx,
                                                   const v1::CancelRequest* req, v1::Task* resp) {
  return unary(ctx, [this, req, resp](const Principal& who) -> grpc::Status {
    if (!who.hasAny(roleBit(Role::kAdmin) | roleBit(Role::kManager) | roleBit(Role::kUser)))
      return toGrpcStatus(Error(ErrorCode::kForbidden, "viewers cannot cancel tasks"));
    auto t = d_.control.cancel(who, req->task_id());
    if (!t) return toGrpcStatus(t.error());
    fillTask(*t, resp);
    return grpc::Status::OK;
  });
}

namespace {

// Streams a task's events: the store is re-read after each bus notification
// (as for SSE), so the order and gap-free sequence are the store's.
class EventStream final : public grpc::ServerWriteReactor<v1::Event> {
 public:
  EventStream(GatewayDeps d, grpc::CallbackServerContext* ctx, std::string taskId, int64_t afterSeq,
              std::function<Result<Principal>()> admit)
      : core_(std::make_shared<Core>()) {
    core_->d.emplace(d);
    core_->self = this;
    core_->taskId = std::move(taskId);
    core_->last = afterSeq;
    auto core = core_;
    boost::asio::post(d.blocking, [core, admit = std::move(admit)] {
      auto who = admit();
      std::lock_guard lock(core->mu);
      if (!core->self) return;
      if (!who) return core->finish(toGrpcStatus(who.error()));
      auto t = core->d->control.get(*who, core->taskId);
      if (!t) return core->finish(toGrpcStatus(t.error()));
      core->who = *who;
      std::weak_ptr<Core> weak = core;
      core->sub = core->d->control.subscribe(core->taskId, [weak](const store::Event&) {
        if (auto c = weak.lock()) c->schedule();
      });
      core->scheduleLocked();
    });
    (void)ctx;
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(core_->mu);
    core_->writing = false;
    if (!ok) return core_->finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
    core_->queue.pop_front();
    core_->writeNext();
  }

  void OnCancel() override {}

  void OnDone() override {
    {
      std::lock_guard lock(core_->mu);
      core_->self = nullptr;
      core_->sub.reset();
    }
    delete this;
  }

 private:
  struct Core : std::enable_shared_from_this<Core> {
    std::recursive_mutex mu;  // reactions may re-enter (StartWrite -> OnWriteDone)
    std::optional<GatewayDeps> d;
    EventStream* self = nullptr;
    std::string taskId;
    std::optional<Principal> who;
    int64_t last = 0;
    bool fetching = false, again = false, writing = false, done = false, finished = false;
    std::deque<v1::Event> queue;
    std::unique_ptr<events::EventBus::Subscription> sub;

    void schedule() {
      std::lock_guard lock(mu);
      scheduleLocked();
    }
    void scheduleLocked() {
      if (fetching) {
        again = true;
        return;
      }
      fetching = true;
      auto me = shared_from_this();
      boost::asio::post(d->blocking, [me] { me->fetch(); });
    }
    void fetch() {
      for (;;) {
        int64_t after;
        {
          std::lock_guard lock(mu);
          if (!self || finished) {
            fetching = false;
            return;
          }
          after = last;
          again = false;
        }
        auto evs = d->control.events(*who, taskId, after, 200);
        std::lock_guard lock(mu);
        if (!self || finished) {
          fetching = false;
          return;
        }
        if (!evs) {
          fetching = false;
          return finish(toGrpcStatus(evs.error()));
        }
        for (auto& e : *evs) {
          v1::Event out;
          out.set_task_id(e.taskId);
          out.set_seq(e.seq);
          out.set_type(e.type);
          out.set_ts(formatTimeMs(e.tsMs));
          if (e.data.is_object()) fromJson(e.data, out.mutable_data());
          queue.push_back(std::move(out));
          last = e.seq;
          done = done || e.type == "done";
        }
        if (!writing) writeNext();
        if (evs->size() < 200 && !again) {
          fetching = false;
          return;
        }
      }
    }
    void writeNext() {
      if (finished || !self) return;
      if (queue.empty()) {
        if (done) finish(grpc::Status::OK);
        return;
      }
      writing = true;
      self->StartWrite(&queue.front());
    }
    void finish(grpc::Status st) {
      if (finished || !self) return;
      finished = true;
      self->Finish(st);
    }
  };
  std::shared_ptr<Core> core_;
};

}  // namespace

grpc::ServerWriteReactor<v1::Event>* GrpcTasksService::Stream(grpc::CallbackServerContext* ctx,
                                                              const v1::StreamRequest* req) {
  if (req->after_seq() < 0) {
    auto* r = new EventStream(d_, ctx, req->task_id(), 0, [] {
      return Result<Principal>(fail(ErrorCode::kInvalidRequest, "after_seq must not be negative"));
    });
    return r;
  }
  return new EventStream(d_, ctx, req->task_id(), req->after_seq(),
                         [this, ctx] { return admit(ctx); });
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
