#include "upstream.h"

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "serve.h"

namespace aion::bench {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr const char* kAnswer = "instant upstream answer";
constexpr const char* kUsage = R"({"prompt_tokens":8,"completion_tokens":3,"total_tokens":11})";
constexpr const char* kHead =
    R"({"id":"chatcmpl-bench","created":1700000000,"model":"bench-model",)";

std::string chatBody() {
  return std::string(kHead) + R"("object":"chat.completion","choices":[{"index":0,"message":)" +
         R"({"role":"assistant","content":")" + kAnswer +
         R"("},"finish_reason":"stop"}],"usage":)" + kUsage + "}";
}

// What OpenAI streams with stream_options.include_usage: a role chunk, the
// text, the finish reason, a choices-less usage chunk, then [DONE].
std::string chatStreamBody() {
  auto chunk = [](const std::string& choices, const std::string& usage) {
    return "data: " + std::string(kHead) + R"("object":"chat.completion.chunk","choices":)" +
           choices + R"(,"usage":)" + usage + "}\n\n";
  };
  auto choice = [](const std::string& delta, const std::string& finish) {
    return R"([{"index":0,"delta":)" + delta + R"(,"finish_reason":)" + finish + "}]";
  };
  return chunk(choice(R"({"role":"assistant","content":""})", "null"), "null") +
         chunk(choice(std::string(R"({"content":")") + kAnswer + R"("})", "null"), "null") +
         chunk(choice("{}", R"("stop")"), "null") + chunk("[]", kUsage) + "data: [DONE]\n\n";
}

// A JSON body asking for a stream: "stream" followed by true. A scan, not a
// parse: the upstream must cost next to nothing.
bool wantsStream(std::string_view body) {
  auto k = body.find("\"stream\"");
  if (k == std::string_view::npos) return false;
  auto v = body.find_first_not_of(" \t\r\n:", k + 8);
  return v != std::string_view::npos && body.substr(v, 4) == "true";
}

// Whole responses, serialized once: the upstream should cost as little as a
// server can, so the gateway's own cost stands out.
std::string rawResponse(int status, const char* reason, const std::string& type,
                        const std::string& body) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
  r.append("Content-Type: ").append(type).append("\r\n");
  r.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n");
  r.append(body);
  return r;
}

struct Responses {
  std::string chat = rawResponse(200, "OK", "application/json", chatBody());
  std::string chatStream = rawResponse(200, "OK", "text/event-stream", chatStreamBody());
  std::string health = rawResponse(200, "OK", "text/plain", "ok");
  std::string accepted = rawResponse(200, "OK", "application/json", "{}");
  std::string notFound =
      rawResponse(404, "Not Found", "application/json",
                  R"({"error":{"message":"not found","type":"invalid_request_error"}})");
};

asio::awaitable<void> serve(tcp::socket s, const Responses& r, std::atomic<uint64_t>& chats) {
  beast::flat_buffer buf;
  boost::system::error_code ec;
  s.set_option(tcp::no_delay(true), ec);
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.body_limit(16 << 20);
    auto [rec, rn] =
        co_await bhttp::async_read(s, buf, parser, asio::as_tuple(asio::use_awaitable));
    if (rec) co_return;
    auto& req = parser.get();
    std::string stats;
    const std::string* out = &r.notFound;
    if (req.method() == bhttp::verb::post && req.target() == "/v1/chat/completions") {
      chats.fetch_add(1, std::memory_order_relaxed);
      out = wantsStream(req.body()) ? &r.chatStream : &r.chat;
    } else if (req.method() == bhttp::verb::get && req.target() == "/healthz") {
      out = &r.health;
    } else if (req.method() == bhttp::verb::post && req.target() == "/v1/traces") {
      out = &r.accepted;  // an OTLP/HTTP sink: spans are read and dropped (tracing overhead runs)
    } else if (req.method() == bhttp::verb::get && req.target() == "/bench/stats") {
      stats = rawResponse(200, "OK", "application/json",
                          "{\"chat\":" + std::to_string(chats.load()) + "}");
      out = &stats;
    }
    auto [wec, wn] =
        co_await asio::async_write(s, asio::buffer(*out), asio::as_tuple(asio::use_awaitable));
    if (wec || !req.keep_alive()) co_return;
  }
}

}  // namespace

int runUpstream(const UpstreamOptions& o) {
  asio::io_context ioc(o.threads);
  tcp::acceptor acc(ioc, {asio::ip::make_address("127.0.0.1"), o.port});
  Responses responses;
  std::atomic<uint64_t> chats{0};
  asio::co_spawn(
      ioc, acceptLoop(acc, [&](tcp::socket s) { return serve(std::move(s), responses, chats); }),
      asio::detached);
  std::cout << "upstream listening on 127.0.0.1:" << acc.local_endpoint().port() << std::endl;
  runUntilSignal(ioc, o.threads);
  return 0;
}

}  // namespace aion::bench
