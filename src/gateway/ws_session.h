#pragma once
// GET /v1/ws: JSON messages over one WebSocket (docs/api.md#websocket).
// Client: auth, submit, subscribe (with replay from a sequence number),
// unsubscribe, ping. Server: authenticated, submitted, subscribed, event,
// unsubscribed, pong, error. One strand per connection runs a reader, a
// writer, and one follower per subscription (the same event-follow path as
// SSE and gRPC: in order, without gaps, pushed). A task submitted with
// "subscribe": true belongs to this connection: closing it cancels the task.
// The outgoing queue is bounded: a reader too slow to keep up is
// disconnected with close code 1008 and a reason, never buffered without
// limit.
#include <boost/beast/websocket.hpp>
#include <deque>
#include <map>
#include <memory>

#include "gateway/gateway_http.h"
#include "telemetry/tracer.h"

namespace aion::gateway {

class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  //! Over the HTTP session's stream, which keeps owning the socket.
  using Socket = boost::beast::websocket::stream<http::Stream&>;

  WsSession(GatewayDeps d, GatewayOptions o, http::Stream& stream, std::optional<Principal> who);
  //! Completes the upgrade of `req`, then serves until either side closes.
  //! Serves the connection; its tasks and admission spans join `trace`
  //! (parent: the upgrade request's server span).
  boost::asio::awaitable<void> run(const http::Request& req, telemetry::TraceJoin trace);

 private:
  struct Sub {
    std::unique_ptr<events::Follower> follower;
    bool owned = false;  // submitted on this connection: canceled when it closes
    bool stopped = false;
  };

  boost::asio::awaitable<void> readLoop();
  boost::asio::awaitable<void> writeLoop();
  boost::asio::awaitable<void> pump(std::string taskId, std::shared_ptr<Sub> sub);
  boost::asio::awaitable<void> handle(const boost::json::object& msg);
  boost::asio::awaitable<void> onSubmit(const boost::json::object& msg, const std::string& id);
  boost::asio::awaitable<void> onSubscribe(const boost::json::object& msg, const std::string& id);
  //! Starts pumping `f`'s events to the client as a subscription to `taskId`.
  void subscribe(const std::string& taskId, int64_t after, std::unique_ptr<events::Follower> f,
                 const std::string& id, bool owned);
  void send(boost::json::object msg);
  void sendError(const Error& e, const std::string& id);
  //! Sends what is queued (unless `dropQueued`), then a close frame.
  void closeWith(boost::beast::websocket::close_code code, std::string reason,
                 bool dropQueued = false);
  void wake(boost::asio::steady_timer& t) { t.cancel(); }

  GatewayDeps d_;
  GatewayOptions o_;
  Socket ws_;
  std::optional<Principal> who_;
  // The upgrade request's trace: every task submitted here joins it.
  std::string traceId_, parentSpanId_, traceState_;
  bool sampled_ = false;
  boost::asio::steady_timer writeWake_;
  boost::asio::steady_timer closeDeadline_;  // ends a connection that ignores our close
  std::deque<std::string> out_;
  size_t outBytes_ = 0;
  std::optional<boost::beast::websocket::close_reason> closeReason_;
  bool done_ = false;
  std::map<std::string, std::shared_ptr<Sub>> subs_;
};

}  // namespace aion::gateway
