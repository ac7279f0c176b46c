#pragma once
// The read side both task stores share: idle connections lent one per call.
#include <condition_variable>
#include <mutex>
#include <vector>

namespace aion::store {

//! Lends connections (pointers or handles) one per scope. The stores run
//! their reads on a pool with one thread per connection (readExecutor), so
//! a borrower waits only for a read that has already started.
template <typename C>
class ConnPool {
 public:
  void add(C c) {
    std::lock_guard lock(mu_);
    idle_.push_back(c);
  }

  //! A connection for the scope of one call.
  class Lease {
   public:
    explicit Lease(ConnPool& pool) : pool_(pool) {
      std::unique_lock lock(pool_.mu_);
      pool_.cv_.wait(lock, [&] { return !pool_.idle_.empty(); });
      c_ = pool_.idle_.back();
      pool_.idle_.pop_back();
    }
    ~Lease() {
      {
        std::lock_guard lock(pool_.mu_);
        pool_.idle_.push_back(c_);
      }
      pool_.cv_.notify_one();
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

    C get() const { return c_; }
    C operator->() const { return c_; }

   private:
    ConnPool& pool_;
    C c_;
  };

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<C> idle_;
};

}  // namespace aion::store
