#pragma once
// Copies SQLite's write-ahead log back into the database on a thread of its
// own, at idle CPU priority, so that the writer's commits never carry a
// checkpoint. SQLite's automatic checkpoint runs inside the COMMIT that
// takes the log past 1000 pages and held the writer's core for ~3 ms; a
// request thread woken onto that core waited for it (the chat path's p99 at
// one connection, bench/README.md). If the idle thread cannot keep up — a
// saturated machine gives idle threads almost nothing — the writer
// checkpoints itself once the log passes `hardPages`, as SQLite would.
//
// SQLite starts the log over only when a write transaction begins on a
// fully copied log. Under steady commits the thread's copy always ends a
// few commits behind, and the log would grow to `hardPages` every time; so
// when the thread ends behind, the writer copies that small rest itself
// before its next transaction (beforeWrite).
#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace aion::store {

class WalCheckpointer {
 public:
  struct Options {
    int softPages = 1000;  // the log's size that wakes the checkpoint thread
    int hardPages = 2000;  // the size past which the writer checkpoints itself
  };
  //! Takes over the checkpoints of `writer`; `own` is a second read-write
  //! connection to the same file, which this object closes.
  WalCheckpointer(sqlite3* writer, sqlite3* own, Options opts);
  //! Stops the thread (a checkpoint under way finishes first).
  ~WalCheckpointer();
  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;

  struct Stats {
    uint64_t background = 0;  // checkpoints run by the thread
    uint64_t forced = 0;      // checkpoints the writer ran past hardPages
    uint64_t finished = 0;    // rests the writer copied before a transaction
  };
  Stats stats() const;
  //! On the writer, before each transaction: finishes what the thread's
  //! last checkpoint left, so that the log can start over.
  void beforeWrite();

 private:
  static int onCommit(void* self, sqlite3* db, const char* name, int pages);
  void loop();

  sqlite3* writer_;
  sqlite3* own_;
  Options opts_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool wanted_ = false;
  std::atomic<bool> behind_{false};  // the thread checkpointed since the last beforeWrite
  bool stopping_ = false;
  Stats stats_;
  std::thread thread_;
};

}  // namespace aion::store
