#pragma once
// The one way to follow a task's events (SSE, WebSocket, gRPC, the
// OpenAI-compatible API): everything after a sequence number, in order,
// without gaps or repeats, pushed as it is published. In-process it is a
// BusFollower (events/bus_follower.h); a gateway in another process gets
// one over the control plane's gRPC stream (control/rpc/client.h).
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <vector>

#include "common/error.h"
#include "store/task.h"

namespace aion::events {

//! A task's events after a sequence number, as the surfaces consume them.
//! Use from one coroutine whose executor is a strand (or single-threaded).
class Follower {
 public:
  virtual ~Follower() = default;
  //! The next events in order. Waits up to `wait` for one; an empty batch
  //! means nothing new came in that time. After the "done" event has been
  //! returned, finished() is true and next() returns empty at once.
  virtual boost::asio::awaitable<Result<std::vector<store::Event>>> next(
      std::chrono::milliseconds wait) = 0;
  virtual bool finished() const = 0;
  virtual int64_t lastSeq() const = 0;
  //! Ends a wait in next() early (an empty batch); callable from the
  //! follower's executor only.
  virtual void interrupt() = 0;
};

}  // namespace aion::events
