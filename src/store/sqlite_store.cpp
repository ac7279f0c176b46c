#include "store/sqlite_store.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <unordered_map>

#include "common/ids.h"
#include "common/json_text.h"
#include "store/outbox.h"

namespace aion::store {
namespace json = boost::json;
namespace {
using namespace sqlite;

constexpr int kSchemaVersion = 5;

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
  last_seq INTEGER NOT NULL DEFAULT 0,
  surface TEXT NOT NULL DEFAULT '',
  upstream_us INTEGER NOT NULL DEFAULT 0,
  overhead_us INTEGER NOT NULL DEFAULT 0,
  trace_id TEXT NOT NULL DEFAULT '',
  trace_state TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS tasks_tenant_id ON tasks(tenant, id);
CREATE INDEX IF NOT EXISTS tasks_active ON tasks(status) WHERE status IN ('queued','routed','running');
-- A list filtered by status is a range of this index, newest first; without
-- it, it read every task of the tenant to find the few with that status.
-- Succeeded tasks, most of them, stay out: a task's row then leaves the index
-- when it succeeds, which keeps the index small and a commit's pages few.
CREATE INDEX IF NOT EXISTS tasks_tenant_status_id ON tasks(tenant, status, id)
  WHERE status <> 'succeeded';
CREATE TABLE IF NOT EXISTS events(
  task_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  type TEXT NOT NULL,
  ts_ms INTEGER NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY(task_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS usage(
  id TEXT PRIMARY KEY,
  task_id TEXT NOT NULL,
  ts_ms INTEGER NOT NULL,
  day TEXT NOT NULL,
  tenant TEXT NOT NULL,
  key_id TEXT NOT NULL,
  intent TEXT NOT NULL,
  provider TEXT NOT NULL,
  model TEXT NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  cost_nusd INTEGER NOT NULL,
  estimated INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_tenant_ts ON usage(tenant, ts_ms);
CREATE INDEX IF NOT EXISTS usage_key_ts ON usage(key_id, ts_ms);
CREATE INDEX IF NOT EXISTS usage_day ON usage(day);
CREATE TABLE IF NOT EXISTS outbox(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  topic TEXT NOT NULL,
  key TEXT NOT NULL,
  payload TEXT NOT NULL
);
)sql";

// Version 1 (before group commit) kept budget reservations in a table and
// had no surface or timing columns.
constexpr const char* kMigrateFrom1 = R"sql(
ALTER TABLE tasks ADD COLUMN surface TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN upstream_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN overhead_us INTEGER NOT NULL DEFAULT 0;
DROP TABLE IF EXISTS reservations;
)sql";

// Version 2 had no trace id.
constexpr const char* kMigrateFrom2 = R"sql(
ALTER TABLE tasks ADD COLUMN trace_id TEXT NOT NULL DEFAULT '';
)sql";

// Versions up to 4 had no tracestate.
constexpr const char* kMigrateFrom4 = R"sql(
ALTER TABLE tasks ADD COLUMN trace_state TEXT NOT NULL DEFAULT '';
)sql";

json::value parseOrNull(const std::string& s) {
  if (s.empty()) return nullptr;
  boost::system::error_code ec;
  auto v = json::parse(s, ec);
  return ec ? json::value(nullptr) : v;
}

constexpr const char* kTaskCols =
    "id,tenant,key_id,intent,params,status,route,result,error,cost_usd,cost_estimated,attempts,"
    "cancel_requested,created_ms,started_ms,finished_ms,deadline_ms,last_seq,surface,upstream_us,"
    "overhead_us,trace_id,trace_state";

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
  t.surface = s.text(18);
  t.upstreamUs = s.i64(19);
  t.overheadUs = s.i64(20);
  t.traceId = s.text(21);
  t.traceState = s.text(22);
  return t;
}

Status execSql(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return fail(ErrorCode::kUnavailable, "store: " + msg);
  }
  return {};
}

Result<sqlite3*> openDb(const std::filesystem::path& file, int flags) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(file.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return fail(ErrorCode::kUnavailable, "cannot open " + file.string() + ": " + msg);
  }
  sqlite3_busy_timeout(db, 5000);
  return db;
}

std::string textOrEmpty(const json::value& v) {
  return v.is_null() ? std::string() : jsonText(v);
}

}  // namespace

// Calendar arithmetic instead of gmtime_r/timegm: glibc takes its time-zone
// lock in both, and budgets ask for the period several times per request.
int64_t periodStartMs(const std::string& period, int64_t nowMs) {
  using namespace std::chrono;
  auto day = floor<days>(sys_time<milliseconds>(milliseconds(nowMs)));
  if (period == "month") {
    year_month_day ymd{day};
    day = sys_days{ymd.year() / ymd.month() / 1};
  }
  return duration_cast<milliseconds>(day.time_since_epoch()).count();
}

std::string utcDay(int64_t ms) {
  return formatTimeMs(ms).substr(0, 10);  // YYYY-MM-DD
}

SqliteTaskStore::SqliteTaskStore(Options opts)
    : opts_(opts), readPool_(static_cast<size_t>(std::max(1, opts.readers))) {}

Result<std::unique_ptr<SqliteTaskStore>> SqliteTaskStore::open(const std::filesystem::path& file,
                                                               Options opts) {
  std::unique_ptr<SqliteTaskStore> s(new SqliteTaskStore(opts));
  auto db = openDb(file, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!db) return std::unexpected(db.error());
  s->writer_.db = *db;
  s->writer_.stmts = std::make_unique<StmtCache>(*db);
  sqlite3* w = s->writer_.db;
  if (auto st = execSql(w, "PRAGMA journal_mode=WAL"); !st) return std::unexpected(st.error());
  if (auto st = s->setSync(true); !st) return std::unexpected(st.error());
  int version = 0;
  {
    Stmt v(w, "PRAGMA user_version");
    if (v.step() == SQLITE_ROW) version = static_cast<int>(v.i64(0));
  }
  if (version > kSchemaVersion)
    return fail(ErrorCode::kUnavailable, file.string() + " has schema version " +
                                             std::to_string(version) + "; this aiond knows up to " +
                                             std::to_string(kSchemaVersion));
  if (auto st = execSql(w, "BEGIN IMMEDIATE"); !st) return std::unexpected(st.error());
  Status migrated = execSql(w, kSchema);
  if (migrated && version == 1) migrated = execSql(w, kMigrateFrom1);
  if (migrated && version >= 1 && version <= 2) migrated = execSql(w, kMigrateFrom2);
  if (migrated && version >= 1 && version <= 4) migrated = execSql(w, kMigrateFrom4);
  if (migrated)
    migrated = execSql(w, ("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str());
  if (!migrated) {
    execSql(w, "ROLLBACK");
    return std::unexpected(migrated.error());
  }
  if (auto st = execSql(w, "COMMIT"); !st) return std::unexpected(st.error());

  auto own = openDb(file, SQLITE_OPEN_READWRITE);
  if (!own) return std::unexpected(own.error());
  s->checkpointer_ = std::make_unique<WalCheckpointer>(w, *own, opts.wal);
  for (int i = 0; i < std::max(1, opts.readers); ++i) {
    auto r = openDb(file, SQLITE_OPEN_READONLY);
    if (!r) return std::unexpected(r.error());
    s->readers_.push_back(Conn{*r, std::make_unique<StmtCache>(*r)});
  }
  for (auto& c : s->readers_) s->idle_.add(&c);
  s->writes_ = std::make_unique<WriteQueue>(
      WriteQueue::Options{.behindWindow = opts.behindWindow,
                          .behindMax = opts.behindMax,
                          .maxBatch = opts.maxBatch,
                          .onCommit = opts.onCommit},
      [p = s.get()](std::vector<Pending>& batch, const std::vector<size_t>& into) {
        p->commit(batch, into);
      });
  return s;
}

SqliteTaskStore::~SqliteTaskStore() {
  writes_.reset();  // commits what is queued
  checkpointer_.reset();
  readPool_.join();
  for (auto* c : {&writer_}) {
    c->stmts.reset();
    sqlite3_close(c->db);
  }
  for (auto& c : readers_) {
    c.stmts.reset();
    sqlite3_close(c.db);
  }
}

Status SqliteTaskStore::setSync(bool full) {
  int want = full && opts_.sync == Sync::kFull ? 1 : 0;
  if (want == writerSync_) return {};
  auto st = execSql(writer_.db, want ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  writerSync_ = st ? want : -1;
  return st;
}

// ---- writes -----------------------------------------------------------

void SqliteTaskStore::commit(std::vector<Pending>& batch, const std::vector<size_t>& into) {
  bool durable = false;
  for (auto& p : batch) durable = durable || p.w.durability == Durability::kDurable;
  sqlite3* db = writer_.db;
  GiveWay giveWay(GiveWay::behindOnly(batch));  // a batch behind is milliseconds of CPU
  auto run = [&](size_t from, size_t to) -> Status {
    if (auto st = setSync(durable); !st) return st;
    checkpointer_->beforeWrite();
    if (auto st = execSql(db, "BEGIN IMMEDIATE"); !st) return st;
    for (size_t i = from; i < to; ++i) {
      if (into[i] != i) continue;
      giveWay();
      if (auto st = apply(batch[i].w); !st) {
        execSql(db, "ROLLBACK");
        return st;
      }
    }
    if (sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      auto e = dbError(db, "commit");
      execSql(db, "ROLLBACK");
      return e;
    }
    return {};
  };
  std::vector<Status> results(batch.size());
  if (auto st = run(0, batch.size()); !st) {
    // One bad write must not fail the others: apply each on its own.
    if (batch.size() == 1) {
      results[0] = st;
    } else {
      for (size_t i = 0; i < batch.size(); ++i)
        results[i] = into[i] == i ? run(i, i + 1) : results[into[i]];
    }
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!results[i] && into[i] == i)
      spdlog::error("store: write for task {} failed: {}", batch[i].w.taskId,
                    results[i].error().message);
    if (batch[i].done) batch[i].done(results[i], batch[i].w);
    giveWay();
  }
}

Status SqliteTaskStore::apply(const Write& w) {
  auto& stmts = *writer_.stmts;
  sqlite3* db = writer_.db;
  int64_t lastSeq = w.events.empty() ? 0 : w.events.back().seq;
  if (w.create) {
    const Task& t = *w.create;
    Stmt s(stmts,
           "INSERT INTO tasks(id,tenant,key_id,intent,params,status,route,result,error,cost_usd,"
           "cost_estimated,attempts,cancel_requested,created_ms,started_ms,finished_ms,deadline_ms,"
           "last_seq,surface,upstream_us,overhead_us,trace_id,trace_state) "
           "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    s.bind(1, t.id).bind(2, t.tenant).bind(3, t.keyId).bind(4, t.intent);
    s.bind(5, jsonText(t.params)).bind(6, statusName(t.status)).bind(7, textOrEmpty(t.route));
    s.bind(8, textOrEmpty(t.result)).bind(9, textOrEmpty(t.error)).bindDouble(10, t.costUsd);
    s.bind(11, int64_t{t.costEstimated}).bind(12, int64_t{t.attempts});
    s.bind(13, int64_t{t.cancelRequested}).bind(14, t.createdMs).bind(15, t.startedMs);
    s.bind(16, t.finishedMs).bind(17, t.deadlineMs).bind(18, std::max(t.lastSeq, lastSeq));
    s.bind(19, t.surface).bind(20, t.upstreamUs).bind(21, t.overheadUs).bind(22, t.traceId);
    s.bind(23, t.traceState);
    if (s.step() != SQLITE_DONE) return dbError(db, "insert task");
    lastSeq = 0;  // set above
  }
  if (w.update || lastSeq) {
    static const TaskUpdate kNone;
    const TaskUpdate& u = w.update ? *w.update : kNone;
    std::string sql = "UPDATE tasks SET id=id";
    if (u.status) sql += ",status=?1";
    if (u.route) sql += ",route=?2";
    if (u.result) sql += ",result=?3";
    if (u.error) sql += ",error=?4";
    if (u.startedMs) sql += ",started_ms=?5";
    if (u.finishedMs) sql += ",finished_ms=?6";
    if (u.attempts) sql += ",attempts=?7";
    if (u.costUsd) sql += ",cost_usd=?8";
    if (u.costEstimated) sql += ",cost_estimated=?9";
    if (u.cancelRequested) sql += ",cancel_requested=?10";
    if (u.upstreamUs) sql += ",upstream_us=?11";
    if (u.overheadUs) sql += ",overhead_us=?12";
    if (lastSeq) sql += ",last_seq=MAX(last_seq,?13)";
    sql += " WHERE id=?14";
    Stmt up(stmts, sql.c_str());
    if (!up.ok()) return dbError(db, "prepare update");
    if (u.status) up.bind(1, statusName(*u.status));
    if (u.route) up.bind(2, textOrEmpty(*u.route));
    if (u.result) up.bind(3, textOrEmpty(*u.result));
    if (u.error) up.bind(4, textOrEmpty(*u.error));
    if (u.startedMs) up.bind(5, *u.startedMs);
    if (u.finishedMs) up.bind(6, *u.finishedMs);
    if (u.attempts) up.bind(7, int64_t{*u.attempts});
    if (u.costUsd) up.bindDouble(8, *u.costUsd);
    if (u.costEstimated) up.bind(9, int64_t{*u.costEstimated});
    if (u.cancelRequested) up.bind(10, int64_t{*u.cancelRequested});
    if (u.upstreamUs) up.bind(11, *u.upstreamUs);
    if (u.overheadUs) up.bind(12, *u.overheadUs);
    if (lastSeq) up.bind(13, lastSeq);
    up.bind(14, w.taskId);
    if (up.step() != SQLITE_DONE) return dbError(db, "update task");
    if (sqlite3_changes(db) != 1)
      return fail(ErrorCode::kNotFound, "store: no task '" + w.taskId + "' to update");
  }
  if (opts_.outbox) {
    Stmt out(stmts, "INSERT INTO outbox(topic,key,payload) VALUES(?,?,?)");
    for (auto& e : w.events) {
      out.reset();
      out.bind(1, std::string(kTaskEventsTopic)).bind(2, e.taskId).bind(3, outboxPayload(e));
      if (out.step() != SQLITE_DONE) return dbError(db, "insert outbox event");
    }
    for (auto& u : w.usage) {
      out.reset();
      out.bind(1, std::string(kUsageTopic)).bind(2, u.taskId).bind(3, outboxPayload(u));
      if (out.step() != SQLITE_DONE) return dbError(db, "insert outbox usage");
    }
  }
  if (w.trimOutboxTo) {
    Stmt del(stmts, "DELETE FROM outbox WHERE id<=?");
    del.bind(1, *w.trimOutboxTo);
    if (del.step() != SQLITE_DONE) return dbError(db, "trim outbox");
  }
  if (w.purge) {
    Stmt sel(stmts, kPurgeSql);
    sel.bind(1, taskIdsBefore(w.purge->beforeMs))
        .bind(2, w.purge->beforeMs)
        .bind(3, static_cast<int64_t>(w.purge->limit));
    std::vector<std::string> ids;
    int rc;
    while ((rc = sel.step()) == SQLITE_ROW) ids.push_back(sel.text(0));
    if (rc != SQLITE_DONE) return dbError(db, "select tasks to purge");
    Stmt events(stmts, "DELETE FROM events WHERE task_id=?");
    Stmt task(stmts, "DELETE FROM tasks WHERE id=?");
    for (auto& id : ids) {
      events.reset();
      task.reset();
      events.bind(1, id);
      task.bind(1, id);
      if (events.step() != SQLITE_DONE || task.step() != SQLITE_DONE)
        return dbError(db, "purge task");
    }
    *w.purge->deleted = std::move(ids);
  }
  if (!w.events.empty()) {
    Stmt ins(stmts, "INSERT INTO events(task_id,seq,type,ts_ms,data) VALUES(?,?,?,?,?)");
    for (auto& e : w.events) {
      ins.reset();
      ins.bind(1, e.taskId)
          .bind(2, e.seq)
          .bind(3, e.type)
          .bind(4, e.tsMs)
          .bind(5, jsonText(e.data));
      if (ins.step() != SQLITE_DONE) return dbError(db, "insert event");
    }
  }
  if (!w.usage.empty()) {
    Stmt ins(
        stmts,
        "INSERT OR IGNORE INTO usage(id,task_id,ts_ms,day,tenant,key_id,intent,provider,model,"
        "prompt_tokens,completion_tokens,cost_nusd,estimated) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)");
    for (auto& u : w.usage) {
      ins.reset();
      ins.bind(1, u.id).bind(2, u.taskId).bind(3, u.tsMs).bind(4, utcDay(u.tsMs));
      ins.bind(5, u.tenant).bind(6, u.keyId).bind(7, u.intent).bind(8, u.provider);
      ins.bind(9, u.model).bind(10, u.promptTokens).bind(11, u.completionTokens);
      ins.bind(12, u.costNanoUsd).bind(13, int64_t{u.estimated});
      if (ins.step() != SQLITE_DONE) return dbError(db, "insert usage");
    }
  }
  return {};
}

// ---- reads ------------------------------------------------------------

Result<std::optional<Task>> SqliteTaskStore::get(const std::string& id) {
  Reader r(idle_);
  Stmt s(*r->stmts, (std::string("SELECT ") + kTaskCols + " FROM tasks WHERE id=?").c_str());
  s.bind(1, id);
  int rc = s.step();
  if (rc == SQLITE_ROW) return std::optional<Task>(readTask(s));
  if (rc == SQLITE_DONE) return std::optional<Task>();
  return dbError(r->db, "get task");
}

std::string SqliteTaskStore::listSql(const ListQuery& q) {
  std::string sql = std::string("SELECT ") + kTaskCols + " FROM tasks WHERE 1=1";
  if (!q.tenant.empty()) sql += " AND tenant=?1";
  // The second term is the partial index's condition, named so that the
  // planner may use it (it does not infer it from a bound status).
  if (q.status)
    sql += *q.status == TaskStatus::kSucceeded ? " AND status=?2"
                                               : " AND status=?2 AND status<>'succeeded'";
  if (!q.intent.empty()) sql += " AND intent=?3";
  if (!q.afterId.empty()) sql += " AND id<?4";
  sql += " ORDER BY id DESC LIMIT ?5";
  return sql;
}

Result<TaskPage> SqliteTaskStore::list(const ListQuery& q) {
  auto sql = listSql(q);
  Reader r(idle_);
  Stmt s(*r->stmts, sql.c_str());
  if (!s.ok()) return dbError(r->db, "prepare list");
  if (!q.tenant.empty()) s.bind(1, q.tenant);
  if (q.status) s.bind(2, statusName(*q.status));
  if (!q.intent.empty()) s.bind(3, q.intent);
  if (!q.afterId.empty()) s.bind(4, q.afterId);
  s.bind(5, static_cast<int64_t>(q.limit + 1));
  TaskPage page;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) page.items.push_back(readTask(s));
  if (rc != SQLITE_DONE) return dbError(r->db, "list");
  if (static_cast<int>(page.items.size()) > q.limit) {
    page.items.pop_back();
    page.nextCursor = page.items.back().id;
  }
  return page;
}

Result<std::vector<Event>> SqliteTaskStore::events(const std::string& taskId, int64_t afterSeq,
                                                   int limit) {
  Reader r(idle_);
  Stmt s(*r->stmts,
         "SELECT seq,type,ts_ms,data FROM events WHERE task_id=? AND seq>? ORDER BY seq LIMIT ?");
  s.bind(1, taskId).bind(2, afterSeq).bind(3, static_cast<int64_t>(limit));
  std::vector<Event> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back(Event{taskId, s.i64(0), s.text(1), s.i64(2), parseOrNull(s.text(3))});
  if (rc != SQLITE_DONE) return dbError(r->db, "events");
  return out;
}

Result<std::vector<Task>> SqliteTaskStore::unfinished() {
  Reader r(idle_);
  Stmt s(*r->stmts, (std::string("SELECT ") + kTaskCols +
                     " FROM tasks WHERE status IN ('queued','routed','running') ORDER BY id")
                        .c_str());
  std::vector<Task> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(readTask(s));
  if (rc != SQLITE_DONE) return dbError(r->db, "unfinished");
  return out;
}

Result<std::vector<UsageRow>> SqliteTaskStore::usage(const UsageQuery& q) {
  static const std::map<std::string, std::string> kCols{
      {"tenant", "tenant"},     {"key", "key_id"},  {"intent", "intent"},
      {"provider", "provider"}, {"model", "model"}, {"day", "day"}};
  std::string where = " WHERE 1=1";
  std::vector<std::string> binds;
  for (auto& [k, v] : q.filters) {
    auto it = kCols.find(k);
    if (it == kCols.end()) return fail(ErrorCode::kInvalidRequest, "unknown filter '" + k + "'");
    where += " AND " + it->second + "=?";
    binds.push_back(v);
  }
  if (!q.fromDay.empty()) {
    where += " AND day>=?";
    binds.push_back(q.fromDay);
  }
  if (!q.toDay.empty()) {
    where += " AND day<=?";
    binds.push_back(q.toDay);
  }
  std::string cols;
  for (auto& g : q.groupBy) {
    auto it = kCols.find(g);
    if (it == kCols.end()) return fail(ErrorCode::kInvalidRequest, "unknown group '" + g + "'");
    cols += it->second + ",";
  }
  std::string sql = "SELECT " + cols +
                    "COUNT(*),SUM(prompt_tokens),SUM(completion_tokens),SUM(cost_nusd),"
                    "SUM(estimated) FROM usage" +
                    where;
  if (!cols.empty()) {
    cols.pop_back();
    sql += " GROUP BY " + cols + " ORDER BY " + cols;
  }
  Reader r(idle_);
  Stmt s(*r->stmts, sql.c_str());
  if (!s.ok()) return dbError(r->db, "prepare usage");
  for (size_t i = 0; i < binds.size(); ++i) s.bind(static_cast<int>(i + 1), binds[i]);
  std::vector<UsageRow> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    UsageRow row;
    int c = 0;
    for (auto& g : q.groupBy) row.group[g] = s.text(c++);
    row.calls = s.i64(c);
    if (row.calls == 0) continue;  // an aggregate over no rows
    row.promptTokens = s.i64(c + 1);
    row.completionTokens = s.i64(c + 2);
    row.costNanoUsd = s.i64(c + 3);
    row.estimatedCalls = s.i64(c + 4);
    out.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) return dbError(r->db, "read usage");
  return out;
}

Result<SpendTotals> SqliteTaskStore::spendSince(int64_t sinceMs) {
  Reader r(idle_);
  SpendTotals out;
  for (auto [col, into] : {std::pair{"tenant", &out.byTenant}, std::pair{"key_id", &out.byKey}}) {
    std::string sql =
        std::string("SELECT ") + col + ",SUM(cost_nusd) FROM usage WHERE ts_ms>=? GROUP BY " + col;
    Stmt s(*r->stmts, sql.c_str());
    s.bind(1, sinceMs);
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) (*into)[s.text(0)] = s.i64(1);
    if (rc != SQLITE_DONE) return dbError(r->db, "sum usage");
  }
  return out;
}

Result<std::vector<OutboxRecord>> SqliteTaskStore::outbox(int64_t afterId, int limit) {
  Reader r(idle_);
  Stmt s(*r->stmts,
         "SELECT o.id,o.topic,o.key,o.payload,t.tenant,t.intent,t.trace_id,t.trace_state FROM "
         "outbox o "
         "LEFT JOIN tasks t ON t.id=o.key WHERE o.id>? ORDER BY o.id LIMIT ?");
  s.bind(1, afterId).bind(2, int64_t{limit});
  std::vector<OutboxRecord> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back(OutboxRecord{s.i64(0), s.text(1), s.text(2), s.text(3), s.text(4), s.text(5),
                               s.text(6), s.text(7)});
  if (rc != SQLITE_DONE) return std::unexpected(dbError(r->db, "read outbox").error());
  return out;
}

Status SqliteTaskStore::ping() {
  Reader r(idle_);
  Stmt s(*r->stmts, "SELECT 1");
  if (s.step() != SQLITE_ROW) return dbError(r->db, "ping");
  return {};
}

}  // namespace aion::store
