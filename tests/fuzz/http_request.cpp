// The HTTP request path: raw bytes from a client, through the real
// http::Server (Beast's parser under aionOS's limits, the read loop with
// pipelining and keep-alive, query and path-parameter decoding, traceparent,
// routing, the error answers for what does not parse) to handlers that run
// the gateway's own request code (API key and tenant headers, JSON bodies,
// task submissions, Last-Event-ID). One loopback connection per input: the
// input is sent, the write side closed, and every answer read back.
//
// Invariants checked beyond ASan/UBSan: the server answers with well-formed
// HTTP responses, never with a 500 (a handler that threw), and closes the
// connection once the client is done (no hang).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "auth/api_keys.h"
#include "common/io_pool.h"
#include "fuzz_util.h"
#include "gateway/openai_codec.h"
#include "gateway/task_codec.h"
#include "http/handler_util.h"
#include "http/server.h"
#include "http/sse.h"
#include "telemetry/metrics.h"

namespace {
using namespace aion;
namespace bhttp = boost::beast::http;
namespace json = boost::json;
using Reply = http::asio::awaitable<std::optional<http::Response>>;

struct Harness {
  IoPool io{1};
  telemetry::Metrics metrics;
  auth::KeyRing keys;
  std::unique_ptr<http::Server> server;
  uint16_t port = 0;
  std::jthread loop;

  Harness()
      : keys(*auth::parseApiKeys("demo-key:admin,t1-key:user:t1"), auth::TenancyMode::kMulti) {
    http::Limits limits;  // the defaults, scaled down so fuzz inputs reach them
    limits.maxBodyBytes = 2048;
    limits.maxHeaderBytes = 1024;
    limits.readTimeout = std::chrono::milliseconds(2000);
    limits.idleTimeout = std::chrono::milliseconds(2000);
    limits.writeTimeout = std::chrono::milliseconds(2000);
    server = std::make_unique<http::Server>(io, "fuzz", limits, routes(), metrics);
    auto p = server->listen("127.0.0.1", 0);
    if (!p) fuzz::violated("cannot listen on loopback");
    port = *p;
    loop = std::jthread([this] { io.run(); });
  }

  http::Routes routes() {
    http::Routes r;
    http::addHealthRoutes(
        r,
        [] {
          return std::pair{true, json::object{{"ok", true}}};
        },
        metrics);
    r.add(bhttp::verb::post, "/v1/tasks", [this](http::Exchange& ex) -> Reply {
      auto who = http::principalOf(keys, ex.req);
      if (!who) co_return http::errorResponse(who.error(), ex.requestId);
      auto body = http::parseJsonObject(ex.req);
      if (!body) co_return http::errorResponse(body.error(), ex.requestId);
      auto sub = gateway::parseSubmit(*body, *who);
      if (!sub) co_return http::errorResponse(sub.error(), ex.requestId);
      co_return http::jsonResponse(202, json::object{{"intent", sub->intent}}, ex.requestId);
    });
    r.add(bhttp::verb::get, "/v1/tasks/{id}", [](http::Exchange& ex) -> Reply {
      json::object q;
      for (auto& [k, v] : ex.query) q[k] = v;
      co_return http::jsonResponse(200, json::object{{"id", ex.params["id"]}, {"query", q}},
                                   ex.requestId);
    });
    r.add(bhttp::verb::post, "/v1/chat/completions", [](http::Exchange& ex) -> Reply {
      auto body = http::parseJsonObject(ex.req);
      if (!body) co_return http::errorResponse(body.error(), ex.requestId);
      auto chat = gateway::parseChatRequest(*body);
      if (!chat) co_return http::errorResponse(chat.error(), ex.requestId);
      co_return http::jsonResponse(200, gateway::chatParams(*chat), ex.requestId);
    });
    // Streams as the gateway's SSE endpoint does: headers, events, close.
    r.add(bhttp::verb::get, "/v1/stream/{id}", [](http::Exchange& ex) -> Reply {
      std::string_view lei = ex.req["Last-Event-ID"];
      if (lei.empty())
        if (auto it = ex.query.find("lastEventId"); it != ex.query.end()) lei = it->second;
      int64_t last = 0;
      if (!lei.empty()) {
        auto v = http::parseLastEventId(lei);
        if (!v)
          co_return http::errorResponse(
              Error(ErrorCode::kInvalidRequest, "Last-Event-ID must be a sequence number"),
              ex.requestId);
        last = *v;
      }
      http::Response res{bhttp::status::ok, 11};
      res.set(bhttp::field::content_type, "text/event-stream");
      res.body() = http::sseEvent(std::to_string(last + 1), "status", ex.params["id"]);
      res.prepare_payload();
      res.keep_alive(false);
      co_await bhttp::async_write(ex.stream, res, http::asio::as_tuple(http::asio::use_awaitable));
      co_return std::nullopt;
    });
    return r;
  }
};

Harness* harness = nullptr;

// Reads every response the server wrote; false if one is malformed or a 500.
// After a reset (the server closed with request bytes unread) the last
// response may be cut short.
bool checkResponses(const std::string& wire, bool reset) {
  std::string_view rest = wire;
  while (!rest.empty()) {
    bhttp::response_parser<bhttp::string_body> p;
    p.body_limit(1 << 24);
    p.eager(true);
    boost::system::error_code ec;
    while (!p.is_done()) {
      size_t used = p.put(boost::asio::buffer(rest.data(), rest.size()), ec);
      rest.remove_prefix(used);
      if (ec == bhttp::error::need_more && (used == 0 || rest.empty())) {
        if (!rest.empty()) return reset;  // an incomplete header at the end
        if (reset) return true;
        p.put_eof(ec);  // a close-delimited answer ends here
        if (ec) return false;
        break;
      }
      if (ec && ec != bhttp::error::need_more) return false;
    }
    if (p.get().result_int() >= 500) {
      fprintf(stderr, "status %u: %s\n", p.get().result_int(), p.get().body().c_str());
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  harness = new Harness();  // lives until exit: its loop thread runs on
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  timeval tv{5, 0};  // far above the server's own deadlines: reaching it is a hang
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(harness->port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return 0;
  }
  size_t sent = 0;
  while (sent < size) {
    ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may answer and close early (e.g. 431)
    sent += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  std::string wire;
  bool reset = false;
  char buf[8192];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      wire.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      aion::fuzz::violated("server did not close the connection within 5 s");
    reset = n < 0;  // a reset after an early answer
    break;
  }
  close(fd);
  static const bool echo = getenv("AION_FUZZ_HTTP_ECHO") != nullptr;  // to read what came back
  if (echo)
    fprintf(stderr, "--- %zu bytes back%s:\n%s\n", wire.size(), reset ? " (reset)" : "",
            wire.c_str());
  if (!checkResponses(wire, reset)) aion::fuzz::violated("malformed or 5xx HTTP response");
  return 0;
}
