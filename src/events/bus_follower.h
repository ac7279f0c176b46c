#pragma once
// The in-process Follower (events/follower.h): live events from the bus,
// history from the bus or the store. The control plane's own; a gateway in
// another process follows through the control plane's gRPC stream instead.
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <memory>
#include <mutex>

#include "events/event_bus.h"
#include "events/follower.h"
#include "store/task_store.h"

namespace aion::events {

//! The in-process follower: the bus's history and live events, the store
//! for older history.
class BusFollower final : public Follower {
 public:
  //! Follows `task` (already authorised by the caller) after `afterSeq`;
  //! wake-ups are posted to the calling coroutine's executor.
  static boost::asio::awaitable<std::unique_ptr<Follower>> open(EventBus& bus,
                                                                store::TaskStore& store,
                                                                const store::Task& task,
                                                                int64_t afterSeq);
  ~BusFollower() override;

  boost::asio::awaitable<Result<std::vector<store::Event>>> next(
      std::chrono::milliseconds wait) override;
  bool finished() const override { return finished_; }
  int64_t lastSeq() const override { return last_; }
  void interrupt() override { inbox_->timer->cancel(); }

 private:
  struct Inbox {
    std::mutex mu;
    std::deque<store::Event> live;
    bool waiting = false;
    std::shared_ptr<boost::asio::steady_timer> timer;
  };
  BusFollower(store::TaskStore& store, std::string taskId, int64_t afterSeq,
              std::shared_ptr<Inbox> inbox);
  //! Store events after last_, up to `upTo` (0: all there are).
  boost::asio::awaitable<Result<std::vector<store::Event>>> replay(int64_t upTo);
  void take(std::vector<store::Event>& out, std::vector<store::Event> in);

  store::TaskStore& store_;
  std::string taskId_;
  int64_t last_;
  bool finished_ = false;
  bool replayFirst_ = false;         // the bus had no history: read the store first
  std::vector<store::Event> ready_;  // history handed over at open
  std::shared_ptr<Inbox> inbox_;
  std::unique_ptr<EventBus::Subscription> sub_;
};

}  // namespace aion::events
