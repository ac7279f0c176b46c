#pragma once
// In-process publication of task events (DESIGN.md §4a). The owner of a
// running task publishes each event once it is committed (or, for writes
// behind, once it is queued); the bus keeps the events of every active task
// so that a follower joining late replays from memory, and drops them when
// the task retires (its last write committed: the store then has them all).
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/task.h"

namespace aion::events {

class EventBus {
 public:
  using Listener = std::function<void(const store::Event&)>;

  //! Unsubscribes when destroyed; after that the listener is never called.
  class Subscription {
   public:
    Subscription(EventBus* bus, std::string taskId, uint64_t id)
        : bus_(bus), taskId_(std::move(taskId)), id_(id) {}
    ~Subscription() { bus_->unsubscribe(taskId_, id_); }
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

   private:
    EventBus* bus_;
    std::string taskId_;
    uint64_t id_;
  };

  struct Joined {
    std::unique_ptr<Subscription> sub;
    //! The task's events with seq > afterSeq published so far, when the bus
    //! still holds its history; nullopt when it does not (read the store).
    std::optional<std::vector<store::Event>> history;
  };

  //! Starts keeping `taskId`'s events, from `lastSeq` on (events up to it are
  //! in the store).
  void track(const std::string& taskId, int64_t lastSeq);
  //! Delivers `e` to the task's listeners, in the caller's order. Listeners
  //! run on the publisher's thread and must not block.
  void publish(store::Event e);
  //! Registers `fn` and returns the history after `afterSeq`, atomically:
  //! no event is both in the history and delivered, and none is in neither.
  Joined subscribe(const std::string& taskId, int64_t afterSeq, Listener fn);
  //! Drops the task's history (its events are all in the store).
  void retire(const std::string& taskId);
  //! Another control plane committed the task's events up to `seq`
  //! (store/cluster.h): listeners of a task this process does not track get
  //! a marker, an Event with an empty type and that seq, meaning "read the
  //! store up to here". Tracked tasks publish their own events.
  void announce(const std::string& taskId, int64_t seq);
  //! Announces to every task followed here but not tracked, with no upper
  //! bound (notifications may have been missed).
  void announceAll();

 private:
  struct Topic {
    std::vector<std::pair<uint64_t, std::shared_ptr<Listener>>> listeners;
    bool tracked = false;
    int64_t firstSeq = 1;  // the history holds seqs firstSeq..
    std::vector<store::Event> history;
  };
  static constexpr size_t kShards = 16;
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, Topic> topics;
  };
  Shard& shard(const std::string& taskId) {
    return shards_[std::hash<std::string>{}(taskId) % kShards];
  }
  void unsubscribe(const std::string& taskId, uint64_t id);

  std::atomic<uint64_t> nextId_{1};
  Shard shards_[kShards];
};

}  // namespace aion::events
