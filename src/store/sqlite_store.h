#pragma once
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "store/conn_pool.h"
#include "store/sqlite_util.h"
#include "store/task_store.h"
#include "store/wal_checkpointer.h"
#include "store/write_queue.h"

struct sqlite3;

namespace aion::store {

//! The embedded TaskStore: one SQLite database in WAL mode. One writer
//! thread owns the write connection and commits queued writes in groups
//! (one transaction and one fsync for everything queued while the previous
//! commit ran); reads run on a pool of read connections, which WAL lets
//! proceed while the writer commits.
class SqliteTaskStore final : public QueuedTaskStore {
 public:
  struct Options {
    sqlite::Sync sync = sqlite::Sync::kFull;
    int readers = 4;
    //! Writes behind wait at most this long, or until this many are queued.
    std::chrono::milliseconds behindWindow{100};
    size_t behindMax = 1000;
    //! Most writes in one transaction.
    size_t maxBatch = 2048;
    //! Called on the writer thread after each transaction: its duration and writes.
    std::function<void(double seconds, size_t writes)> onCommit;
    //! Also write every event and usage record to the outbox, in the same
    //! transaction, for a sink to relay (KAFKA_BROKERS).
    bool outbox = false;
    //! When the log is copied back into the database, and by whom.
    WalCheckpointer::Options wal{};
  };

  static Result<std::unique_ptr<SqliteTaskStore>> open(const std::filesystem::path& file,
                                                       Options opts);
  static Result<std::unique_ptr<SqliteTaskStore>> open(const std::filesystem::path& file) {
    return open(file, Options{});
  }
  //! Commits what is queued, then closes.
  ~SqliteTaskStore() override;

  boost::asio::any_io_executor readExecutor() override { return readPool_.get_executor(); }
  Result<std::optional<Task>> get(const std::string& id) override;
  Result<TaskPage> list(const ListQuery& q) override;
  //! The statement list() runs (its query plan is tested).
  static std::string listSql(const ListQuery& q);
  //! The tasks a purge deletes (its query plan is tested): the id range
  //! first, a primary-key range that stops at the first task created after
  //! the cutoff, whatever the table's size.
  static constexpr const char* kPurgeSql =
      "SELECT id FROM tasks WHERE id<? AND status NOT IN ('queued','routed','running') AND "
      "finished_ms<? ORDER BY id LIMIT ?";
  Result<std::vector<Event>> events(const std::string& taskId, int64_t afterSeq,
                                    int limit) override;
  Result<std::vector<Task>> unfinished() override;
  Result<std::vector<UsageRow>> usage(const UsageQuery& q) override;
  Result<SpendTotals> spendSince(int64_t sinceMs) override;
  Status ping() override;
  Result<std::vector<OutboxRecord>> outbox(int64_t afterId, int limit) override;

 private:
  struct Conn {
    sqlite3* db = nullptr;
    std::unique_ptr<sqlite::StmtCache> stmts;
  };
  using Pending = WriteQueue::Pending;
  //! A read connection for the scope of one call.
  using Reader = ConnPool<Conn*>::Lease;

  explicit SqliteTaskStore(Options opts);
  void commit(std::vector<Pending>& batch, const std::vector<size_t>& into);
  Status apply(const Write& w);
  Status setSync(bool full);

  Options opts_;
  Conn writer_;
  int writerSync_ = -1;  // the writer's synchronous setting: 1 FULL, 0 NORMAL, -1 unknown

  std::unique_ptr<WalCheckpointer> checkpointer_;  // stopped once writes_ has committed
  std::vector<Conn> readers_;
  ConnPool<Conn*> idle_;
  boost::asio::thread_pool readPool_;
};

}  // namespace aion::store
