#pragma once
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/task_store.h"
#include "store/write_queue.h"

struct pg_conn;

namespace aion::store {

//! The TaskStore over PostgreSQL (libpq). Same contract and same rows as
//! SqliteTaskStore: one writer thread owns one connection and commits queued
//! writes in groups (one transaction for everything queued while the
//! previous commit ran); reads run on a pool of read connections. Writes
//! that are not durable commit with synchronous_commit off: visible at once,
//! carried to disk by the next durable commit (PostgreSQL's group commit).
class PgTaskStore final : public QueuedTaskStore {
 public:
  struct Options {
    //! libpq connection string, e.g. "host=db user=aion dbname=aion"; a
    //! schema other than public via "options=-csearch_path=<schema>".
    std::string dsn{};
    int readers = 4;
    //! Writes behind wait at most this long, or until this many are queued.
    std::chrono::milliseconds behindWindow{100};
    size_t behindMax = 1000;
    //! Most writes in one transaction.
    size_t maxBatch = 2048;
    //! Called on the writer thread after each transaction: its duration and writes.
    std::function<void(double seconds, size_t writes)> onCommit{};
    //! Also write every event and usage record to the outbox, in the same
    //! transaction, for a sink to relay (KAFKA_BROKERS).
    bool outbox = false;
    //! Hold a session advisory lock for as long as the store is open: a
    //! second store (another control plane) on the same database fails to
    //! open with kConflict. Several control planes need leases first.
    bool exclusive = false;
  };

  //! Connects (writer and readers) and brings the schema up to date; fails
  //! with kUnavailable and the server's message when it cannot.
  static Result<std::unique_ptr<PgTaskStore>> open(Options opts);
  static Result<std::unique_ptr<PgTaskStore>> open(const std::string& dsn) {
    return open(Options{.dsn = dsn});
  }
  //! Commits what is queued, then closes.
  ~PgTaskStore() override;

  boost::asio::any_io_executor readExecutor() override { return readPool_.get_executor(); }
  Result<std::optional<Task>> get(const std::string& id) override;
  Result<TaskPage> list(const ListQuery& q) override;
  Result<std::vector<Event>> events(const std::string& taskId, int64_t afterSeq,
                                    int limit) override;
  Result<std::vector<Task>> unfinished() override;
  Result<std::vector<UsageRow>> usage(const UsageQuery& q) override;
  Result<SpendTotals> spendSince(int64_t sinceMs) override;
  Status ping() override;
  Result<std::vector<OutboxRecord>> outbox(int64_t afterId, int limit) override;

  //! The schema version this build migrates to.
  static constexpr int kSchemaVersion = 2;

 private:
  using Pending = WriteQueue::Pending;
  //! A read connection for the scope of one call (reconnected if it broke).
  class Reader {
   public:
    explicit Reader(PgTaskStore& s);
    ~Reader();
    pg_conn* conn() const { return c_; }

   private:
    PgTaskStore& s_;
    pg_conn* c_;
  };

  explicit PgTaskStore(Options opts);
  void commit(std::vector<Pending>& batch, const std::vector<size_t>& into);
  Status apply(const Write& w);
  //! Takes the exclusive lock on the writer connection (Options::exclusive).
  Status lockExclusive();

  Options opts_;
  pg_conn* writer_ = nullptr;

  std::mutex rmu_;
  std::condition_variable rcv_;
  std::vector<pg_conn*> readers_;
  std::vector<pg_conn*> idleReaders_;
  boost::asio::thread_pool readPool_;
};

}  // namespace aion::store
