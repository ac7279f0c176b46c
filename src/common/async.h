#pragma once
// Bridges between Asio coroutines and the threads that do blocking work
// (SQLite, modules, Redis): the coroutine suspends, the work runs elsewhere,
// and the coroutine resumes on its own executor.
//
// GCC 12 caveat (see tests/unit/async_test.cpp): a lambda *expression* with
// by-value captures of non-trivial types, written in a full-expression that
// contains a co_await, is destroyed twice (a shared_ptr capture then frees
// its object early). Name such lambdas in a statement of their own and pass
// the name; keep co_await out of statements that build them.
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <type_traits>

namespace aion {

//! Starts an operation that reports through a plain callback, callable once
//! from any thread; the awaiting coroutine resumes on its own executor.
//! `start` receives the callback: `start([](Args...) {...})`.
template <typename... Args, typename Token, typename Start>
auto callbackAsync(Token&& token, Start start) {
  return boost::asio::async_initiate<Token, void(Args...)>(
      [start = std::move(start)](auto handler) mutable {
        using Handler = decltype(handler);
        auto ex = boost::asio::get_associated_executor(handler);
        using Work = decltype(boost::asio::make_work_guard(ex));
        struct Pending {
          Handler h;
          Work work;
        };
        auto p = std::make_shared<Pending>(
            Pending{std::move(handler), boost::asio::make_work_guard(ex)});
        start([p](Args... args) {
          auto exec = p->work.get_executor();
          boost::asio::dispatch(exec, [p, args...]() mutable {
            p->work.reset();
            std::move(p->h)(std::move(args)...);
          });
        });
      },
      token);
}

//! Runs blocking `f` on `pool` (any executor) and resumes the caller on its
//! own executor with f's result. A plain function on purpose: GCC 12
//! destroys a capturing lambda passed by value to a coroutine twice (PR
//! 100611-like), and callers pass exactly such lambdas here.
template <typename Executor, typename F>
boost::asio::awaitable<std::invoke_result_t<std::decay_t<F>&>> offload(Executor pool, F&& f) {
  using R = std::invoke_result_t<std::decay_t<F>&>;
  // An exception thrown by `f` is rethrown in the awaiting coroutine.
  return boost::asio::co_spawn(
      pool, [f = std::forward<F>(f)]() mutable -> boost::asio::awaitable<R> { co_return f(); },
      boost::asio::use_awaitable);
}

}  // namespace aion
