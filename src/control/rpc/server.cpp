#include "control/rpc/server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/json_text.h"
#include "control/rpc/codec.h"
#include "events/stream_writer.h"

namespace aion::control::rpc {
namespace asio = boost::asio;

namespace {

// Runs `fn` as a coroutine on `ex` (an I/O thread, or the store's readers
// for a read) and finishes the RPC with the status it returns.
template <typename Fn>
grpc::ServerUnaryReactor* unary(grpc::CallbackServerContext* ctx, asio::any_io_executor ex, Fn fn) {
  auto* reactor = ctx->DefaultReactor();
  asio::co_spawn(
      ex,
      [reactor, fn = std::move(fn)]() mutable -> asio::awaitable<void> {
        auto st = co_await fn();
        reactor->Finish(st);
      },
      asio::detached);
  return reactor;
}

// A task's events: the Follow RPC, or SubmitFollow's (whose first message
// carries the task it submitted).
class FollowWriter final : public events::StreamWriter<pb::EventBatch> {
 public:
  FollowWriter(ControlService& control, asio::any_io_executor ex, pb::FollowRequest req)
      : StreamWriter(std::move(ex)) {
    asio::co_spawn(core_->strand, follow(control, std::move(req)), asio::detached);
  }
  FollowWriter(ControlService& control, asio::any_io_executor ex, pb::SubmitRequest req)
      : StreamWriter(std::move(ex)) {
    asio::co_spawn(core_->strand, submitFollow(control, std::move(req)), asio::detached);
  }

 private:
  asio::awaitable<void> follow(ControlService& control, pb::FollowRequest req) {
    auto core = core_;  // Finish may end the reactor: keep the state alive
    if (req.after_seq() < 0)
      co_return Finish(
          toStatus(Error(ErrorCode::kInvalidRequest, "after_seq must not be negative")));
    auto f = co_await control.follow(fromProto(req.principal()), req.task_id(), req.after_seq());
    if (!f) co_return Finish(toStatus(f.error()));
    co_await pump(std::move(*f), pb::EventBatch());  // opened: found and authorised
  }

  asio::awaitable<void> submitFollow(ControlService& control, pb::SubmitRequest req) {
    auto core = core_;
    auto sub = fromProto(req);
    if (!sub) co_return Finish(toStatus(sub.error()));
    auto a = co_await control.submitAttached(std::move(*sub));
    if (!a) co_return Finish(toStatus(a.error()));
    pb::EventBatch first;
    toProto(a->task, first.mutable_task());
    co_await pump(std::move(a->follower), std::move(first));
  }

  // Writes `first` with the events already there, then the follower's events until "done", the
  // caller canceling, or an error; finishes the call.
  asio::awaitable<void> pump(std::unique_ptr<events::Follower> f, pb::EventBatch first) {
    auto core = core_;
    core->follower = f.get();
    // Events already there go with the first message: a submission's first
    // events reach the gateway with its task, one write and wake-up fewer.
    auto ready = co_await f->next(std::chrono::milliseconds(0));
    if (!ready) {
      core->follower = nullptr;
      co_return Finish(toStatus(ready.error()));
    }
    for (auto& e : *ready) toProto(e, first.add_events());
    bool gone = !co_await write(first);
    grpc::Status st = grpc::Status::OK;
    pb::EventBatch batch;
    while (!gone && !core->canceled && !f->finished()) {
      auto evs = co_await f->next(std::chrono::hours(1));
      if (!evs) {
        st = toStatus(evs.error());
        break;
      }
      if (evs->empty()) continue;
      batch.Clear();
      for (auto& e : *evs) toProto(e, batch.add_events());
      gone = !co_await write(batch);
    }
    core->follower = nullptr;
    if (gone || core->canceled) st = grpc::Status(grpc::StatusCode::CANCELLED, "canceled");
    Finish(st);
  }
};

class WatchWriter final : public events::StreamWriter<pb::Snapshot> {
 public:
  WatchWriter(ControlService& control, asio::any_io_executor ex, std::chrono::milliseconds every)
      : StreamWriter(std::move(ex)) {
    asio::co_spawn(core_->strand, run(control, every), asio::detached);
  }

 private:
  static pb::Snapshot snapshot(ControlService& control) {
    pb::Snapshot s;
    for (auto& m : control.models()) toProto(m, s.add_models());
    auto [ready, body] = control.readiness();
    // It changes with every task and says nothing to a gateway.
    if (auto* c = body.if_contains("checks"); c && c->is_object())
      c->as_object().erase("runningTasks");
    s.set_ready(ready);
    s.set_readiness_json(jsonText(body));
    return s;
  }

  asio::awaitable<void> run(ControlService& control, std::chrono::milliseconds every) {
    auto core = core_;
    std::string last;
    while (!core->canceled) {
      auto s = snapshot(control);
      auto key = s.SerializeAsString();
      if (key != last) {
        if (!co_await write(s)) break;
        last = std::move(key);
      }
      core->wake.expires_after(every);
      co_await core->wake.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    Finish(grpc::Status(grpc::StatusCode::CANCELLED, "canceled"));
  }
};

}  // namespace

grpc::ServerUnaryReactor* ControlRpcService::Submit(grpc::CallbackServerContext* ctx,
                                                    const pb::SubmitRequest* req, pb::Task* resp) {
  return unary(ctx, nextIo_(), [this, req, resp]() -> asio::awaitable<grpc::Status> {
    auto sub = fromProto(*req);
    if (!sub) co_return toStatus(sub.error());
    auto t = co_await control_.submit(std::move(*sub));
    if (!t) co_return toStatus(t.error());
    toProto(*t, resp);
    co_return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* ControlRpcService::Get(grpc::CallbackServerContext* ctx,
                                                 const pb::TaskRequest* req, pb::Task* resp) {
  return unary(ctx, control_.readExecutor(), [this, req, resp]() -> asio::awaitable<grpc::Status> {
    auto t = co_await control_.get(fromProto(req->principal()), req->task_id());
    if (!t) co_return toStatus(t.error());
    toProto(*t, resp);
    co_return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* ControlRpcService::List(grpc::CallbackServerContext* ctx,
                                                  const pb::ListRequest* req, pb::TaskPage* resp) {
  return unary(ctx, control_.readExecutor(), [this, req, resp]() -> asio::awaitable<grpc::Status> {
    store::ListQuery q;
    q.tenant = req->tenant();
    if (!req->status().empty()) {
      q.status = store::parseStatus(req->status());
      if (!q.status) co_return toStatus(Error(ErrorCode::kInvalidRequest, "unknown status filter"));
    }
    q.intent = req->intent();
    q.afterId = req->after_id();
    q.limit = req->limit();
    auto page = co_await control_.list(fromProto(req->principal()), q);
    if (!page) co_return toStatus(page.error());
    for (auto& t : page->items) toProto(t, resp->add_items());
    resp->set_next_cursor(page->nextCursor);
    co_return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* ControlRpcService::Cancel(grpc::CallbackServerContext* ctx,
                                                    const pb::CancelRequest* req, pb::Task* resp) {
  return unary(ctx, nextIo_(), [this, req, resp]() -> asio::awaitable<grpc::Status> {
    auto t = co_await control_.cancel(fromProto(req->principal()), req->task_id(), req->reason());
    if (!t) co_return toStatus(t.error());
    toProto(*t, resp);
    co_return grpc::Status::OK;
  });
}

grpc::ServerWriteReactor<pb::EventBatch>* ControlRpcService::Follow(grpc::CallbackServerContext*,
                                                                    const pb::FollowRequest* req) {
  return new FollowWriter(control_, nextIo_(), *req);
}

grpc::ServerWriteReactor<pb::EventBatch>* ControlRpcService::SubmitFollow(
    grpc::CallbackServerContext*, const pb::SubmitRequest* req) {
  return new FollowWriter(control_, nextIo_(), *req);
}

grpc::ServerWriteReactor<pb::Snapshot>* ControlRpcService::Watch(grpc::CallbackServerContext*,
                                                                 const pb::WatchRequest*) {
  return new WatchWriter(control_, nextIo_(), watchEvery_);
}

grpc::ServerUnaryReactor* ControlRpcService::IndexDocuments(grpc::CallbackServerContext* ctx,
                                                            const pb::IndexDocumentsRequest* req,
                                                            pb::IndexedDocuments* resp) {
  return unary(ctx, nextIo_(), [this, req, resp]() -> asio::awaitable<grpc::Status> {
    auto in = fromProto(*req);
    if (!in) co_return toStatus(in.error());
    auto out = co_await control_.indexDocuments(std::move(*in));
    if (!out) co_return toStatus(out.error());
    toProto(*out, resp);
    co_return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* ControlRpcService::ListCollections(grpc::CallbackServerContext* ctx,
                                                             const pb::ListCollectionsRequest* req,
                                                             pb::CollectionList* resp) {
  return unary(ctx, nextIo_(), [this, req, resp]() -> asio::awaitable<grpc::Status> {
    auto out = co_await control_.listCollections(fromProto(req->principal()));
    if (!out) co_return toStatus(out.error());
    toProto(*out, resp);
    co_return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* ControlRpcService::DeleteCollection(
    grpc::CallbackServerContext* ctx, const pb::DeleteCollectionRequest* req,
    pb::CollectionDeleted*) {
  return unary(ctx, nextIo_(), [this, req]() -> asio::awaitable<grpc::Status> {
    auto name = collectionOf(*req);
    if (!name) co_return toStatus(name.error());
    auto gone = co_await control_.deleteCollection(fromProto(req->principal()), std::move(*name));
    if (!gone) co_return toStatus(gone.error());
    co_return grpc::Status::OK;
  });
}

std::shared_ptr<grpc::ServerCredentials> serverCredentials(const std::string& certPem,
                                                           const std::string& keyPem,
                                                           const std::string& caPem) {
  if (certPem.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions o(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  o.pem_key_cert_pairs.push_back({keyPem, certPem});
  o.pem_root_certs = caPem;
  return grpc::SslServerCredentials(o);
}

std::unique_ptr<grpc::Server> startControlRpcServer(
    ControlRpcService& service, const std::string& address, int& port,
    std::shared_ptr<grpc::ServerCredentials> creds) {
  grpc::ServerBuilder b;
  b.AddListeningPort(address + ":" + std::to_string(port), std::move(creds), &port);
  b.RegisterService(&service);
  b.SetMaxReceiveMessageSize(8 << 20);
  b.SetMaxSendMessageSize(64 << 20);
  // Gateways ping every 10 s to notice a dead control plane; allow it.
  b.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  return b.BuildAndStart();
}

}  // namespace aion::control::rpc
