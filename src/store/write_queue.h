#pragma once
// The single writer both task stores share (DESIGN.md §4a): writes queue
// without blocking; one thread takes them in order, in batches — writes
// behind wait for company up to a window — folds a task's writes behind
// within a batch, and hands the batch to the store's commit. Each store
// only says how a batch becomes one transaction.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "store/task_store.h"

namespace aion::store {

class WriteQueue {
 public:
  struct Pending {
    Write w;
    WriteDone done;
    std::chrono::steady_clock::time_point queued;
  };
  struct Options {
    std::chrono::milliseconds behindWindow{100};
    size_t behindMax = 1000;
    size_t maxBatch = 2048;
    //! After each transaction: its duration and writes (on the writer thread).
    std::function<void(double seconds, size_t writes)> onCommit;
  };
  //! Commits `batch` as one transaction (retrying writes alone if it
  //! fails), skipping writes folded into another (`into[i] != i`), and runs
  //! each write's `done`; folded writes get their target's status.
  using Commit = std::function<void(std::vector<Pending>& batch, const std::vector<size_t>& into)>;

  WriteQueue(Options opts, Commit commit);
  //! Commits what is queued, then stops the writer thread.
  ~WriteQueue();
  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;

  void push(Write w, WriteDone done);
  //! Blocks until every write queued before the call has committed.
  void flush();
  //! How long the oldest write not yet committed has waited (writes behind:
  //! only past their window). Never blocks for long.
  std::chrono::milliseconds backlog() const;

  struct Stats {
    uint64_t writes = 0;        // committed (or failed) so far
    uint64_t transactions = 0;  // used for them (the group-commit ratio)
    uint64_t folded = 0;        // writes behind folded into an earlier one of their task
  };
  Stats stats() const;

 private:
  void loop();
  //! When a write should be committed: at once, or a write behind after its window.
  std::chrono::steady_clock::time_point dueOf(const Pending& p) const {
    return p.w.durability == Durability::kBehind ? p.queued + opts_.behindWindow : p.queued;
  }

  Options opts_;
  Commit commit_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable flushedCv_;
  std::deque<Pending> queue_;
  size_t urgent_ = 0;  // queued writes that are not behind
  uint64_t queuedTotal_ = 0, committedTotal_ = 0, transactions_ = 0, folded_ = 0;
  std::chrono::steady_clock::time_point committing_{};  // when the batch in commit was due
  bool flushing_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

//! Lets a long batch of writes behind give way: the writer calls it between
//! writes, and every `slice` it yields the core. A request thread woken onto
//! the writer's core then waits at most a slice, not until the scheduler's
//! next tick (≈4 ms on this project's machine: the chat path's p999 at one
//! connection). Off (`on` false) for a batch that anyone waits for: there
//! the writer is the request path (gRPC submits/s fell 20% when it yielded).
class GiveWay {
 public:
  explicit GiveWay(bool on, std::chrono::microseconds slice = std::chrono::microseconds(200))
      : on_(on), slice_(slice), since_(std::chrono::steady_clock::now()) {}
  void operator()();
  //! Whether every write of `batch` is behind: no caller waits for its commit.
  static bool behindOnly(const std::vector<WriteQueue::Pending>& batch);

 private:
  bool on_;
  std::chrono::microseconds slice_;
  std::chrono::steady_clock::time_point since_;
  std::chrono::steady_clock::duration given_{};
};

//! A task store whose writes go through a WriteQueue: the write side of
//! TaskStore, once for every store.
class QueuedTaskStore : public TaskStore {
 public:
  void write(Write w, WriteDone done) override { writes_->push(std::move(w), std::move(done)); }
  void flush() override { writes_->flush(); }
  std::chrono::milliseconds writeBacklog() const override { return writes_->backlog(); }
  using CommitStats = WriteQueue::Stats;
  CommitStats commitStats() const { return writes_->stats(); }

 protected:
  //! Each store's destructor resets it first: queued writes commit before
  //! the connections close.
  std::unique_ptr<WriteQueue> writes_;
};

//! Writes behind of one task in one batch become one write: a chat call's
//! create, progress and finish cost one INSERT instead of an INSERT and an
//! UPDATE each. Only writes nobody waits on are folded, and never across a
//! write of the same task that is not behind. Returns, per write, the index
//! of the write it was folded into (its own if none).
std::vector<size_t> foldWritesBehind(std::vector<WriteQueue::Pending>& batch);

}  // namespace aion::store
