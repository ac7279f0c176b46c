#pragma once
#include <filesystem>
#include <memory>
#include <mutex>

#include "store/sqlite_util.h"
#include "store/task_store.h"

struct sqlite3;

namespace aion::store {

//! The embedded TaskStore: one SQLite database in WAL mode with
//! synchronous=FULL, so a committed transition survives kill -9 and power
//! loss. One connection, serialized by a mutex: SQLite has a single writer
//! anyway, and reads are short.
class SqliteTaskStore final : public TaskStore {
 public:
  static Result<std::unique_ptr<SqliteTaskStore>> open(const std::filesystem::path& file,
                                                       sqlite::Sync sync = sqlite::Sync::kFull);
  ~SqliteTaskStore() override;

  Result<std::vector<Event>> create(const Task& task,
                                    const std::vector<EventDraft>& events) override;
  Result<std::optional<Task>> get(const std::string& id) override;
  Result<TaskPage> list(const ListQuery& q) override;
  Result<std::vector<Event>> events(const std::string& taskId, int64_t afterSeq,
                                    int limit) override;
  Result<std::optional<std::vector<Event>>> transition(
      const Transition& t, const std::vector<EventDraft>& events) override;
  Status requestCancel(const std::string& id) override;
  Result<std::vector<Task>> unfinished() override;
  Status ping() override;

 private:
  explicit SqliteTaskStore(sqlite3* db) : db_(db) {}
  Status exec(const char* sql);
  Result<std::vector<Event>> appendEvents(const std::string& taskId, int64_t lastSeq,
                                          const std::vector<EventDraft>& events);

  std::mutex mu_;
  sqlite3* db_;
  sqlite::StmtCache stmts_{db_};  // after db_: built from it
  sqlite::Sync sync_ = sqlite::Sync::kFull;
};

}  // namespace aion::store
