#include "store/wal_checkpointer.h"

#include <pthread.h>
#include <sched.h>
#include <spdlog/spdlog.h>

#include "common/thread_name.h"

namespace aion::store {

WalCheckpointer::WalCheckpointer(sqlite3* writer, sqlite3* own, Options opts)
    : writer_(writer), own_(own), opts_(opts) {
  // A connection learns the file is in WAL mode on its first read; until
  // then its checkpoints do nothing.
  if (sqlite3_exec(own_, "PRAGMA journal_mode", nullptr, nullptr, nullptr) != SQLITE_OK)
    spdlog::warn("store: checkpoint connection: {}", sqlite3_errmsg(own_));
  thread_ = std::thread([this] { loop(); });
  // Replaces SQLite's automatic checkpoint (itself a WAL hook) on the writer.
  sqlite3_wal_hook(writer_, &WalCheckpointer::onCommit, this);
}

WalCheckpointer::~WalCheckpointer() {
  sqlite3_wal_hook(writer_, nullptr, nullptr);
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  sqlite3_close(own_);
}

WalCheckpointer::Stats WalCheckpointer::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

int WalCheckpointer::onCommit(void* self, sqlite3* db, const char* name, int pages) {
  auto* c = static_cast<WalCheckpointer*>(self);
  if (pages >= c->opts_.hardPages) {
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    std::lock_guard lock(c->mu_);
    ++c->stats_.forced;
    return SQLITE_OK;
  }
  if (pages >= c->opts_.softPages) {
    {
      std::lock_guard lock(c->mu_);
      if (c->wanted_) return SQLITE_OK;
      c->wanted_ = true;
    }
    c->cv_.notify_one();
  }
  return SQLITE_OK;
}

void WalCheckpointer::beforeWrite() {
  if (!behind_.exchange(false, std::memory_order_relaxed)) return;
  sqlite3_wal_checkpoint_v2(writer_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  std::lock_guard lock(mu_);
  ++stats_.finished;
}

void WalCheckpointer::loop() {
  nameThisThread("aion-store-ckpt");
  // Idle: any runnable request thread preempts it. Lowering priority needs
  // no privilege; if the kernel refuses, the thread still works, unhurried.
  sched_param none{};
  if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &none) != 0)
    spdlog::debug("store: checkpoint thread keeps normal priority");
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return wanted_ || stopping_; });
    if (stopping_) return;
    lock.unlock();
    // PASSIVE: never waits for the writer or readers; what it cannot copy
    // now waits for the next round.
    int rc = sqlite3_wal_checkpoint_v2(own_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
      spdlog::warn("store: checkpoint failed: {}", sqlite3_errmsg(own_));
    // Whatever was committed meanwhile (its result cannot tell), the writer
    // copies before its next transaction; with nothing left that costs no I/O.
    behind_.store(true, std::memory_order_relaxed);
    lock.lock();
    wanted_ = false;
    ++stats_.background;
  }
}

}  // namespace aion::store
