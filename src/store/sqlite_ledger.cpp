#include "store/sqlite_ledger.h"

#include <ctime>
#include <set>

#include "store/sqlite_util.h"

namespace aion::store {
using namespace sqlite;

namespace {

constexpr const char* kSchema = R"sql(
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
CREATE TABLE IF NOT EXISTS reservations(
  id TEXT NOT NULL,
  tenant TEXT NOT NULL,
  key_id TEXT NOT NULL,
  amount_nusd INTEGER NOT NULL,
  created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS reservations_id ON reservations(id);
)sql";

std::string money(int64_t nano) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", fromNanoUsd(nano));
  return buf;
}

}  // namespace

int64_t periodStartMs(const std::string& period, int64_t nowMs) {
  std::time_t secs = static_cast<std::time_t>(nowMs / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  if (period == "month") tm.tm_mday = 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

std::string utcDay(int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

Result<std::unique_ptr<SqliteLedger>> SqliteLedger::open(const std::filesystem::path& file,
                                                         sqlite::Sync sync) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return fail(ErrorCode::kUnavailable, "cannot open " + file.string() + ": " + msg);
  }
  std::unique_ptr<SqliteLedger> l(new SqliteLedger(db));
  l->sync_ = sync;
  for (const char* sql : {"PRAGMA journal_mode=WAL", sqlite::syncPragma(sync),
                          "PRAGMA busy_timeout=10000", kSchema}) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      return fail(ErrorCode::kUnavailable, "ledger: " + msg);
    }
  }
  return l;
}

SqliteLedger::~SqliteLedger() {
  stmts_.clear();
  sqlite3_close(db_);
}

Result<std::pair<int64_t, int64_t>> SqliteLedger::spentLocked(const BudgetScope& scope,
                                                              int64_t nowMs) {
  bool tenant = scope.kind == BudgetScope::Kind::kTenant;
  Stmt s(stmts_, tenant
                     ? "SELECT COALESCE(SUM(cost_nusd),0) FROM usage WHERE tenant=? AND ts_ms>=?"
                     : "SELECT COALESCE(SUM(cost_nusd),0) FROM usage WHERE key_id=? AND ts_ms>=?");
  s.bind(1, scope.id).bind(2, periodStartMs(scope.period, nowMs));
  if (s.step() != SQLITE_ROW) return dbError(db_, "sum usage");
  int64_t spent = s.i64(0);
  Stmt r(stmts_, tenant ? "SELECT COALESCE(SUM(amount_nusd),0) FROM reservations WHERE tenant=?"
                        : "SELECT COALESCE(SUM(amount_nusd),0) FROM reservations WHERE key_id=?");
  r.bind(1, scope.id);
  if (r.step() != SQLITE_ROW) return dbError(db_, "sum reservations");
  return std::pair(spent, r.i64(0));
}

Result<std::pair<int64_t, int64_t>> SqliteLedger::spent(const BudgetScope& scope, int64_t nowMs) {
  std::lock_guard lock(mu_);
  return spentLocked(scope, nowMs);
}

Status SqliteLedger::reserve(const std::string& id, const std::string& tenant,
                             const std::string& keyId, const std::vector<BudgetScope>& scopes,
                             int64_t nanoUsd, int64_t nowMs) {
  if (scopes.empty()) return {};
  std::lock_guard lock(mu_);
  // Reservations are volatile by design (releaseAll at start-up): no fsync.
  sqlite::RelaxedSync relaxed(db_, sync_ == sqlite::Sync::kFull);
  Txn txn(db_);
  if (!txn.ok()) return dbError(db_, "begin");
  for (auto& sc : scopes) {
    auto sr = spentLocked(sc, nowMs);
    if (!sr) return std::unexpected(sr.error());
    auto [spent, reserved] = *sr;
    if (spent + reserved + nanoUsd > sc.capNanoUsd) {
      std::string who =
          (sc.kind == BudgetScope::Kind::kTenant ? "tenant '" : "key '") + sc.id + "'";
      return fail(ErrorCode::kBudgetExceeded,
                  who + " " + sc.period + " budget " + money(sc.capNanoUsd) + " USD: spent " +
                      money(spent) + ", reserved " + money(reserved) + ", this call needs up to " +
                      money(nanoUsd),
                  {{"scope", sc.kind == BudgetScope::Kind::kTenant ? "tenant" : "key"},
                   {"period", sc.period},
                   {"capUsd", fromNanoUsd(sc.capNanoUsd)},
                   {"spentUsd", fromNanoUsd(spent)},
                   {"reservedUsd", fromNanoUsd(reserved)},
                   {"neededUsd", fromNanoUsd(nanoUsd)}});
    }
  }
  Stmt ins(stmts_,
           "INSERT INTO reservations(id,tenant,key_id,amount_nusd,created_ms) VALUES(?,?,?,?,?)");
  ins.bind(1, id).bind(2, tenant).bind(3, keyId).bind(4, nanoUsd).bind(5, nowMs);
  if (ins.step() != SQLITE_DONE) return dbError(db_, "insert reservation");
  if (!txn.commit()) return dbError(db_, "commit");
  return {};
}

Status SqliteLedger::settle(const std::string& id, const std::optional<UsageRecord>& u) {
  std::lock_guard lock(mu_);
  Txn txn(db_);
  if (!txn.ok()) return dbError(db_, "begin");
  Stmt del(stmts_, "DELETE FROM reservations WHERE id=?");
  del.bind(1, id);
  if (del.step() != SQLITE_DONE) return dbError(db_, "delete reservation");
  if (u) {
    Stmt ins(
        stmts_,
        "INSERT OR IGNORE INTO usage(id,task_id,ts_ms,day,tenant,key_id,intent,provider,model,"
        "prompt_tokens,completion_tokens,cost_nusd,estimated) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)");
    ins.bind(1, u->id)
        .bind(2, u->taskId)
        .bind(3, u->tsMs)
        .bind(4, utcDay(u->tsMs))
        .bind(5, u->tenant)
        .bind(6, u->keyId)
        .bind(7, u->intent)
        .bind(8, u->provider)
        .bind(9, u->model)
        .bind(10, u->promptTokens)
        .bind(11, u->completionTokens)
        .bind(12, u->costNanoUsd)
        .bind(13, static_cast<int64_t>(u->estimated ? 1 : 0));
    if (ins.step() != SQLITE_DONE) return dbError(db_, "insert usage");
  }
  if (!txn.commit()) return dbError(db_, "commit");
  return {};
}

Status SqliteLedger::releaseAll() {
  std::lock_guard lock(mu_);
  Stmt del(stmts_, "DELETE FROM reservations");
  if (del.step() != SQLITE_DONE) return dbError(db_, "release reservations");
  return {};
}

Result<std::vector<UsageRow>> SqliteLedger::usage(const UsageQuery& q) {
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
  std::lock_guard lock(mu_);
  Stmt s(stmts_, sql.c_str());
  if (!s.ok()) return dbError(db_, "prepare usage");
  for (size_t i = 0; i < binds.size(); ++i) s.bind(static_cast<int>(i + 1), binds[i]);
  std::vector<UsageRow> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    UsageRow r;
    int c = 0;
    for (auto& g : q.groupBy) r.group[g] = s.text(c++);
    r.calls = s.i64(c);
    if (r.calls == 0) continue;  // an aggregate over no rows
    r.promptTokens = s.i64(c + 1);
    r.completionTokens = s.i64(c + 2);
    r.costNanoUsd = s.i64(c + 3);
    r.estimatedCalls = s.i64(c + 4);
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return dbError(db_, "read usage");
  return out;
}

}  // namespace aion::store
