#include "gateway/idempotency.h"

namespace aion::gateway {

InProcessIdempotencyStore::InProcessIdempotencyStore(Clock clock, std::chrono::seconds ttl,
                                                     size_t maxKeys)
    : clock_(std::move(clock)), ttlMs_(ttl.count() * 1000), maxKeys_(maxKeys) {}

void InProcessIdempotencyStore::evict(int64_t now) {
  while (!order_.empty() && (order_.front().first <= now || entries_.size() >= maxKeys_)) {
    auto it = entries_.find(order_.front().second);
    // The deque may hold stale pairs for keys abandoned and reused since.
    if (it != entries_.end() && it->second.expiresMs == order_.front().first) entries_.erase(it);
    order_.pop_front();
  }
}

IdempotencyStore::Begin InProcessIdempotencyStore::begin(const std::string& key,
                                                         const std::string& bodyHash,
                                                         Stored& response) {
  int64_t now = clock_();
  std::lock_guard lock(mu_);
  evict(now);
  auto it = entries_.find(key);
  if (it != entries_.end() && it->second.expiresMs > now) {
    if (it->second.bodyHash != bodyHash) return Begin::kConflict;
    if (!it->second.done) return Begin::kInProgress;
    response = it->second.response;
    return Begin::kReplay;
  }
  Entry e{bodyHash, false, {}, now + ttlMs_};
  entries_[key] = e;
  order_.emplace_back(e.expiresMs, key);
  return Begin::kFirst;
}

void InProcessIdempotencyStore::complete(const std::string& key, Stored response) {
  std::lock_guard lock(mu_);
  if (auto it = entries_.find(key); it != entries_.end()) {
    it->second.done = true;
    it->second.response = std::move(response);
  }
}

void InProcessIdempotencyStore::abandon(const std::string& key) {
  std::lock_guard lock(mu_);
  if (auto it = entries_.find(key); it != entries_.end() && !it->second.done) entries_.erase(it);
}

size_t InProcessIdempotencyStore::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace aion::gateway
