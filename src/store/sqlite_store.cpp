#include "store/sqlite_store.h"

#include <sqlite3.h>

#include <boost/json.hpp>

#include "common/ids.h"
#include "store/sqlite_util.h"

namespace aion::store {
namespace json = boost::json;
namespace {
using namespace sqlite;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS tasks(
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  key_id TEXT NOT NULL,
  intent TEXT NOT NULL,
  params TEXT NOT NULL,
  status TEXT NOT NULL,
  route TEXT,
  result TEXT,
  error TEXT,
  cost_usd REAL NOT NULL DEFAULT 0,
  cost_estimated INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  started_ms INTEGER NOT NULL DEFAULT 0,
  finished_ms INTEGER NOT NULL DEFAULT 0,
  deadline_ms INTEGER NOT NULL DEFAULT 0,
  last_seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tasks_tenant_id ON tasks(tenant, id);
CREATE INDEX IF NOT EXISTS tasks_active ON tasks(status) WHERE status IN ('queued','routed','running');
CREATE TABLE IF NOT EXISTS events(
  task_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  type TEXT NOT NULL,
  ts_ms INTEGER NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY(task_id, seq)
) WITHOUT ROWID;
PRAGMA user_version = 1;
)sql";

json::value parseOrNull(const std::string& s) {
  if (s.empty()) return nullptr;
  boost::system::error_code ec;
  auto v = json::parse(s, ec);
  return ec ? json::value(nullptr) : v;
}

constexpr const char* kTaskCols =
    "id,tenant,key_id,intent,params,status,route,result,error,cost_usd,cost_estimated,attempts,"
    "cancel_requested,created_ms,started_ms,finished_ms,deadline_ms,last_seq";

Task readTask(const Stmt& s) {
  Task t;
  t.id = s.text(0);
  t.tenant = s.text(1);
  t.keyId = s.text(2);
  t.intent = s.text(3);
  t.params = parseOrNull(s.text(4));
  t.status = parseStatus(s.text(5)).value_or(TaskStatus::kFailed);
  t.route = parseOrNull(s.text(6));
  t.result = parseOrNull(s.text(7));
  t.error = parseOrNull(s.text(8));
  t.costUsd = s.dbl(9);
  t.costEstimated = s.i64(10) != 0;
  t.attempts = static_cast<int>(s.i64(11));
  t.cancelRequested = s.i64(12) != 0;
  t.createdMs = s.i64(13);
  t.startedMs = s.i64(14);
  t.finishedMs = s.i64(15);
  t.deadlineMs = s.i64(16);
  t.lastSeq = s.i64(17);
  return t;
}

}  // namespace

Result<std::unique_ptr<SqliteTaskStore>> SqliteTaskStore::open(const std::filesystem::path& file,
                                                               sqlite::Sync sync) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return fail(ErrorCode::kUnavailable, "cannot open " + file.string() + ": " + msg);
  }
  std::unique_ptr<SqliteTaskStore> s(new SqliteTaskStore(db));
  s->sync_ = sync;
  for (const char* pragma :
       {"PRAGMA journal_mode=WAL", sqlite::syncPragma(sync), "PRAGMA busy_timeout=5000"}) {
    if (auto st = s->exec(pragma); !st) return std::unexpected(st.error());
  }
  if (auto st = s->exec(kSchema); !st) return std::unexpected(st.error());
  return s;
}

SqliteTaskStore::~SqliteTaskStore() {
  stmts_.clear();
  sqlite3_close(db_);
}

Status SqliteTaskStore::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return fail(ErrorCode::kUnavailable, "store: " + msg);
  }
  return {};
}

Result<std::vector<Event>> SqliteTaskStore::appendEvents(const std::string& taskId, int64_t lastSeq,
                                                         const std::vector<EventDraft>& drafts) {
  std::vector<Event> out;
  Stmt ins(stmts_, "INSERT INTO events(task_id,seq,type,ts_ms,data) VALUES(?,?,?,?,?)");
  if (!ins.ok()) return dbError(db_, "prepare events");
  int64_t now = nowMs();
  for (auto& d : drafts) {
    Event e{taskId, ++lastSeq, d.type, now, d.data};
    ins.reset();
    ins.bind(1, e.taskId)
        .bind(2, e.seq)
        .bind(3, e.type)
        .bind(4, e.tsMs)
        .bind(5, json::serialize(e.data));
    if (ins.step() != SQLITE_DONE) return dbError(db_, "insert event");
    out.push_back(std::move(e));
  }
  Stmt up(stmts_, "UPDATE tasks SET last_seq=? WHERE id=?");
  up.bind(1, lastSeq).bind(2, taskId);
  if (up.step() != SQLITE_DONE) return dbError(db_, "update last_seq");
  return out;
}

Result<std::vector<Event>> SqliteTaskStore::create(const Task& t,
                                                   const std::vector<EventDraft>& events) {
  std::lock_guard lock(mu_);
  Txn txn(db_);
  if (!txn.ok()) return dbError(db_, "begin");
  Stmt s(stmts_,
         "INSERT INTO tasks(id,tenant,key_id,intent,params,status,route,created_ms,deadline_ms) "
         "VALUES(?,?,?,?,?,?,?,?,?)");
  s.bind(1, t.id)
      .bind(2, t.tenant)
      .bind(3, t.keyId)
      .bind(4, t.intent)
      .bind(5, json::serialize(t.params));
  s.bind(6, statusName(t.status))
      .bind(7, t.route.is_null() ? std::string() : json::serialize(t.route));
  s.bind(8, t.createdMs).bind(9, t.deadlineMs);
  if (s.step() != SQLITE_DONE) return dbError(db_, "insert task");
  auto evs = appendEvents(t.id, 0, events);
  if (!evs) return evs;
  if (!txn.commit()) return dbError(db_, "commit");
  return evs;
}

Result<std::optional<Task>> SqliteTaskStore::get(const std::string& id) {
  std::lock_guard lock(mu_);
  Stmt s(stmts_, (std::string("SELECT ") + kTaskCols + " FROM tasks WHERE id=?").c_str());
  s.bind(1, id);
  int rc = s.step();
  if (rc == SQLITE_ROW) return std::optional<Task>(readTask(s));
  if (rc == SQLITE_DONE) return std::optional<Task>();
  return dbError(db_, "get task");
}

Result<TaskPage> SqliteTaskStore::list(const ListQuery& q) {
  std::lock_guard lock(mu_);
  std::string sql = std::string("SELECT ") + kTaskCols + " FROM tasks WHERE 1=1";
  if (!q.tenant.empty()) sql += " AND tenant=?1";
  if (q.status) sql += " AND status=?2";
  if (!q.intent.empty()) sql += " AND intent=?3";
  if (!q.afterId.empty()) sql += " AND id<?4";
  sql += " ORDER BY id DESC LIMIT ?5";
  Stmt s(stmts_, sql.c_str());
  if (!s.ok()) return dbError(db_, "prepare list");
  if (!q.tenant.empty()) s.bind(1, q.tenant);
  if (q.status) s.bind(2, statusName(*q.status));
  if (!q.intent.empty()) s.bind(3, q.intent);
  if (!q.afterId.empty()) s.bind(4, q.afterId);
  s.bind(5, static_cast<int64_t>(q.limit + 1));
  TaskPage page;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) page.items.push_back(readTask(s));
  if (rc != SQLITE_DONE) return dbError(db_, "list");
  if (static_cast<int>(page.items.size()) > q.limit) {
    page.items.pop_back();
    page.nextCursor = page.items.back().id;
  }
  return page;
}

Result<std::vector<Event>> SqliteTaskStore::events(const std::string& taskId, int64_t afterSeq,
                                                   int limit) {
  std::lock_guard lock(mu_);
  Stmt s(stmts_,
         "SELECT seq,type,ts_ms,data FROM events WHERE task_id=? AND seq>? ORDER BY seq LIMIT ?");
  s.bind(1, taskId).bind(2, afterSeq).bind(3, static_cast<int64_t>(limit));
  std::vector<Event> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back(Event{taskId, s.i64(0), s.text(1), s.i64(2), parseOrNull(s.text(3))});
  if (rc != SQLITE_DONE) return dbError(db_, "events");
  return out;
}

Result<std::optional<std::vector<Event>>> SqliteTaskStore::transition(
    const Transition& t, const std::vector<EventDraft>& events) {
  std::lock_guard lock(mu_);
  sqlite::RelaxedSync relaxed(db_, t.progress && sync_ == sqlite::Sync::kFull);
  Txn txn(db_);
  if (!txn.ok()) return dbError(db_, "begin");
  Stmt cur(stmts_, "SELECT status,last_seq FROM tasks WHERE id=?");
  cur.bind(1, t.taskId);
  int rc = cur.step();
  if (rc == SQLITE_DONE) return std::optional<std::vector<Event>>();
  if (rc != SQLITE_ROW) return dbError(db_, "read status");
  auto status = parseStatus(cur.text(0));
  int64_t lastSeq = cur.i64(1);
  if (!status || !(t.from & maskOf(*status))) return std::optional<std::vector<Event>>();

  std::string sql = "UPDATE tasks SET status=?1";
  if (t.route) sql += ",route=?2";
  if (t.result) sql += ",result=?3";
  if (t.error) sql += ",error=?4";
  if (t.startedMs) sql += ",started_ms=?5";
  if (t.finishedMs) sql += ",finished_ms=?6";
  if (t.attempts) sql += ",attempts=?7";
  if (t.costUsd) sql += ",cost_usd=?8";
  if (t.costEstimated) sql += ",cost_estimated=?10";
  sql += " WHERE id=?9";
  Stmt up(stmts_, sql.c_str());
  if (!up.ok()) return dbError(db_, "prepare transition");
  up.bind(1, statusName(t.to));
  if (t.route) up.bind(2, json::serialize(*t.route));
  if (t.result) up.bind(3, json::serialize(*t.result));
  if (t.error) up.bind(4, json::serialize(*t.error));
  if (t.startedMs) up.bind(5, *t.startedMs);
  if (t.finishedMs) up.bind(6, *t.finishedMs);
  if (t.attempts) up.bind(7, static_cast<int64_t>(*t.attempts));
  if (t.costUsd) up.bindDouble(8, *t.costUsd);
  if (t.costEstimated) up.bind(10, static_cast<int64_t>(*t.costEstimated ? 1 : 0));
  up.bind(9, t.taskId);
  if (up.step() != SQLITE_DONE) return dbError(db_, "transition");
  auto evs = appendEvents(t.taskId, lastSeq, events);
  if (!evs) return std::unexpected(evs.error());
  if (!txn.commit()) return dbError(db_, "commit");
  return std::optional<std::vector<Event>>(std::move(*evs));
}

Status SqliteTaskStore::requestCancel(const std::string& id) {
  std::lock_guard lock(mu_);
  Stmt s(stmts_, "UPDATE tasks SET cancel_requested=1 WHERE id=?");
  s.bind(1, id);
  if (s.step() != SQLITE_DONE) return dbError(db_, "request cancel");
  return {};
}

Result<std::vector<Task>> SqliteTaskStore::unfinished() {
  std::lock_guard lock(mu_);
  Stmt s(stmts_, (std::string("SELECT ") + kTaskCols +
                  " FROM tasks WHERE status IN ('queued','routed','running') ORDER BY id")
                     .c_str());
  std::vector<Task> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(readTask(s));
  if (rc != SQLITE_DONE) return dbError(db_, "unfinished");
  return out;
}

Status SqliteTaskStore::ping() {
  std::lock_guard lock(mu_);
  Stmt s(stmts_, "SELECT 1");
  if (s.step() != SQLITE_ROW) return dbError(db_, "ping");
  return {};
}

}  // namespace aion::store
