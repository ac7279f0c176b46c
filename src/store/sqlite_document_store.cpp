#include "store/sqlite_document_store.h"

#include <boost/json/parse.hpp>

#include "common/json_text.h"

namespace aion::store {
namespace {
using namespace sqlite;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS task_documents(
  task_id TEXT NOT NULL,
  name TEXT NOT NULL,
  json TEXT NOT NULL,
  PRIMARY KEY(task_id, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS task_events(
  task_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  type TEXT NOT NULL,
  ts_ms INTEGER NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY(task_id, seq)
) WITHOUT ROWID;
)sql";

}  // namespace

Status checkDocumentSize(std::string_view taskId, std::string_view what, size_t bytes) {
  if (bytes <= DocumentStore::kMaxDocumentBytes) return {};
  return fail(ErrorCode::kPayloadTooLarge,
              "task " + std::string(taskId) + ": its " + std::string(what) + " is " +
                  std::to_string(bytes) + " bytes of JSON; a task document holds at most " +
                  std::to_string(DocumentStore::kMaxDocumentBytes) +
                  " (MongoDB's 16 MiB document limit)",
              {{"limitBytes", DocumentStore::kMaxDocumentBytes}, {"bytes", bytes}});
}

Result<std::unique_ptr<SqliteDocumentStore>> SqliteDocumentStore::open(
    const std::filesystem::path& file) {
  std::unique_ptr<SqliteDocumentStore> s(new SqliteDocumentStore());
  if (sqlite3_open_v2(file.c_str(), &s->db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK)
    return dbError(s->db_, "documents: open " + file.string());
  sqlite3_busy_timeout(s->db_, 5000);
  if (sqlite3_exec(s->db_, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr) != SQLITE_OK ||
      sqlite3_exec(s->db_, syncPragma(Sync::kFull), nullptr, nullptr, nullptr) != SQLITE_OK ||
      sqlite3_exec(s->db_, kSchema, nullptr, nullptr, nullptr) != SQLITE_OK)
    return dbError(s->db_, "documents: schema");
  s->stmts_ = std::make_unique<StmtCache>(s->db_);
  return s;
}

SqliteDocumentStore::~SqliteDocumentStore() {
  stmts_.reset();
  if (db_) sqlite3_close(db_);
}

Status SqliteDocumentStore::put(const std::vector<TaskDocument>& docs) {
  for (auto& d : docs)
    if (auto st = checkDocumentSize(d.taskId, d.name, d.json.size()); !st) return st;
  std::lock_guard lock(mu_);
  Txn txn(db_);
  if (!txn.ok()) return dbError(db_, "documents: begin");
  for (auto& d : docs) {
    Stmt s(*stmts_, "INSERT OR REPLACE INTO task_documents(task_id,name,json) VALUES(?,?,?)");
    s.bind(1, d.taskId).bind(2, d.name).bind(3, d.json);
    if (s.step() != SQLITE_DONE) return dbError(db_, "documents: put");
  }
  if (!txn.commit()) return dbError(db_, "documents: commit");
  return {};
}

Result<std::optional<std::string>> SqliteDocumentStore::get(const std::string& taskId,
                                                            const std::string& name) {
  std::lock_guard lock(mu_);
  Stmt s(*stmts_, "SELECT json FROM task_documents WHERE task_id=? AND name=?");
  s.bind(1, taskId).bind(2, name);
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) return dbError(db_, "documents: get");
  return s.text(0);
}

Status SqliteDocumentStore::appendEvents(const std::vector<Event>& events) {
  std::vector<std::string> data;
  data.reserve(events.size());
  for (auto& e : events) {
    data.push_back(jsonText(e.data));
    if (auto st = checkDocumentSize(e.taskId, "event " + std::to_string(e.seq), data.back().size());
        !st)
      return st;
  }
  std::lock_guard lock(mu_);
  Txn txn(db_);
  if (!txn.ok()) return dbError(db_, "documents: begin");
  for (size_t i = 0; i < events.size(); ++i) {
    auto& e = events[i];
    Stmt s(*stmts_,
           "INSERT OR REPLACE INTO task_events(task_id,seq,type,ts_ms,data) VALUES(?,?,?,?,?)");
    s.bind(1, e.taskId).bind(2, e.seq).bind(3, e.type).bind(4, e.tsMs).bind(5, data[i]);
    if (s.step() != SQLITE_DONE) return dbError(db_, "documents: append events");
  }
  if (!txn.commit()) return dbError(db_, "documents: commit");
  return {};
}

Result<std::vector<Event>> SqliteDocumentStore::events(const std::string& taskId, int64_t afterSeq,
                                                       int limit) {
  std::lock_guard lock(mu_);
  Stmt s(*stmts_,
         "SELECT seq,type,ts_ms,data FROM task_events WHERE task_id=? AND seq>? ORDER BY seq "
         "LIMIT ?");
  s.bind(1, taskId).bind(2, afterSeq).bind(3, static_cast<int64_t>(limit));
  std::vector<Event> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    boost::system::error_code ec;
    auto data = boost::json::parse(s.text(3), ec);
    if (ec)
      return fail(ErrorCode::kInternal, "documents: event data of " + taskId + " is not JSON");
    out.push_back(Event{taskId, s.i64(0), s.text(1), s.i64(2), std::move(data)});
  }
  if (rc != SQLITE_DONE) return dbError(db_, "documents: events");
  return out;
}

Status SqliteDocumentStore::remove(const std::string& taskId) {
  std::lock_guard lock(mu_);
  Txn txn(db_);
  if (!txn.ok()) return dbError(db_, "documents: begin");
  for (const char* sql :
       {"DELETE FROM task_documents WHERE task_id=?", "DELETE FROM task_events WHERE task_id=?"}) {
    Stmt s(*stmts_, sql);
    s.bind(1, taskId);
    if (s.step() != SQLITE_DONE) return dbError(db_, "documents: remove");
  }
  if (!txn.commit()) return dbError(db_, "documents: commit");
  return {};
}

Status SqliteDocumentStore::ping() {
  std::lock_guard lock(mu_);
  Stmt s(*stmts_, "SELECT 1");
  if (s.step() != SQLITE_ROW) return dbError(db_, "documents: ping");
  return {};
}

}  // namespace aion::store
