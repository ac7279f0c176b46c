#pragma once
// Idempotency-Key for task submission: the same key and body give back the
// original response instead of a new task; the same key with another body is
// a conflict. Scoped per tenant. In-process here; a Redis implementation
// shares keys between gateway processes.
#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace aion::gateway {

class IdempotencyStore {
 public:
  enum class Begin {
    kFirst,       // proceed; then call complete() or abandon()
    kReplay,      // `response` holds the original answer
    kConflict,    // the key was used with a different body
    kInProgress,  // the first request with this key has not finished yet
  };
  struct Stored {
    unsigned status = 0;
    std::string body;
  };

  virtual ~IdempotencyStore() = default;
  virtual Begin begin(const std::string& scopedKey, const std::string& bodyHash,
                      Stored& response) = 0;
  virtual void complete(const std::string& scopedKey, Stored response) = 0;
  //! The first request failed: forget the key so a retry may proceed.
  virtual void abandon(const std::string& scopedKey) = 0;
  //! True when calls do network I/O (callers then run them off I/O threads).
  virtual bool blocking() const { return false; }
};

class InProcessIdempotencyStore final : public IdempotencyStore {
 public:
  using Clock = std::function<int64_t()>;  // ms since the epoch
  InProcessIdempotencyStore(Clock clock, std::chrono::seconds ttl, size_t maxKeys);

  Begin begin(const std::string& scopedKey, const std::string& bodyHash, Stored& response) override;
  void complete(const std::string& scopedKey, Stored response) override;
  void abandon(const std::string& scopedKey) override;
  size_t size() const;

 private:
  struct Entry {
    std::string bodyHash;
    bool done = false;
    Stored response;
    int64_t expiresMs = 0;
  };
  void evict(int64_t now);

  Clock clock_;
  int64_t ttlMs_;
  size_t maxKeys_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::deque<std::pair<int64_t, std::string>> order_;  // by expiry (= insertion: one TTL)
};

}  // namespace aion::gateway
