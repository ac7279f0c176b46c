#pragma once
// What the loopback servers of aion_loadgen share: accepting connections
// into a coroutine each, and running the loop on N threads until a signal.
#include <boost/asio.hpp>
#include <csignal>
#include <functional>
#include <thread>
#include <vector>

namespace aion::bench {

//! Accepts until the acceptor closes; each connection runs `serve(socket)` on its own executor.
template <typename Serve>
boost::asio::awaitable<void> acceptLoop(boost::asio::ip::tcp::acceptor& acc, Serve serve) {
  namespace asio = boost::asio;
  for (;;) {
    auto [ec, s] = co_await acc.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) continue;
    auto exec = s.get_executor();
    asio::co_spawn(exec, serve(std::move(s)), asio::detached);
  }
}

//! Runs `ioc` on `threads` threads (this one included) until SIGINT or SIGTERM.
inline void runUntilSignal(boost::asio::io_context& ioc, int threads) {
  boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](auto, int) { ioc.stop(); });
  std::vector<std::jthread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });
  ioc.run();
  ioc.stop();
}

}  // namespace aion::bench
