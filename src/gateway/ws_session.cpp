#include "gateway/ws_session.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "common/json_text.h"
#include "gateway/admission.h"
#include "gateway/task_codec.h"
#include "http/handler_util.h"
#include "telemetry/tracer.h"

namespace aion::gateway {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;

namespace {

Error tooManySubscriptions(size_t max) {
  return Error(ErrorCode::kInvalidRequest,
               "at most " + std::to_string(max) + " subscriptions per connection");
}

std::string stringField(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

WsSession::WsSession(GatewayDeps d, GatewayOptions o, http::Stream& stream,
                     std::optional<Principal> who)
    : d_(d),
      o_(o),
      ws_(stream),
      who_(std::move(who)),
      writeWake_(ws_.get_executor()),
      closeDeadline_(ws_.get_executor()) {}

asio::awaitable<void> WsSession::run(const http::Request& req, telemetry::TraceJoin trace) {
  traceId_ = std::move(trace.traceId);
  parentSpanId_ = std::move(trace.parentSpanId);
  sampled_ = trace.sampled;
  traceState_ = std::move(trace.traceState);
  auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
  timeouts.idle_timeout = std::chrono::seconds(60);  // pings after 30 s idle; no answer: closed
  timeouts.keep_alive_pings = true;
  ws_.set_option(timeouts);
  ws_.read_message_max(o_.wsMaxQueuedBytes);
  beast::get_lowest_layer(ws_).expires_never();
  ws_.set_option(websocket::stream_base::decorator(
      [id = traceId_](websocket::response_type& res) { res.set("x-aion-trace-id", id); }));
  auto [ec] = co_await ws_.async_accept(req, asio::as_tuple(asio::use_awaitable));
  if (ec) co_return;
  auto self = shared_from_this();
  asio::co_spawn(ws_.get_executor(), self->writeLoop(), asio::detached);
  if (who_)
    send({{"type", "authenticated"},
          {"tenant", who_->tenant},
          {"roles", roleSetString(who_->roles)}});
  co_await readLoop();
  done_ = true;
  closeDeadline_.cancel();
  // Tasks this connection submitted and still follows end with it.
  auto subs = std::exchange(subs_, {});
  for (auto& [taskId, sub] : subs) {
    sub->stopped = true;
    sub->follower->interrupt();
    if (sub->owned && !sub->follower->finished() && who_)
      co_await d_.control.cancel(*who_, taskId, kClientLeft);
  }
  wake(writeWake_);
}

asio::awaitable<void> WsSession::readLoop() {
  beast::flat_buffer buf;
  while (!done_) {
    auto [ec, n] = co_await ws_.async_read(buf, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;   // closed by the peer, timed out, or message over the size limit
    if (closeReason_) {  // closing: only the peer's close reply matters now
      buf.consume(buf.size());
      continue;
    }
    if (!ws_.got_text()) {
      sendError(Error(ErrorCode::kInvalidRequest, "send JSON text messages"), "");
      buf.consume(buf.size());
      continue;
    }
    auto v = http::parseJsonText(beast::buffers_to_string(buf.data()), "message");
    buf.consume(buf.size());
    if (!v || !v->is_object()) {
      sendError(
          v ? Error(ErrorCode::kInvalidRequest, "each message must be a JSON object") : v.error(),
          "");
      continue;
    }
    co_await handle(v->as_object());
  }
}

asio::awaitable<void> WsSession::handle(const json::object& msg) {
  std::string type = stringField(msg, "type");
  std::string id = stringField(msg, "id");
  if (type == "ping") {
    send({{"type", "pong"}, {"id", id}});
    co_return;
  }
  if (!who_) {
    if (type != "auth") {
      closeWith(websocket::close_code::policy_error,
                "authenticate first: {\"type\":\"auth\",\"apiKey\":\"...\"}");
      co_return;
    }
    Credentials creds;
    creds.apiKey = stringField(msg, "apiKey");
    creds.tenant = stringField(msg, "tenant");
    creds.traceId = traceId_;
    creds.parentSpanId = parentSpanId_;
    creds.sampled = sampled_;
    auto p = co_await d_.admission.authenticate(std::move(creds));
    if (!p) {
      sendError(p.error(), id);
      closeWith(websocket::close_code::policy_error, p.error().message);
      co_return;
    }
    who_ = p->who;
    send({{"type", "authenticated"},
          {"id", id},
          {"tenant", who_->tenant},
          {"roles", roleSetString(who_->roles)}});
    co_return;
  }
  if (type == "submit" || type == "subscribe") {
    // Each request message counts like an HTTP request against the key's limit.
    if (auto st = co_await d_.admission.limitKey(*who_); !st) {
      sendError(st.error(), id);
      co_return;
    }
    if (type == "submit")
      co_await onSubmit(msg, id);
    else
      co_await onSubscribe(msg, id);
    co_return;
  }
  if (type == "unsubscribe") {
    std::string taskId = stringField(msg, "taskId");
    bool had = false;
    if (auto it = subs_.find(taskId); it != subs_.end()) {
      it->second->stopped = true;
      it->second->follower->interrupt();
      subs_.erase(it);
      had = true;
    }
    send({{"type", "unsubscribed"}, {"id", id}, {"taskId", taskId}, {"wasSubscribed", had}});
    co_return;
  }
  sendError(Error(ErrorCode::kInvalidRequest, "unknown message type '" + type + "'",
                  {{"known", json::array{"auth", "submit", "subscribe", "unsubscribe", "ping"}}}),
            id);
}

asio::awaitable<void> WsSession::onSubmit(const json::object& msg, const std::string& id) {
  auto* task = msg.if_contains("task");
  if (!task || !task->is_object()) {
    sendError(Error(ErrorCode::kInvalidRequest, "submit needs a task object"), id);
    co_return;
  }
  auto req = parseSubmit(task->as_object(), *who_);
  if (!req) {
    sendError(req.error(), id);
    co_return;
  }
  req->surface = "websocket";
  req->traceId = traceId_;
  req->parentSpanId = parentSpanId_;
  req->sampled = sampled_;
  req->traceState = traceState_;
  auto* wants = msg.if_contains("subscribe");
  if (!wants || !wants->is_bool() || !wants->as_bool()) {
    auto t = co_await d_.control.submit(std::move(*req));
    if (!t) co_return sendError(t.error(), id);
    send({{"type", "submitted"},
          {"id", id},
          {"taskId", t->id},
          {"status", store::statusName(t->status)}});
    co_return;
  }
  if (subs_.size() >= o_.wsMaxSubscriptions)
    co_return sendError(tooManySubscriptions(o_.wsMaxSubscriptions), id);
  auto a = co_await d_.control.submitAttached(std::move(*req));
  if (!a) co_return sendError(a.error(), id);
  send({{"type", "submitted"},
        {"id", id},
        {"taskId", a->task.id},
        {"status", store::statusName(a->task.status)}});
  if (done_) {  // the connection ended meanwhile: its task ends with it
    co_await d_.control.cancel(*who_, a->task.id, kClientLeft);
    co_return;
  }
  subscribe(a->task.id, 0, std::move(a->follower), id, true);
}

asio::awaitable<void> WsSession::onSubscribe(const json::object& msg, const std::string& id) {
  std::string taskId = stringField(msg, "taskId");
  int64_t after = 0;
  if (auto* a = msg.if_contains("afterSeq")) {
    if (!a->is_int64() || a->as_int64() < 0) {
      sendError(Error(ErrorCode::kInvalidRequest, "afterSeq must be a non-negative integer"), id);
      co_return;
    }
    after = a->as_int64();
  }
  if (subs_.size() >= o_.wsMaxSubscriptions && !subs_.count(taskId))
    co_return sendError(tooManySubscriptions(o_.wsMaxSubscriptions), id);
  auto f = co_await d_.control.follow(*who_, taskId, after);
  if (!f) {
    sendError(f.error(), id);
    co_return;
  }
  if (done_) co_return;
  subscribe(taskId, after, std::move(*f), id, false);
}

void WsSession::subscribe(const std::string& taskId, int64_t after,
                          std::unique_ptr<events::Follower> f, const std::string& id, bool owned) {
  if (auto it = subs_.find(taskId); it != subs_.end()) {  // subscribing again restarts it
    it->second->stopped = true;
    it->second->follower->interrupt();
  }
  auto sub = std::make_shared<Sub>();
  sub->follower = std::move(f);
  sub->owned = owned;
  subs_[taskId] = sub;
  send({{"type", "subscribed"}, {"id", id}, {"taskId", taskId}, {"afterSeq", after}});
  asio::co_spawn(ws_.get_executor(), shared_from_this()->pump(taskId, sub), asio::detached);
}

asio::awaitable<void> WsSession::pump(std::string taskId, std::shared_ptr<Sub> sub) {
  auto self = shared_from_this();
  auto& f = *sub->follower;
  while (!done_ && !sub->stopped && !f.finished()) {
    auto evs = co_await f.next(std::chrono::hours(1));
    if (done_ || sub->stopped) break;
    if (!evs) {
      sendError(evs.error(), "");
      break;
    }
    for (auto& e : *evs) send({{"type", "event"}, {"event", eventJson(e)}});
  }
  // Nothing follows "done": the subscription ends by itself.
  if (auto it = subs_.find(taskId); it != subs_.end() && it->second == sub) subs_.erase(it);
}

void WsSession::send(json::object msg) {
  if (done_ || closeReason_) return;
  std::string text = jsonText(msg);
  if (outBytes_ + text.size() > o_.wsMaxQueuedBytes) {
    d_.metrics.streamDropped("websocket", "slow_reader");
    closeWith(websocket::close_code::policy_error,
              "slow reader: outgoing queue over " + std::to_string(o_.wsMaxQueuedBytes) + " bytes",
              true);
    return;
  }
  outBytes_ += text.size();
  out_.push_back(std::move(text));
  wake(writeWake_);
}

void WsSession::sendError(const Error& e, const std::string& id) {
  send({{"type", "error"}, {"id", id}, {"error", toJson(e)}});
}

void WsSession::closeWith(websocket::close_code code, std::string reason, bool dropQueued) {
  if (closeReason_) return;
  if (dropQueued) {
    out_.clear();
    outBytes_ = 0;
  }
  // A close reason is at most 123 bytes on the wire.
  if (reason.size() > 120) reason.resize(120);
  closeReason_ = websocket::close_reason(code, reason);
  // A write may be stuck on a peer that does not read, and a peer that keeps
  // sending keeps the reader busy: the connection ends within 5 s whatever
  // the peer does. (The stream's own expiry is not enough: reads the peer
  // feeds keep completing.)
  closeDeadline_.expires_after(std::chrono::seconds(5));
  closeDeadline_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->done_) return;
    self->done_ = true;
    boost::system::error_code ignore;
    beast::get_lowest_layer(self->ws_).socket().close(ignore);
  });
  wake(writeWake_);
}

asio::awaitable<void> WsSession::writeLoop() {
  auto self = shared_from_this();
  while (!done_) {
    if (out_.empty() && !closeReason_) {
      writeWake_.expires_after(std::chrono::hours(24));
      co_await writeWake_.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    if (!out_.empty()) {
      std::string msg = std::move(out_.front());
      out_.pop_front();
      outBytes_ -= msg.size();
      ws_.text(true);
      auto [ec, n] =
          co_await ws_.async_write(asio::buffer(msg), asio::as_tuple(asio::use_awaitable));
      (void)n;
      if (ec) break;
      continue;
    }
    // The reader sees the peer's close reply (or the 5 s deadline) and ends
    // the session; closing the socket here could reset unread data.
    co_await ws_.async_close(*closeReason_, asio::as_tuple(asio::use_awaitable));
    co_return;
  }
  if (!done_) {  // the write failed: the connection is gone, stop the reader too
    done_ = true;
    boost::system::error_code ignore;
    beast::get_lowest_layer(ws_).socket().close(ignore);
  }
}

}  // namespace aion::gateway
