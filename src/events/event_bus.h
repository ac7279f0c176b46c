#pragma once
// Fan-out of stored task events to live subscribers (SSE, later WebSocket,
// gRPC, Kafka). Events are published only after the store committed them, so
// a subscriber that re-reads the store after a notification never misses one.
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "store/task.h"

namespace aion::events {

class EventBus {
 public:
  using Listener = std::function<void(const store::Event&)>;

  //! Unsubscribes when destroyed.
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

  //! `fn` runs on the publisher's thread and must not block.
  std::unique_ptr<Subscription> subscribe(const std::string& taskId, Listener fn);
  void publish(const store::Event& e);
  size_t subscriberCount() const;

 private:
  void unsubscribe(const std::string& taskId, uint64_t id);

  mutable std::mutex mu_;
  uint64_t nextId_ = 1;
  std::unordered_multimap<std::string, std::pair<uint64_t, std::shared_ptr<Listener>>> subs_;
};

}  // namespace aion::events
