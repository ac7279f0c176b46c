#include "events/event_bus.h"

#include <vector>

namespace aion::events {

std::unique_ptr<EventBus::Subscription> EventBus::subscribe(const std::string& taskId,
                                                            Listener fn) {
  std::lock_guard lock(mu_);
  uint64_t id = nextId_++;
  subs_.emplace(taskId, std::pair(id, std::make_shared<Listener>(std::move(fn))));
  return std::make_unique<Subscription>(this, taskId, id);
}

void EventBus::publish(const store::Event& e) {
  std::vector<std::shared_ptr<Listener>> targets;
  {
    std::lock_guard lock(mu_);
    auto [b, end] = subs_.equal_range(e.taskId);
    for (auto it = b; it != end; ++it) targets.push_back(it->second.second);
  }
  for (auto& l : targets) (*l)(e);
}

size_t EventBus::subscriberCount() const {
  std::lock_guard lock(mu_);
  return subs_.size();
}

void EventBus::unsubscribe(const std::string& taskId, uint64_t id) {
  std::lock_guard lock(mu_);
  auto [b, end] = subs_.equal_range(taskId);
  for (auto it = b; it != end; ++it) {
    if (it->second.first == id) {
      subs_.erase(it);
      return;
    }
  }
}

}  // namespace aion::events
