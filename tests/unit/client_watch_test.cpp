#include "http/client_watch.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <optional>

namespace aion::http {
namespace {

using tcp = asio::ip::tcp;

// A connected pair on loopback: `server` is the connection a handler owns,
// `client` the peer that leaves, or pipelines, or stays.
struct Pair {
  asio::io_context io{1};
  tcp::socket client{io};
  std::optional<Stream> server;
  beast::flat_buffer buffer;
  Request req;
  Limits limits;
  std::optional<Exchange> ex;

  Pair() {
    tcp::acceptor acc(io, {asio::ip::make_address("127.0.0.1"), 0});
    client.connect(acc.local_endpoint());
    server.emplace(beast::tcp_stream(acc.accept()));
    ex.emplace(Exchange{.req = req,
                        .buffer = buffer,
                        .path = "/",
                        .query = {},
                        .params = {},
                        .remote = "127.0.0.1",
                        .requestId = "r1",
                        .stream = *server,
                        .limits = limits});
  }
  // Runs the loop until `done` or a second has passed.
  template <class Pred>
  bool runUntil(Pred done) {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (!done() && std::chrono::steady_clock::now() < end) {
      io.restart();
      io.run_for(std::chrono::milliseconds(5));
    }
    return done();
  }
  // Runs the loop for 50 ms: time for anything pending to happen.
  void idle() {
    io.restart();
    io.run_for(std::chrono::milliseconds(50));
  }
  void stop(ClientWatch& w) {
    bool stopped = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          co_await w.stop();
          stopped = true;
        },
        asio::detached);
    ASSERT_TRUE(runUntil([&] { return stopped; }));
  }
};

TEST(ClientWatch, AClientThatClosesIsGone) {
  Pair p;
  int calls = 0;
  ClientWatch w(*p.ex, [&] { ++calls; });
  p.idle();  // nothing yet
  EXPECT_EQ(calls, 0);
  EXPECT_FALSE(w.gone());
  p.client.close();
  ASSERT_TRUE(p.runUntil([&] { return calls > 0; }));
  EXPECT_TRUE(w.gone());
  p.stop(w);
  EXPECT_EQ(calls, 1);
}

TEST(ClientWatch, AClientGoneBeforeTheWatchStartedIsSeen) {
  Pair p;
  p.client.close();
  int calls = 0;
  ClientWatch w(*p.ex, [&] { ++calls; });
  ASSERT_TRUE(p.runUntil([&] { return calls > 0; }));
  EXPECT_TRUE(w.gone());
  p.stop(w);
}

TEST(ClientWatch, APipelinedRequestStaysForTheNextRead) {
  Pair p;
  int calls = 0;
  ClientWatch w(*p.ex, [&] { ++calls; });
  asio::write(p.client, asio::buffer(std::string_view("GET /next")));
  p.idle();
  EXPECT_EQ(calls, 0);
  EXPECT_FALSE(w.gone());
  p.stop(w);
  // Nothing of it was taken: the session's next read finds it all.
  EXPECT_EQ(p.buffer.size(), 0u);
  ASSERT_EQ(p.server->socket().available(), 9u);
  std::string got(9, '\0');
  asio::read(p.server->socket(), asio::buffer(got));
  EXPECT_EQ(got, "GET /next");
}

TEST(ClientWatch, NothingIsToldAfterStop) {
  Pair p;
  int calls = 0;
  {
    ClientWatch w(*p.ex, [&] { ++calls; });
    p.idle();
    p.stop(w);
    EXPECT_FALSE(w.gone());
  }
  p.client.close();
  p.idle();
  EXPECT_EQ(calls, 0);
  // The connection is usable after the watch: a read sees the close.
  boost::system::error_code ec;
  char c;
  p.server->socket().read_some(asio::buffer(&c, 1), ec);
  EXPECT_EQ(ec, asio::error::eof);
}

}  // namespace
}  // namespace aion::http
