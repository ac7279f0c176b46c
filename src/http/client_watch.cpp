#include "http/client_watch.h"

#include <sys/socket.h>

#include <cerrno>

namespace aion::http {

namespace {
enum class Peeked { kNothing, kData, kGone };

// What the socket holds, without taking it: MSG_PEEK leaves bytes for the
// connection's next read.
Peeked peek(asio::ip::tcp::socket& s) {
  char c;
  for (;;) {
    ssize_t n = ::recv(s.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return Peeked::kData;
    if (n == 0) return Peeked::kGone;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK ? Peeked::kNothing : Peeked::kGone;
  }
}
}  // namespace

ClientWatch::ClientWatch(Exchange& ex, std::function<void()> onGone)
    : ex_(ex), state_(std::make_shared<State>()) {
  state_->onGone = std::move(onGone);
  if (ex.stream.tls()) {
    readTls();
  } else {
    // A wait re-arms the socket's epoll entry, which reports readiness that
    // came before it too: a client gone before the handler started is seen.
    arm(state_, ex.stream.socket());
  }
}

void ClientWatch::arm(std::shared_ptr<State> st, asio::ip::tcp::socket& socket) {
  socket.async_wait(asio::socket_base::wait_read, [st, &socket](boost::system::error_code ec) {
    if (st->stopping || st->done) return;  // the socket may be gone
    if (ec) {
      st->done = true;
      return;
    }
    switch (peek(socket)) {
      case Peeked::kNothing:
        return arm(st, socket);  // readiness without bytes: watch on
      case Peeked::kData:
        st->done = true;  // a pipelined request: the client is there
        return;
      case Peeked::kGone:
        st->done = st->gone = true;
        if (st->onGone) st->onGone();
        return;
    }
  });
}

void ClientWatch::readTls() {
  state_->finished = std::make_unique<asio::steady_timer>(ex_.stream.get_executor());
  state_->finished->expires_at(asio::steady_timer::time_point::max());
  auto st = state_;
  auto& stream = ex_.stream;
  auto& buffer = ex_.buffer;
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

ClientWatch::~ClientWatch() {
  state_->stopping = true;  // a wait still queued must not touch the socket
}

asio::awaitable<void> ClientWatch::stop() {
  state_->stopping = true;
  if (state_->done) co_return;
  boost::system::error_code ignore;
  ex_.stream.socket().cancel(ignore);
  if (!state_->finished) co_return;  // plain TCP: the wait's handler touches nothing but state_
  // A canceled TLS read may leave the session mid-record: do not reuse it.
  ex_.closeAfter = true;
  while (!state_->done) co_await state_->finished->async_wait(asio::as_tuple(asio::use_awaitable));
}

}  // namespace aion::http
