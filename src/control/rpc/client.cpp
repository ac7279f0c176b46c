#include "control/rpc/client.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "common/async.h"
#include "control/rpc/codec.h"
#include "telemetry/trace.h"

namespace aion::control::rpc {
namespace asio = boost::asio;
namespace json = boost::json;

struct Snapshot {
  std::vector<ModelEntry> models;
  bool ready = false;
  json::object readiness;
};

struct RemoteControl::Shared {
  std::string target;
  std::mutex mu;
  std::shared_ptr<const Snapshot> snapshot;   // null until the first one
  std::string problem = "not connected yet";  // why the Watch stream is down
  bool stopped = false;
  grpc::ClientContext* watchCtx = nullptr;  // the open Watch call, to cancel it
  //! Calls gRPC has not finished yet (their OnDone or callback has not
  //! returned): the channel must outlive them.
  int calls = 0;
  std::condition_variable idle;  // calls reached 0

  void began() {
    std::lock_guard lock(mu);
    ++calls;
  }
  void ended() {
    std::lock_guard lock(mu);
    if (--calls == 0) idle.notify_all();
  }
};

namespace {

// The W3C traceparent a submission's calls carry as gRPC metadata (empty
// without a trace to join).
std::string traceparentOf(const SubmitRequest& req) {
  if (req.traceId.empty() || req.parentSpanId.empty()) return {};
  return telemetry::traceparent(req.traceId, req.parentSpanId, req.sampled);
}

// Wakes a coroutine waiting on `timer` from any thread.
void wake(const std::shared_ptr<asio::steady_timer>& timer) {
  asio::post(timer->get_executor(), [timer] { timer->cancel(); });
}

// A task's events over a Follow stream, or a SubmitFollow one. The reactor
// owns itself until gRPC calls OnDone; the follower and the reactor share
// the inbox.
class FollowReactor final : public grpc::ClientReadReactor<pb::EventBatch> {
 public:
  struct Inbox {
    std::mutex mu;
    std::deque<store::Event> events;
    bool opened = false;           // the first batch came: found and authorised (or submitted)
    std::optional<pb::Task> task;  // SubmitFollow's task, from the first batch
    bool ended = false;
    grpc::Status status;
    std::optional<Error> bad;  // a batch that did not parse
    std::shared_ptr<asio::steady_timer> timer;
  };

  FollowReactor(pb::Control::Stub* stub, std::shared_ptr<RemoteControl::Shared> shared,
                pb::FollowRequest req, std::shared_ptr<Inbox> inbox)
      : shared_(std::move(shared)), follow_(std::move(req)), inbox_(std::move(inbox)) {
    shared_->began();
    stub->async()->Follow(&ctx_, &follow_, this);
    StartRead(&batch_);
    StartCall();
  }
  FollowReactor(pb::Control::Stub* stub, std::shared_ptr<RemoteControl::Shared> shared,
                pb::SubmitRequest req, const std::string& traceparent, std::shared_ptr<Inbox> inbox)
      : shared_(std::move(shared)), submit_(std::move(req)), inbox_(std::move(inbox)) {
    shared_->began();
    if (!traceparent.empty()) ctx_.AddMetadata("traceparent", traceparent);
    stub->async()->SubmitFollow(&ctx_, &submit_, this);
    StartRead(&batch_);
    StartCall();
  }
  void cancel() { ctx_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    {
      std::lock_guard lock(inbox_->mu);
      if (!inbox_->opened && batch_.has_task()) inbox_->task = std::move(*batch_.mutable_task());
      inbox_->opened = true;
      for (auto& e : batch_.events()) {
        auto ev = fromProto(e);
        if (!ev) {
          inbox_->bad = ev.error();
          break;
        }
        inbox_->events.push_back(std::move(*ev));
      }
    }
    wake(inbox_->timer);
    batch_.Clear();
    StartRead(&batch_);
  }
  void OnDone(const grpc::Status& st) override {
    {
      std::lock_guard lock(inbox_->mu);
      inbox_->ended = true;
      inbox_->status = st;
    }
    wake(inbox_->timer);
    auto shared = shared_;
    delete this;
    shared->ended();
  }

 private:
  std::shared_ptr<RemoteControl::Shared> shared_;
  grpc::ClientContext ctx_;
  pb::FollowRequest follow_;  // the request of the call, whichever it is
  pb::SubmitRequest submit_;
  pb::EventBatch batch_;
  std::shared_ptr<Inbox> inbox_;
};

class RemoteFollower final : public events::Follower {
 public:
  RemoteFollower(std::shared_ptr<FollowReactor::Inbox> inbox, FollowReactor* reactor,
                 std::string target, int64_t afterSeq)
      : inbox_(std::move(inbox)), reactor_(reactor), target_(std::move(target)), last_(afterSeq) {}
  ~RemoteFollower() override {
    std::lock_guard lock(inbox_->mu);
    if (!inbox_->ended) reactor_->cancel();  // the reactor frees itself at OnDone
  }

  //! Waits up to `timeout` for the stream to open; an error if it ended.
  asio::awaitable<Status> opened(std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      {
        std::lock_guard lock(inbox_->mu);
        if (inbox_->opened) co_return Status{};
        if (inbox_->ended) co_return std::unexpected(ended());
      }
      if (std::chrono::steady_clock::now() >= until)
        co_return fail(ErrorCode::kTimeout, "the control plane at " + target_ +
                                                " did not open the event stream in time");
      inbox_->timer->expires_at(until);
      co_await inbox_->timer->async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }

  asio::awaitable<Result<std::vector<store::Event>>> next(std::chrono::milliseconds wait) override {
    if (finished_) co_return std::vector<store::Event>{};
    auto until = std::chrono::steady_clock::now() + wait;
    for (;;) {
      std::vector<store::Event> out;
      {
        std::lock_guard lock(inbox_->mu);
        if (inbox_->bad) co_return std::unexpected(*inbox_->bad);
        while (!inbox_->events.empty()) {
          auto e = std::move(inbox_->events.front());
          inbox_->events.pop_front();
          if (e.seq <= last_) continue;
          last_ = e.seq;
          bool done = e.type == "done";
          out.push_back(std::move(e));
          if (done) {
            finished_ = true;
            break;
          }
        }
        if (out.empty() && inbox_->ended) co_return std::unexpected(ended());
      }
      if (!out.empty() || interrupted_ || std::chrono::steady_clock::now() >= until) {
        interrupted_ = false;
        co_return out;
      }
      inbox_->timer->expires_at(until);
      co_await inbox_->timer->async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
  bool finished() const override { return finished_; }
  int64_t lastSeq() const override { return last_; }
  void interrupt() override {
    interrupted_ = true;
    inbox_->timer->cancel();
  }

 private:
  // Why the stream ended before "done" (inbox_->mu held).
  Error ended() const {
    if (inbox_->status.ok())
      return Error(ErrorCode::kUnavailable,
                   "the control plane at " + target_ + " ended the event stream early");
    return fromStatus(inbox_->status, "the control plane at " + target_);
  }

  std::shared_ptr<FollowReactor::Inbox> inbox_;
  FollowReactor* reactor_;
  std::string target_;
  int64_t last_;
  bool finished_ = false;
  bool interrupted_ = false;
};

// The Watch stream: stores each snapshot; when it ends, reconnects after a
// backoff unless stopped.
class WatchReactor final : public grpc::ClientReadReactor<pb::Snapshot> {
 public:
  WatchReactor(pb::Control::Stub* stub, std::shared_ptr<RemoteControl::Shared> shared,
               asio::any_io_executor ex, std::chrono::milliseconds backoff)
      : stub_(stub), shared_(std::move(shared)), ex_(std::move(ex)), backoff_(backoff) {
    // The creator counted this call in shared->calls (so that a stop cannot
    // slip between its check and this call); a stop that came first ends it.
    bool stopped;
    {
      std::lock_guard lock(shared_->mu);
      shared_->watchCtx = &ctx_;
      stopped = shared_->stopped;
    }
    if (stopped) ctx_.TryCancel();  // before the call: gRPC cancels it as it starts
    stub->async()->Watch(&ctx_, &req_, this);
    StartRead(&snap_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    auto s = std::make_shared<Snapshot>();
    for (auto& m : snap_.models()) s->models.push_back(fromProto(m));
    s->ready = snap_.ready();
    boost::system::error_code ec;
    auto r = json::parse(snap_.readiness_json(), ec);
    if (!ec && r.is_object()) s->readiness = std::move(r.as_object());
    bool first;
    {
      std::lock_guard lock(shared_->mu);
      first = !shared_->problem.empty();
      shared_->snapshot = std::move(s);
      shared_->problem.clear();
    }
    if (first) spdlog::info("control plane at {}: connected", shared_->target);
    backoff_ = std::chrono::milliseconds(200);
    StartRead(&snap_);
  }

  void OnDone(const grpc::Status& st) override {
    bool stopped;
    {
      std::lock_guard lock(shared_->mu);
      shared_->watchCtx = nullptr;
      stopped = shared_->stopped;
      if (!stopped) {
        bool was = shared_->problem.empty();
        shared_->problem = st.ok() ? "the watch stream ended" : st.error_message();
        if (was)
          spdlog::warn("control plane at {}: {} (reconnecting)", shared_->target, shared_->problem);
      }
    }
    if (!stopped) {
      auto timer = std::make_shared<asio::steady_timer>(ex_, backoff_);
      auto next = std::min(backoff_ * 2, std::chrono::milliseconds(2000));
      timer->async_wait([timer, stub = stub_, shared = shared_, ex = ex_,
                         next](const boost::system::error_code&) {
        {
          std::lock_guard lock(shared->mu);
          if (shared->stopped) return;
          ++shared->calls;
        }
        new WatchReactor(stub, shared, ex, next);
      });
    }
    auto shared = shared_;
    delete this;
    shared->ended();
  }

 private:
  pb::Control::Stub* stub_;
  std::shared_ptr<RemoteControl::Shared> shared_;
  asio::any_io_executor ex_;
  std::chrono::milliseconds backoff_;
  grpc::ClientContext ctx_;
  pb::WatchRequest req_;
  pb::Snapshot snap_;
};

}  // namespace

std::shared_ptr<grpc::ChannelCredentials> clientCredentials(const std::string& certPem,
                                                            const std::string& keyPem,
                                                            const std::string& caPem) {
  if (certPem.empty()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = caPem;
  o.pem_private_key = keyPem;
  o.pem_cert_chain = certPem;
  return grpc::SslCredentials(o);
}

RemoteControl::RemoteControl(ClientOptions o, std::function<asio::any_io_executor()> nextIo)
    : o_(std::move(o)), nextIo_(std::move(nextIo)), shared_(std::make_shared<Shared>()) {
  grpc::ChannelArguments args;
  // A dead control plane shows within seconds, not at the next TCP timeout.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // A control plane that restarts is back in seconds: retry the connection
  // that often (gRPC's default backoff grows to two minutes).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  args.SetMaxReceiveMessageSize(64 << 20);
  channel_ = grpc::CreateCustomChannel(o_.target, o_.creds, args);
  stub_ = pb::Control::NewStub(channel_);
  shared_->target = o_.target;
}

RemoteControl::~RemoteControl() {
  stop();
  // Every call ends before the channel goes. gRPC 1.51 frees its callback
  // queue twice when a call still completes as the process's last channel is
  // destroyed (ASan, at a gateway's SIGTERM). Followers and unary calls end
  // by cancel or deadline; bounded all the same.
  std::unique_lock lock(shared_->mu);
  if (!shared_->idle.wait_for(lock, std::chrono::seconds(5), [&] { return shared_->calls == 0; }))
    spdlog::warn("control plane at {}: {} call(s) still open at shutdown", shared_->target,
                 shared_->calls);
}

void RemoteControl::start() {
  shared_->began();
  new WatchReactor(stub_.get(), shared_, nextIo_(), std::chrono::milliseconds(200));
}

void RemoteControl::stop() {
  std::lock_guard lock(shared_->mu);
  shared_->stopped = true;
  if (shared_->watchCtx) shared_->watchCtx->TryCancel();
}

template <typename Resp, typename Req, typename Start>
asio::awaitable<Result<Resp>> RemoteControl::call(Req req, Start start, std::string traceparent,
                                                  std::chrono::milliseconds timeout) {
  struct Call {
    grpc::ClientContext ctx;
    Req req;
    Resp resp;
    grpc::Status status;
  };
  auto c = std::make_shared<Call>();
  c->req = std::move(req);
  c->ctx.set_deadline(std::chrono::system_clock::now() +
                      (timeout.count() > 0 ? timeout : o_.callTimeout));
  if (!traceparent.empty()) c->ctx.AddMetadata("traceparent", traceparent);
  auto* stub = stub_.get();
  auto begin = [c, stub, start, shared = shared_](auto done) {
    shared->began();
    start(stub, &c->ctx, &c->req, &c->resp, [c, done, shared](grpc::Status st) {
      c->status = std::move(st);
      done();
      shared->ended();
    });
  };
  co_await callbackAsync<>(asio::use_awaitable, std::move(begin));
  if (!c->status.ok())
    co_return std::unexpected(fromStatus(c->status, "the control plane at " + o_.target));
  co_return std::move(c->resp);
}

ControlApi::Awaitable RemoteControl::submit(SubmitRequest req) {
  pb::SubmitRequest m;
  toProto(req, &m);
  std::string tp = traceparentOf(req);
  auto start = [](pb::Control::Stub* s, grpc::ClientContext* ctx, const pb::SubmitRequest* r,
                  pb::Task* out, std::function<void(grpc::Status)> done) {
    s->async()->Submit(ctx, r, out, std::move(done));
  };
  auto t = co_await call<pb::Task>(std::move(m), start, std::move(tp));
  if (!t) co_return std::unexpected(t.error());
  co_return fromProto(*t);
}

ControlApi::Awaitable RemoteControl::get(Principal who, std::string id) {
  pb::TaskRequest m;
  toProto(who, m.mutable_principal());
  m.set_task_id(std::move(id));
  auto start = [](pb::Control::Stub* s, grpc::ClientContext* ctx, const pb::TaskRequest* r,
                  pb::Task* out, std::function<void(grpc::Status)> done) {
    s->async()->Get(ctx, r, out, std::move(done));
  };
  auto t = co_await call<pb::Task>(std::move(m), start);
  if (!t) co_return std::unexpected(t.error());
  co_return fromProto(*t);
}

asio::awaitable<Result<store::TaskPage>> RemoteControl::list(Principal who, store::ListQuery q) {
  pb::ListRequest m;
  toProto(who, m.mutable_principal());
  m.set_tenant(q.tenant);
  if (q.status) m.set_status(std::string(store::statusName(*q.status)));
  m.set_intent(q.intent);
  m.set_after_id(q.afterId);
  m.set_limit(q.limit);
  auto start = [](pb::Control::Stub* s, grpc::ClientContext* ctx, const pb::ListRequest* r,
                  pb::TaskPage* out, std::function<void(grpc::Status)> done) {
    s->async()->List(ctx, r, out, std::move(done));
  };
  auto page = co_await call<pb::TaskPage>(std::move(m), start);
  if (!page) co_return std::unexpected(page.error());
  store::TaskPage out;
  out.nextCursor = page->next_cursor();
  for (auto& t : page->items()) {
    auto task = fromProto(t);
    if (!task) co_return std::unexpected(task.error());
    out.items.push_back(std::move(*task));
  }
  co_return out;
}

ControlApi::Awaitable RemoteControl::cancel(Principal who, std::string id, std::string reason) {
  pb::CancelRequest m;
  toProto(who, m.mutable_principal());
  m.set_task_id(std::move(id));
  m.set_reason(std::move(reason));
  auto start = [](pb::Control::Stub* s, grpc::ClientContext* ctx, const pb::CancelRequest* r,
                  pb::Task* out, std::function<void(grpc::Status)> done) {
    s->async()->Cancel(ctx, r, out, std::move(done));
  };
  auto t = co_await call<pb::Task>(std::move(m), start);
  if (!t) co_return std::unexpected(t.error());
  co_return fromProto(*t);
}

asio::awaitable<Result<std::unique_ptr<events::Follower>>> RemoteControl::follow(Principal who,
                                                                                 std::string id,
                                                                                 int64_t afterSeq) {
  pb::FollowRequest m;
  toProto(who, m.mutable_principal());
  m.set_task_id(std::move(id));
  m.set_after_seq(afterSeq);
  auto inbox = std::make_shared<FollowReactor::Inbox>();
  inbox->timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
  auto* reactor = new FollowReactor(stub_.get(), shared_, std::move(m), inbox);
  auto f = std::make_unique<RemoteFollower>(inbox, reactor, o_.target, afterSeq);
  auto st = co_await f->opened(o_.openTimeout);
  if (!st) co_return std::unexpected(st.error());
  co_return std::unique_ptr<events::Follower>(std::move(f));
}

asio::awaitable<Result<Attached>> RemoteControl::submitAttached(SubmitRequest req) {
  req.attached = true;
  pb::SubmitRequest m;
  toProto(req, &m);
  std::string tp = traceparentOf(req);
  auto inbox = std::make_shared<FollowReactor::Inbox>();
  inbox->timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
  auto* reactor = new FollowReactor(stub_.get(), shared_, std::move(m), tp, inbox);
  auto f = std::make_unique<RemoteFollower>(inbox, reactor, o_.target, 0);
  // As long as a unary submit may take, or a follow to open.
  auto st = co_await f->opened(std::max(o_.callTimeout, o_.openTimeout));
  if (!st) co_return std::unexpected(st.error());
  std::optional<pb::Task> task;
  {
    std::lock_guard lock(inbox->mu);
    task = std::move(inbox->task);
  }
  if (!task) co_return fail(ErrorCode::kInternal, "control plane sent no task in SubmitFollow");
  auto t = fromProto(*task);
  if (!t) co_return std::unexpected(t.error());
  co_return Attached{std::move(*t), std::move(f)};
}

asio::awaitable<Result<IndexedDocuments>> RemoteControl::indexDocuments(IndexRequest req) {
  pb::IndexDocumentsRequest m;
  toProto(req, &m);
  auto start = [](pb::Control::Stub* s, grpc::ClientContext* ctx,
                  const pb::IndexDocumentsRequest* r, pb::IndexedDocuments* out,
                  std::function<void(grpc::Status)> done) {
    s->async()->IndexDocuments(ctx, r, out, std::move(done));
  };
  auto timeout = std::max(o_.indexTimeout, o_.callTimeout);
  auto out = co_await call<pb::IndexedDocuments>(std::move(m), start, {}, timeout);
  if (!out) co_return std::unexpected(out.error());
  co_return fromProto(*out);
}

asio::awaitable<Result<CollectionList>> RemoteControl::listCollections(Principal who) {
  pb::ListCollectionsRequest m;
  toProto(who, m.mutable_principal());
  auto start = [](pb::Control::Stub* s, grpc::ClientContext* ctx,
                  const pb::ListCollectionsRequest* r, pb::CollectionList* out,
                  std::function<void(grpc::Status)> done) {
    s->async()->ListCollections(ctx, r, out, std::move(done));
  };
  auto out = co_await call<pb::CollectionList>(std::move(m), start);
  if (!out) co_return std::unexpected(out.error());
  co_return fromProto(*out);
}

asio::awaitable<Status> RemoteControl::deleteCollection(Principal who, std::string collection) {
  pb::DeleteCollectionRequest m;
  toProto(who, m.mutable_principal());
  m.set_collection(std::move(collection));
  auto start = [](pb::Control::Stub* s, grpc::ClientContext* ctx,
                  const pb::DeleteCollectionRequest* r, pb::CollectionDeleted* out,
                  std::function<void(grpc::Status)> done) {
    s->async()->DeleteCollection(ctx, r, out, std::move(done));
  };
  auto out = co_await call<pb::CollectionDeleted>(std::move(m), start);
  if (!out) co_return std::unexpected(out.error());
  co_return Status{};
}

std::vector<ModelEntry> RemoteControl::models() {
  std::lock_guard lock(shared_->mu);
  return shared_->snapshot ? shared_->snapshot->models : std::vector<ModelEntry>{};
}

Result<ModelEntry> RemoteControl::model(const std::string& name, const std::string& intent) {
  std::shared_ptr<const Snapshot> s;
  {
    std::lock_guard lock(shared_->mu);
    s = shared_->snapshot;
  }
  if (!s)
    return fail(ErrorCode::kUnavailable,
                "the control plane at " + o_.target + " is not connected yet");
  return findModel(s->models, name, intent);
}

std::pair<bool, json::object> RemoteControl::readiness() {
  std::lock_guard lock(shared_->mu);
  json::object control{{"target", o_.target}};
  if (!shared_->problem.empty()) {
    control["status"] = "unreachable: " + shared_->problem;
    return {false, json::object{{"status", "not_ready"}, {"checks", {{"control", control}}}}};
  }
  auto& s = *shared_->snapshot;
  control["status"] = s.ready ? "ok" : "not ready";
  json::object out = s.readiness;
  auto& checks = out["checks"].is_object() ? out["checks"].as_object()
                                           : (out["checks"] = json::object()).as_object();
  checks["control"] = control;
  return {s.ready, out};
}

}  // namespace aion::control::rpc
