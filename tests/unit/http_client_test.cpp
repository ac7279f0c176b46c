// The provider HTTP client's connection pool against a real loopback
// server: connections are bounded per origin and reused while kept alive,
// idle ones past the idle timeout are not reused, a canceled or late call
// gives its connection up, and the caller's thread never blocks.
#include "providers/http_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

namespace aion::providers {
namespace {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// Answers every request on a connection with a small 200 after `delay`
// (keep-alive), counting connections and the most open at once.
class LoopbackServer {
 public:
  explicit LoopbackServer(std::chrono::milliseconds delay) : delay_(delay) {
    acceptor_.open(tcp::v4());
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    asio::co_spawn(io_, accept(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~LoopbackServer() {
    io_.stop();
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::atomic<int> accepted{0}, open{0}, maxOpen{0};
  //! Waits until at most `n` connections are open (the client closed the rest).
  bool waitOpenAtMost(int n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return closed_.wait_for(lock, timeout, [&] { return open.load() <= n; });
  }

 private:
  asio::awaitable<void> accept() {
    for (;;) {
      auto s = co_await acceptor_.async_accept(asio::use_awaitable);
      ++accepted;
      maxOpen = std::max(maxOpen.load(), ++open);
      asio::co_spawn(io_, serve(std::move(s)), asio::detached);
    }
  }
  asio::awaitable<void> serve(tcp::socket s) {
    std::string buf;
    for (;;) {
      auto [ec, n] = co_await asio::async_read_until(s, asio::dynamic_buffer(buf), "\r\n\r\n",
                                                     asio::as_tuple(asio::use_awaitable));
      if (ec) break;
      buf.erase(0, n);  // the requests here have no body
      asio::steady_timer t(io_, delay_);
      co_await t.async_wait(asio::use_awaitable);
      std::string r = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok";
      auto [wec, wn] =
          co_await asio::async_write(s, asio::buffer(r), asio::as_tuple(asio::use_awaitable));
      if (wec) break;
    }
    {
      std::lock_guard lock(mu_);
      --open;
    }
    closed_.notify_all();
  }

  std::chrono::milliseconds delay_;
  std::mutex mu_;
  std::condition_variable closed_;
  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
  std::thread thread_;
};

struct HttpClientTest : ::testing::Test {
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work{io.get_executor()};
  std::vector<std::thread> threads;
  void SetUp() override {
    threads.emplace_back([this] { io.run(); });  // a single-threaded loop, as IoPool's
  }
  void TearDown() override {
    work.reset();
    io.stop();
    for (auto& t : threads) t.join();
  }
  HttpRequest get(uint16_t port) {
    HttpRequest r;
    r.method = "GET";
    r.url = *parseUrl("http://127.0.0.1:" + std::to_string(port));
    r.target = "/";
    return r;
  }
  Result<HttpResponse> send(HttpClient& c, HttpRequest r, Timeouts t = {},
                            std::stop_token stop = {}) {
    return asio::co_spawn(io, c.send(std::move(r), t, nullptr, stop), asio::use_future).get();
  }
};

TEST_F(HttpClientTest, ConnectionsAreBoundedPerOriginAndReused) {
  LoopbackServer server(50ms);
  HttpClient client({.maxConnsPerOrigin = 2, .idleTimeout = 10s});
  std::vector<std::future<Result<HttpResponse>>> calls;
  for (int i = 0; i < 8; ++i)
    calls.push_back(
        asio::co_spawn(io, client.send(get(server.port()), {}, nullptr, {}), asio::use_future));
  for (auto& f : calls) {
    auto r = f.get();
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "ok");
  }
  EXPECT_LE(server.maxOpen.load(), 2);   // the rest waited for a free connection
  EXPECT_EQ(server.accepted.load(), 2);  // and then reused the kept-alive ones
  EXPECT_EQ(client.openConnections(), 2u);
}

TEST_F(HttpClientTest, IdleConnectionsPastTheTimeoutAreNotReused) {
  LoopbackServer server(0ms);
  HttpClient client({.maxConnsPerOrigin = 4, .idleTimeout = 50ms});
  ASSERT_TRUE(send(client, get(server.port())));
  std::this_thread::sleep_for(120ms);
  ASSERT_TRUE(send(client, get(server.port())));
  EXPECT_EQ(server.accepted.load(), 2);
}

TEST_F(HttpClientTest, DestroyingTheClientClosesItsIdleConnections) {
  LoopbackServer server(0ms);
  {
    HttpClient client({.maxConnsPerOrigin = 2, .idleTimeout = 10s});
    ASSERT_TRUE(send(client, get(server.port())));
    EXPECT_EQ(server.open.load(), 1);  // kept alive, idle in the pool
  }
  EXPECT_TRUE(server.waitOpenAtMost(0, 5s)) << "the pooled connection outlived its client";
}

// aiond destroys its event loops before the client: pooled sockets must close
// with their loop (after it, closing one reads the loop's freed reactor).
TEST_F(HttpClientTest, PooledConnectionsCloseWithTheirLoopWhenTheClientOutlivesIt) {
  LoopbackServer server(0ms);
  HttpClient client({.maxConnsPerOrigin = 2, .idleTimeout = 10s});
  auto loop = std::make_unique<asio::io_context>();
  // On a strand, as the orchestrator runs tasks: the pool keeps its executor.
  auto call = asio::co_spawn(asio::make_strand(*loop),
                             client.send(get(server.port()), {}, nullptr, {}), asio::use_future);
  loop->run();
  ASSERT_TRUE(call.get());
  EXPECT_EQ(server.open.load(), 1);  // idle in the pool
  loop.reset();
  EXPECT_TRUE(server.waitOpenAtMost(0, 5s)) << "the pooled connection outlived its loop";
  EXPECT_EQ(client.openConnections(), 0u);
}

TEST_F(HttpClientTest, ATotalDeadlineAndACancelBothEndTheCallAndFreeTheSlot) {
  LoopbackServer server(5s);  // never answers in time
  HttpClient client({.maxConnsPerOrigin = 1, .idleTimeout = 10s});
  Timeouts t;
  t.total = 100ms;
  auto late = send(client, get(server.port()), t);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, ErrorCode::kTimeout);
  std::stop_source stop;
  auto pending = asio::co_spawn(io, client.send(get(server.port()), {}, nullptr, stop.get_token()),
                                asio::use_future);
  std::this_thread::sleep_for(50ms);
  stop.request_stop();
  auto canceled = pending.get();
  ASSERT_FALSE(canceled);
  EXPECT_EQ(canceled.error().code, ErrorCode::kCanceled);
  EXPECT_EQ(client.openConnections(), 0u);  // both connections closed, the slot free again
}

TEST_F(HttpClientTest, AnUnreachableOriginIsUnavailable) {
  HttpClient client;
  auto r = send(client, get(9));  // discard port: nothing listens
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("connect"), std::string::npos);
}

}  // namespace
}  // namespace aion::providers
