#pragma once
// A gRPC server stream written by a coroutine on a strand of the I/O
// threads: the public API's task streams (gateway/grpc_service.cpp) and the
// internal API's Follow and Watch (control/rpc/server.cpp). gRPC's callbacks
// (write done, cancel) only post to the strand; a cancel also interrupts the
// follower the coroutine waits on.
#include <grpcpp/grpcpp.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>

#include "events/follower.h"

namespace aion::events {

template <typename Msg>
class StreamWriter : public grpc::ServerWriteReactor<Msg> {
 public:
  //! What the coroutine and gRPC's callbacks share; outlives the reactor
  //! while the coroutine holds it (Finish may end the reactor).
  struct Core {
    explicit Core(boost::asio::any_io_executor ex)
        : strand(boost::asio::make_strand(ex)), wake(strand) {}
    boost::asio::strand<boost::asio::any_io_executor> strand;
    boost::asio::steady_timer wake;
    bool writeDone = false, writeOk = false, canceled = false;
    Follower* follower = nullptr;  // interrupted by a cancel
  };

  explicit StreamWriter(boost::asio::any_io_executor ex)
      : core_(std::make_shared<Core>(std::move(ex))) {}

  void OnWriteDone(bool ok) override {
    boost::asio::post(core_->strand, [c = core_, ok] {
      c->writeDone = true;
      c->writeOk = ok;
      c->wake.cancel();
    });
  }
  void OnCancel() override {
    boost::asio::post(core_->strand, [c = core_] {
      c->canceled = true;
      if (c->follower) c->follower->interrupt();
      c->wake.cancel();
    });
  }
  void OnDone() override { delete this; }

 protected:
  //! Writes `m` (kept alive by the caller until this returns); false when
  //! the client is gone.
  boost::asio::awaitable<bool> write(const Msg& m) {
    core_->writeDone = false;
    this->StartWrite(&m);
    while (!core_->writeDone) {
      core_->wake.expires_at(boost::asio::steady_timer::time_point::max());
      co_await core_->wake.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
    co_return core_->writeOk;
  }

  std::shared_ptr<Core> core_;
};

}  // namespace aion::events
