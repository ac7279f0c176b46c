#include "http/client_watch.h"

namespace aion::http {

ClientWatch::ClientWatch(Exchange& ex, std::function<void()> onGone)
    : ex_(ex), state_(std::make_shared<State>()) {
  state_->onGone = std::move(onGone);
  state_->finished = std::make_unique<asio::steady_timer>(ex.stream.get_executor());
  state_->finished->expires_at(asio::steady_timer::time_point::max());
  auto st = state_;
  auto& stream = ex.stream;
  auto& buffer = ex.buffer;
  asio::co_spawn(
      stream.get_executor(),
      [st, &stream, &buffer]() -> asio::awaitable<void> {
        auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096),
                                                       asio::as_tuple(asio::use_awaitable));
        if (!ec) {
          buffer.commit(n);  // the next request, pipelined: keep it
        } else if (!st->stopping) {
          st->gone = true;
          if (st->onGone) st->onGone();
        }
        st->done = true;
        st->finished->cancel();
      },
      asio::detached);
}

asio::awaitable<void> ClientWatch::stop() {
  if (state_->done) co_return;
  state_->stopping = true;
  boost::system::error_code ignore;
  ex_.stream.socket().cancel(ignore);
  // A canceled TLS read may leave the session mid-record: do not reuse it.
  if (ex_.secure) ex_.closeAfter = true;
  while (!state_->done) co_await state_->finished->async_wait(asio::as_tuple(asio::use_awaitable));
}

}  // namespace aion::http
