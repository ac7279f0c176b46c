#pragma once
// Notices a client that goes away while its request is being worked on (an
// OpenAI call waiting for its answer, a stream with nothing to send): a read
// runs beside the handler; EOF or a reset means the client left. Bytes that
// arrive meanwhile (a pipelined request) stay in the connection's buffer.
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>

#include "http/server.h"

namespace aion::http {

class ClientWatch {
 public:
  //! Starts watching; `onGone` runs on the connection's strand, at most once.
  ClientWatch(Exchange& ex, std::function<void()> onGone);
  //! Ends the watch and waits for its read to finish. Call before the
  //! handler returns, with no write pending on the connection.
  boost::asio::awaitable<void> stop();
  bool gone() const { return state_->gone; }

 private:
  struct State {
    bool gone = false;
    bool done = false;
    bool stopping = false;
    std::function<void()> onGone;
    std::unique_ptr<asio::steady_timer> finished;
  };
  Exchange& ex_;
  std::shared_ptr<State> state_;
};

}  // namespace aion::http
