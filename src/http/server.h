#pragma once
// HTTP/1.1 server on Boost.Beast with C++20 coroutines. Each connection runs
// on its own strand; handlers never block (blocking work goes through
// offload()). Limits protect against hostile clients: body and header size,
// a read deadline per request (slowloris), idle keep-alive deadline, and a
// cap on open connections.
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/io_pool.h"
#include "http/stream.h"
#include "telemetry/metrics.h"

namespace aion::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using Request = beast::http::request<beast::http::string_body>;
using Response = beast::http::response<beast::http::string_body>;

struct Limits {
  size_t maxBodyBytes = 1 << 20;
  size_t maxHeaderBytes = 16 << 10;
  std::chrono::milliseconds readTimeout{10000};
  std::chrono::milliseconds idleTimeout{60000};
  std::chrono::milliseconds writeTimeout{30000};
  size_t maxConnections = 4096;
};

struct Exchange {
  const Request& req;
  beast::flat_buffer& buffer;  // the connection's read buffer (pipelined bytes stay here)
  std::string_view path;
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> params;  // from {name} path segments
  std::string remote;
  std::string requestId;
  Stream& stream;
  bool secure = false;  // arrived over TLS
  const Limits& limits;
  bool closeAfter = false;          // set by a handler: close the connection after its answer
  boost::json::object logFields{};  // added to the request's log event (tenant, key id, ...)
  std::string traceId{};            // W3C trace id: the request's traceparent's, or a new one
  std::string spanId{};             // this request's server span
  std::string parentSpanId{};       // the caller's span, if it sent one
  bool sampled = false;             // spans of this request (and its tasks) are exported
  std::string traceState{};         // the caller's W3C tracestate (validated), passed on
};

//! A handler returns its response, or nullopt after writing to the stream
//! itself (streaming responses); the connection then closes.
using Handler = std::function<asio::awaitable<std::optional<Response>>(Exchange&)>;

class Routes {
 public:
  //! `pattern` segments like {id} capture; `name` labels metrics.
  void add(beast::http::verb method, std::string pattern, Handler h);

  struct Match {
    const Handler* handler = nullptr;
    std::string pattern;
    std::map<std::string, std::string> params;
    bool pathKnown = false;  // path matched but the method did not
  };
  Match match(beast::http::verb method, std::string_view path) const;

 private:
  struct Entry {
    beast::http::verb method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::vector<Entry> entries_;
};

class Server {
 public:
  //! With `tls`, every connection must be HTTPS (a plain request gets a
  //! 400 saying so).
  //! Accepts on the pool's first loop and hands each connection to the next
  //! loop round-robin; a connection stays on its loop.
  Server(IoPool& io, std::string name, Limits limits, Routes routes, telemetry::Metrics& metrics,
         std::shared_ptr<asio::ssl::context> tls = nullptr);
  //! Binds and starts accepting; returns the bound port (useful with port 0).
  Result<uint16_t> listen(const std::string& address, uint16_t port);
  void stop();

 private:
  asio::awaitable<void> acceptLoop();
  asio::awaitable<void> session(asio::ip::tcp::socket socket);
  //! The request's server span (sampled requests only).
  void spanOf(const Exchange& ex, const std::string& route, int status, int64_t startNs);
  //! The request's log event (JSON logs only).
  void logRequest(Exchange& ex, const std::string& route, int status, double seconds,
                  const Response* res);
  //! The connection's stream: on a TLS listener after detecting and completing
  //! the handshake; nullopt when the connection is already done.
  asio::awaitable<std::optional<Stream>> secure(beast::tcp_stream tcp, beast::flat_buffer& buffer);
  asio::awaitable<Response> dispatch(Exchange& ex, const Routes::Match& m, bool& streamed);

  IoPool& io_;
  std::string name_;
  Limits limits_;
  Routes routes_;
  telemetry::Metrics& metrics_;
  std::shared_ptr<asio::ssl::context> tls_;
  asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<std::atomic<size_t>> open_ = std::make_shared<std::atomic<size_t>>(0);
};

//! JSON response with the usual headers.
Response jsonResponse(unsigned status, const boost::json::value& body,
                      const std::string& requestId);
//! DESIGN.md §7 error body with the matching status.
//! OpenAI's error `type` for an HTTP status (authentication_error, ...).
std::string_view errorType(unsigned status);
//! The error body every surface answers with: {"error": {code, message,
//! details, type, param}, "requestId"} — aionOS's fields and OpenAI's.
Response errorResponse(const Error& e, const std::string& requestId);

}  // namespace aion::http
