#pragma once
// The one way to follow a task's events (SSE, WebSocket, gRPC, the
// OpenAI-compatible API): everything after a sequence number, in order,
// without gaps or repeats, pushed as it is published. History comes from
// the bus while the task is active and from the store after; the store is
// read only to replay, never polled.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>

#include "events/event_bus.h"
#include "store/task_store.h"

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
