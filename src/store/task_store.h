#pragma once
// The store seam for tasks, events and usage (DESIGN.md §3, §4a).
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "common/error.h"
#include "store/task.h"
#include "store/usage.h"

namespace aion::store {

//! When a write's completion runs, relative to the disk.
enum class Durability : uint8_t {
  //! Committed and on disk (fsynced, unless AION_STORE_SYNC=normal). Many
  //! writes share one transaction and one fsync (group commit).
  kDurable,
  //! Committed (visible, survives kill -9) but not waited on for the fsync:
  //! the next durable commit carries it to disk.
  kCommitted,
  //! Written behind: may wait up to the write-behind window so that many
  //! such writes share a transaction; completion after that commit.
  kBehind,
};

//! One atomic change: a new task row and/or column changes of one task, its
//! new events (seqs assigned by the task's owner, consecutive), and usage
//! records of the model calls it settled.
struct Write {
  std::string taskId;
  std::optional<Task> create{};
  std::optional<TaskUpdate> update{};
  std::vector<Event> events{};
  std::vector<UsageRecord> usage{};
  Durability durability = Durability::kDurable;
  //! Outbox records up to this id were delivered: remove them (no task part).
  std::optional<int64_t> trimOutboxTo{};
  //! Retention (no task part): see TaskStore::purgeFinished.
  struct Purge {
    int64_t beforeMs = 0;
    int limit = 0;
    //! Filled by the store with the ids it deleted.
    std::shared_ptr<std::vector<std::string>> deleted =
        std::make_shared<std::vector<std::string>>();
  };
  std::optional<Purge> purge{};
};

//! One record of the outbox: an event or usage record committed with the
//! change it belongs to, waiting to be relayed to an event sink (Kafka).
struct OutboxRecord {
  int64_t id = 0;                       // commit order
  std::string topic;                    // aion.task-events | aion.usage
  std::string key;                      // the task id: one task's records stay in order
  std::string payload;                  // a JSON object, text
  std::string tenant, intent, traceId;  // of the task, for consumers
  std::string traceState{};             // of the task, passed on as a header
};

//! Runs on the store's writer thread after the write's transaction
//! committed (or failed), with the write itself (its events may be moved
//! out, e.g. to publish them): it must be quick and must not block.
using WriteDone = std::function<void(const Status&, Write&)>;

class TaskStore {
 public:
  virtual ~TaskStore() = default;

  // ---- writes: one writer, group commit --------------------------------
  //! Queues `w`; `done` runs once it is committed as `w.durability` asks,
  //! or failed (then nothing of `w` was applied). Writes commit in the order
  //! they were queued. Thread-safe; never blocks.
  virtual void write(Write w, WriteDone done) = 0;
  //! Blocks until every write queued before the call has committed (used at
  //! shutdown to flush writes behind).
  virtual void flush() = 0;
  //! Retention: deletes at most `limit` tasks created and ended before
  //! `beforeMs` (never one still active), oldest first, with their events;
  //! returns their ids. Usage rows stay (they are the spend). A write: blocks
  //! until committed, so call it from a blocking pool.
  virtual Result<std::vector<std::string>> purgeFinished(int64_t beforeMs, int limit);

  // ---- reads: a pool of read connections; calls block -------------------
  //! An executor whose threads each own a read connection: run reads there.
  virtual boost::asio::any_io_executor readExecutor() = 0;
  virtual Result<std::optional<Task>> get(const std::string& id) = 0;
  virtual Result<TaskPage> list(const ListQuery& q) = 0;
  //! Events with seq > afterSeq, in order, at most `limit`.
  virtual Result<std::vector<Event>> events(const std::string& taskId, int64_t afterSeq,
                                            int limit) = 0;
  //! Tasks not yet terminal, oldest first (for recovery at start-up).
  virtual Result<std::vector<Task>> unfinished() = 0;
  virtual Result<std::vector<UsageRow>> usage(const UsageQuery& q) = 0;
  virtual Result<SpendTotals> spendSince(int64_t sinceMs) = 0;
  //! Cheap liveness probe of the backing store.
  virtual Status ping() = 0;
  //! Outbox records with id > afterId, in commit order, at most `limit`
  //! (empty unless the store was opened with an outbox).
  virtual Result<std::vector<OutboxRecord>> outbox(int64_t afterId, int limit) = 0;
  //! How long the oldest write not yet committed has waited (0: none).
  //! Never blocks.
  virtual std::chrono::milliseconds writeBacklog() const = 0;
};

}  // namespace aion::store
