#pragma once
#include <filesystem>
#include <memory>
#include <mutex>

#include "store/document_store.h"
#include "store/sqlite_util.h"

namespace aion::store {

//! The embedded DocumentStore: two tables in one SQLite file (WAL, synchronous
//! FULL), one connection behind a mutex. aiond's default profile keeps
//! documents inline in the task row and does not open it; it is the embedded
//! half of the document conformance suite and the engine the DocumentTaskStore
//! tests run on without a server.
class SqliteDocumentStore final : public DocumentStore {
 public:
  static Result<std::unique_ptr<SqliteDocumentStore>> open(const std::filesystem::path& file);
  ~SqliteDocumentStore() override;

  std::string_view engine() const override { return "sqlite"; }
  Status put(const std::vector<TaskDocument>& docs) override;
  Result<std::optional<std::string>> get(const std::string& taskId,
                                         const std::string& name) override;
  Status appendEvents(const std::vector<Event>& events) override;
  Result<std::vector<Event>> events(const std::string& taskId, int64_t afterSeq,
                                    int limit) override;
  Status remove(const std::string& taskId) override;
  Status ping() override;

 private:
  SqliteDocumentStore() = default;

  std::mutex mu_;
  sqlite3* db_ = nullptr;
  std::unique_ptr<sqlite::StmtCache> stmts_;
};

}  // namespace aion::store
