#include "proxy.h"

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/json.hpp>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "serve.h"

namespace aion::bench {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

// Idle keep-alive connections to the upstream, shared by every thread.
class Pool {
 public:
  explicit Pool(tcp::endpoint up) : up_(up) {}

  asio::awaitable<std::optional<tcp::socket>> take() {
    {
      std::lock_guard lk(mu_);
      if (!idle_.empty()) {
        auto s = std::move(idle_.back());
        idle_.pop_back();
        co_return std::move(s);
      }
    }
    tcp::socket s(co_await asio::this_coro::executor);
    auto [ec] = co_await s.async_connect(up_, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return std::nullopt;
    s.set_option(tcp::no_delay(true), ec);
    co_return std::move(s);
  }

  void give(tcp::socket s) {
    std::lock_guard lk(mu_);
    idle_.push_back(std::move(s));
  }

 private:
  tcp::endpoint up_;
  std::mutex mu_;
  std::vector<tcp::socket> idle_;
};

bhttp::response<bhttp::string_body> reply(unsigned status, std::string body, unsigned version,
                                          bool keepAlive) {
  bhttp::response<bhttp::string_body> r{static_cast<bhttp::status>(status), version};
  r.set(bhttp::field::content_type, "application/json");
  r.body() = std::move(body);
  r.keep_alive(keepAlive);
  r.prepare_payload();
  return r;
}

// One exchange with the upstream; nullopt when it failed (a 502).
asio::awaitable<std::optional<bhttp::response<bhttp::string_body>>> forward(
    Pool& pool, const bhttp::request<bhttp::string_body>& in, std::string body) {
  auto s = co_await pool.take();
  if (!s) co_return std::nullopt;
  bhttp::request<bhttp::string_body> out{in.method(), in.target(), 11};
  out.set(bhttp::field::host, "127.0.0.1");
  out.set(bhttp::field::content_type, "application/json");
  out.body() = std::move(body);
  out.prepare_payload();
  auto [wec, wn] = co_await bhttp::async_write(*s, out, asio::as_tuple(asio::use_awaitable));
  if (wec) co_return std::nullopt;
  beast::flat_buffer buf;
  bhttp::response<bhttp::string_body> res;
  auto [rec, rn] = co_await bhttp::async_read(*s, buf, res, asio::as_tuple(asio::use_awaitable));
  if (rec) co_return std::nullopt;
  if (res.keep_alive()) pool.give(std::move(*s));
  co_return std::move(res);
}

asio::awaitable<void> serve(tcp::socket s, Pool& pool) {
  beast::flat_buffer buf;
  boost::system::error_code ec;
  s.set_option(tcp::no_delay(true), ec);
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.body_limit(1 << 20);
    auto [rec, rn] =
        co_await bhttp::async_read(s, buf, parser, asio::as_tuple(asio::use_awaitable));
    if (rec) co_return;
    auto& req = parser.get();
    bhttp::response<bhttp::string_body> res;
    json::value body = json::parse(req.body(), ec);
    if (ec || !body.is_object()) {
      res = reply(400, R"({"error":{"message":"invalid JSON"}})", req.version(), req.keep_alive());
    } else if (auto up = co_await forward(pool, req, json::serialize(body)); !up) {
      res =
          reply(502, R"({"error":{"message":"upstream failed"}})", req.version(), req.keep_alive());
    } else {
      json::value answer = json::parse(up->body(), ec);
      res = ec ? reply(502, R"({"error":{"message":"upstream sent invalid JSON"}})", req.version(),
                       req.keep_alive())
               : reply(up->result_int(), json::serialize(answer), req.version(), req.keep_alive());
    }
    auto [wec, wn] = co_await bhttp::async_write(s, res, asio::as_tuple(asio::use_awaitable));
    if (wec || !res.keep_alive()) co_return;
  }
}

}  // namespace

int runProxy(const ProxyOptions& o) {
  asio::io_context ioc(o.threads);
  auto loopback = asio::ip::make_address("127.0.0.1");
  tcp::acceptor acc(ioc, {loopback, o.port});
  Pool pool({loopback, o.upstreamPort});
  asio::co_spawn(ioc, acceptLoop(acc, [&](tcp::socket s) { return serve(std::move(s), pool); }),
                 asio::detached);
  std::cout << "proxy listening on 127.0.0.1:" << acc.local_endpoint().port() << std::endl;
  runUntilSignal(ioc, o.threads);
  return 0;
}

}  // namespace aion::bench
