#pragma once
// Task documents apart from task rows (AION_CONTROL_MONGO_DSN;
// docs/architecture.md "Task documents"): a TaskStore that keeps a task's
// large params and result, and the data of its large events, in a
// DocumentStore, and every event in the document store's event history,
// while the task store it wraps (SQLite or PostgreSQL) keeps the rows with
// a reference in place of each large value. Reads put the values back, so
// what a reader sees is exactly what it would see without documents.
#include <functional>
#include <memory>
#include <string>

#include "store/cluster.h"
#include "store/document_store.h"
#include "store/write_queue.h"

namespace aion::store {

class DocumentTaskStore final : public TaskStore, public Cluster {
 public:
  struct Options {
    //! A params, result or event data value whose JSON text is longer than
    //! this goes to the document store; the row keeps a reference.
    size_t inlineMaxBytes = 16 << 10;
    //! Every document store call: op (put, get, events, …), outcome (ok or
    //! an error code) and duration. On the calling thread; must be quick.
    std::function<void(const char* op, const std::string& outcome, double seconds)> onCall{};
  };

  //! `cluster` is `rows` when it is also a Cluster (PostgreSQL), else null;
  //! then this store's Cluster methods must not be called.
  DocumentTaskStore(std::unique_ptr<TaskStore> rows, Cluster* cluster,
                    std::unique_ptr<DocumentStore> docs, Options opts);
  //! Writes what is queued to both stores, then closes.
  ~DocumentTaskStore() override;

  //! Queues `w`. On the document thread (in queue order): its large values
  //! and all its events go to the document store; only once that succeeded
  //! is the write, with references, queued on the row store, so a row never
  //! refers to a document that is not stored, and `done` (with the values
  //! put back) means both are stored as `w.durability` asks. If the
  //! document store fails, `done` gets its error and no row is written.
  void write(Write w, WriteDone done) override;
  void flush() override;
  std::chrono::milliseconds writeBacklog() const override;
  //! The rows and their events, then each task's documents. A document the
  //! document store fails to delete stays (logged and counted).
  Result<std::vector<std::string>> purgeFinished(int64_t beforeMs, int limit) override;

  boost::asio::any_io_executor readExecutor() override { return rows_->readExecutor(); }
  Result<std::optional<Task>> get(const std::string& id) override;
  Result<TaskPage> list(const ListQuery& q) override;
  Result<std::vector<Event>> events(const std::string& taskId, int64_t afterSeq,
                                    int limit) override;
  Result<std::vector<Task>> unfinished() override;
  Result<std::vector<UsageRow>> usage(const UsageQuery& q) override { return rows_->usage(q); }
  Result<SpendTotals> spendSince(int64_t sinceMs) override { return rows_->spendSince(sinceMs); }
  //! Both stores answer.
  Status ping() override;
  Result<std::vector<OutboxRecord>> outbox(int64_t afterId, int limit) override {
    return rows_->outbox(afterId, limit);
  }

  // Cluster: the wrapped store's, with tasks' values put back.
  const std::string& planeId() const override { return cluster_->planeId(); }
  Result<std::vector<std::string>> renew() override { return cluster_->renew(); }
  Result<std::vector<Task>> claim(bool ownToo) override;
  Result<std::vector<Task>> take(size_t limit, std::chrono::milliseconds queuedFor) override;
  Result<std::optional<Task>> requestCancel(const std::string& taskId) override;
  void release() override { cluster_->release(); }
  void listen(Listener l) override { cluster_->listen(std::move(l)); }
  void unlisten() override { cluster_->unlisten(); }
  Result<std::optional<LedgerRefusal>> reserve(const std::string& reservationId,
                                               const std::vector<LedgerScope>& scopes,
                                               int64_t nanoUsd) override {
    return cluster_->reserve(reservationId, scopes, nanoUsd);
  }
  Status settle(const std::string& reservationId, int64_t spentNanoUsd) override {
    return cluster_->settle(reservationId, spentNanoUsd);
  }
  Result<std::pair<int64_t, int64_t>> spent(const LedgerScope& scope) override {
    return cluster_->spent(scope);
  }

  //! The reference a row keeps in place of a value stored as a document:
  //! {"$aionDocument": {"task": <id>, "name": "params"|"result"}} or
  //! {"$aionDocument": {"task": <id>, "event": <seq>}}.
  static boost::json::value reference(const std::string& taskId, const std::string& name);
  static boost::json::value eventReference(const std::string& taskId, int64_t seq);

 private:
  void commit(std::vector<WriteQueue::Pending>& batch, const std::vector<size_t>& into);
  //! Puts the documents `t` refers to back in place.
  Status resolve(Task& t);
  Status resolve(std::vector<Task>& ts);
  Status resolve(std::optional<Task>& t);
  //! `r` with its tasks' documents put back, or the error of doing so.
  template <typename T>
  Result<T> resolved(Result<T> r);
  //! Times a document store call and reports it (Options::onCall).
  template <typename F>
  auto call(const char* op, F&& f);

  std::unique_ptr<TaskStore> rows_;
  Cluster* cluster_;
  std::unique_ptr<DocumentStore> docs_;
  Options opts_;
  std::unique_ptr<WriteQueue> writes_;  // last: its thread stops first
};

}  // namespace aion::store
