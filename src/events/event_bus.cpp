#include "events/event_bus.h"

#include <cstdint>

namespace aion::events {

void EventBus::track(const std::string& taskId, int64_t lastSeq) {
  auto& s = shard(taskId);
  std::lock_guard lock(s.mu);
  auto& t = s.topics[taskId];
  t.tracked = true;
  t.firstSeq = lastSeq + 1;
  t.history.clear();
}

void EventBus::publish(store::Event e) {
  auto& s = shard(e.taskId);
  // Listeners are called under the shard lock: that is what makes
  // subscribe's history + live delivery exact. They only queue and wake.
  std::lock_guard lock(s.mu);
  auto it = s.topics.find(e.taskId);
  if (it == s.topics.end()) return;
  auto& t = it->second;
  for (auto& [id, l] : t.listeners) (*l)(e);
  if (t.tracked) t.history.push_back(std::move(e));
}

EventBus::Joined EventBus::subscribe(const std::string& taskId, int64_t afterSeq, Listener fn) {
  auto& s = shard(taskId);
  uint64_t id = nextId_.fetch_add(1);
  Joined out;
  std::lock_guard lock(s.mu);
  auto& t = s.topics[taskId];
  t.listeners.emplace_back(id, std::make_shared<Listener>(std::move(fn)));
  if (t.tracked && afterSeq + 1 >= t.firstSeq) {
    std::vector<store::Event> h;
    for (auto& e : t.history)
      if (e.seq > afterSeq) h.push_back(e);
    out.history = std::move(h);
  }
  out.sub = std::make_unique<Subscription>(this, taskId, id);
  return out;
}

void EventBus::retire(const std::string& taskId) {
  auto& s = shard(taskId);
  std::lock_guard lock(s.mu);
  auto it = s.topics.find(taskId);
  if (it == s.topics.end()) return;
  if (it->second.listeners.empty()) {
    s.topics.erase(it);
  } else {
    it->second.tracked = false;
    it->second.history = {};
  }
}

void EventBus::announce(const std::string& taskId, int64_t seq) {
  auto& s = shard(taskId);
  std::lock_guard lock(s.mu);
  auto it = s.topics.find(taskId);
  if (it == s.topics.end() || it->second.tracked) return;
  store::Event marker;  // no type: "read the store up to seq"
  marker.taskId = taskId;
  marker.seq = seq;
  for (auto& [id, l] : it->second.listeners) (*l)(marker);
}

void EventBus::announceAll() {
  for (auto& s : shards_) {
    std::lock_guard lock(s.mu);
    for (auto& [taskId, t] : s.topics) {
      if (t.tracked) continue;
      store::Event marker;
      marker.taskId = taskId;
      marker.seq = INT64_MAX;
      for (auto& [id, l] : t.listeners) (*l)(marker);
    }
  }
}

void EventBus::unsubscribe(const std::string& taskId, uint64_t id) {
  auto& s = shard(taskId);
  std::lock_guard lock(s.mu);
  auto it = s.topics.find(taskId);
  if (it == s.topics.end()) return;
  auto& ls = it->second.listeners;
  for (auto l = ls.begin(); l != ls.end(); ++l) {
    if (l->first == id) {
      ls.erase(l);
      break;
    }
  }
  if (ls.empty() && !it->second.tracked) s.topics.erase(it);
}

}  // namespace aion::events
