#pragma once
// Notices a client that goes away while its request is being worked on (an
// OpenAI call waiting for its answer, a stream with nothing to send): EOF or
// a reset means the client left. Bytes that arrive meanwhile (a pipelined
// request) are left for the connection's next read.
//
// On plain TCP it waits for the socket to become readable and peeks, so
// nothing of the stream is touched and stop() returns at once: the answer
// is written without two trips through the loop (the watch's aborted read,
// then its end). Over TLS only a read can tell a close from data: a read
// runs beside the handler and stop() waits for it to end.
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>

#include "http/server.h"

namespace aion::http {

class ClientWatch {
 public:
  //! Starts watching; `onGone` runs on the connection's strand, at most once.
  ClientWatch(Exchange& ex, std::function<void()> onGone);
  ~ClientWatch();
  ClientWatch(const ClientWatch&) = delete;
  ClientWatch& operator=(const ClientWatch&) = delete;
  //! Ends the watch; `onGone` is not called after it. Call before the
  //! handler returns, with no other operation pending on the connection.
  boost::asio::awaitable<void> stop();
  bool gone() const { return state_->gone; }

 private:
  struct State {
    bool gone = false;
    bool done = false;
    bool stopping = false;
    std::function<void()> onGone;
    std::unique_ptr<asio::steady_timer> finished;  // TLS: the read's end
  };
  static void arm(std::shared_ptr<State> st, asio::ip::tcp::socket& socket);
  void readTls();

  Exchange& ex_;
  std::shared_ptr<State> state_;
};

}  // namespace aion::http
