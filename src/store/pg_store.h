#pragma once
#include <atomic>
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

#include "store/cluster.h"
#include "store/conn_pool.h"
#include "store/task_store.h"
#include "store/write_queue.h"

struct pg_conn;

namespace aion::store {

//! The TaskStore over PostgreSQL (libpq), and the Cluster seam
//! (store/cluster.h) that lets several control planes share the database. Same contract and same
//! rows as SqliteTaskStore: one writer thread owns one connection and commits queued writes in
//! groups (one transaction for everything queued while the previous commit ran); reads run on a
//! pool of read connections. Writes that are not durable commit with synchronous_commit off:
//! visible at once, carried to disk by the next durable commit (PostgreSQL's group commit).
class PgTaskStore final : public QueuedTaskStore, public Cluster {
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
    //! The control plane this store serves (AION_CONTROL_PLANE_ID): new
    //! tasks are written as its own, and it changes only tasks it owns.
    std::string planeId = "aiond";
    //! Hold a session advisory lock on the plane id for as long as the store
    //! is open: a second store with the same plane id fails to open with
    //! kConflict (two processes must never share an id: both would think
    //! they own the same tasks).
    bool exclusive = false;
    //! How long a lease lasts without renewal (AION_CONTROL_LEASE_MS).
    std::chrono::milliseconds lease{10000};
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
  static constexpr int kSchemaVersion = 5;

  // Cluster (store/cluster.h); the blocking calls run on a read connection.
  const std::string& planeId() const override { return opts_.planeId; }
  Result<std::vector<std::string>> renew() override;
  Result<std::vector<Task>> claim(bool ownToo) override;
  Result<std::vector<Task>> take(size_t limit, std::chrono::milliseconds queuedFor) override;
  Result<std::optional<Task>> requestCancel(const std::string& taskId) override;
  void release() override;
  void listen(Listener l) override;
  void unlisten() override;
  Result<std::optional<LedgerRefusal>> reserve(const std::string& reservationId,
                                               const std::vector<LedgerScope>& scopes,
                                               int64_t nanoUsd) override;
  Status settle(const std::string& reservationId, int64_t spentNanoUsd) override;
  Result<std::pair<int64_t, int64_t>> spent(const LedgerScope& scope) override;

 private:
  using Pending = WriteQueue::Pending;
  //! A read connection for the scope of one call (read() reconnects one that broke).
  using Reader = ConnPool<pg_conn*>::Lease;

  explicit PgTaskStore(Options opts);
  void commit(std::vector<Pending>& batch, const std::vector<size_t>& into);
  Status apply(const Write& w);
  //! Takes the plane id's lock on the writer connection (Options::exclusive).
  Status lockExclusive();
  //! Tells other planes, in the transaction being committed, which tasks
  //! got events (one NOTIFY per batch chunk).
  Status notifyCommitted(const std::vector<Pending>& batch, const std::vector<size_t>& into,
                         size_t from, size_t to);
  //! The listener thread: LISTEN on its own connection, deliver, reconnect.
  void listenLoop();

  Options opts_;
  pg_conn* writer_ = nullptr;

  std::vector<pg_conn*> readers_;
  ConnPool<pg_conn*> idle_;
  boost::asio::thread_pool readPool_;

  // The outbox relay's own connection and whether it holds the relay lock
  // (outbox(): only the relay thread uses them).
  pg_conn* relayConn_ = nullptr;
  bool relayHeld_ = false;
  Listener listener_;
  std::thread listenThread_;
  int wakeFd_[2] = {-1, -1};  // a pipe: the destructor wakes the listener
};

}  // namespace aion::store
