#pragma once
// Small RAII helpers over the SQLite C API, shared by the SQLite stores.
#include <sqlite3.h>

#include <string>
#include <string_view>
#include <unordered_map>

#include "common/error.h"

namespace aion::store::sqlite {

// Prepared statements kept across calls, keyed by SQL text: compiling SQL
// is a sizeable part of a small query. Not thread-safe: the stores use it
// under the same mutex as their connection.
class StmtCache {
 public:
  explicit StmtCache(sqlite3* db) : db_(db) {}
  ~StmtCache() { clear(); }
  StmtCache(const StmtCache&) = delete;
  StmtCache& operator=(const StmtCache&) = delete;

  sqlite3* db() const { return db_; }
  //! A ready statement for `sql` (cached or new); `rc` is the prepare result.
  sqlite3_stmt* take(const char* sql, int& rc) {
    rc = SQLITE_OK;
    if (auto it = idle_.find(std::string_view(sql)); it != idle_.end()) {
      auto* st = it->second;
      idle_.erase(it);
      return st;
    }
    sqlite3_stmt* st = nullptr;
    rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr);
    return st;
  }
  //! Returns a statement; kept unless the cache is full or one is idle already.
  void give(sqlite3_stmt* st) {
    if (!st) return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (idle_.size() >= kMax || !idle_.emplace(std::string_view(sqlite3_sql(st)), st).second)
      sqlite3_finalize(st);
  }
  void clear() {
    for (auto& [_, st] : idle_) sqlite3_finalize(st);
    idle_.clear();
  }

 private:
  static constexpr size_t kMax = 128;  // dynamic SQL (filters, grouping) has many shapes
  sqlite3* db_;
  std::unordered_map<std::string_view, sqlite3_stmt*> idle_;  // keys point into sqlite3_sql()
};

// RAII prepared statement with typed binds.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &st_, nullptr); }
  Stmt(StmtCache& cache, const char* sql) : cache_(&cache) { st_ = cache.take(sql, rc_); }
  ~Stmt() {
    if (cache_ && rc_ == SQLITE_OK)
      cache_->give(st_);
    else
      sqlite3_finalize(st_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  Stmt& bind(int i, std::string_view s) {
    sqlite3_bind_text(st_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(st_, i, v);
    return *this;
  }
  Stmt& bindDouble(int i, double v) {
    sqlite3_bind_double(st_, i, v);
    return *this;
  }
  int step() { return sqlite3_step(st_); }
  void reset() {
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
  }
  std::string text(int c) const {
    auto* p = sqlite3_column_text(st_, c);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(st_, c))
             : std::string();
  }
  int64_t i64(int c) const { return sqlite3_column_int64(st_, c); }
  double dbl(int c) const { return sqlite3_column_double(st_, c); }
  bool isNull(int c) const { return sqlite3_column_type(st_, c) == SQLITE_NULL; }

 private:
  sqlite3_stmt* st_ = nullptr;
  int rc_ = SQLITE_ERROR;
  StmtCache* cache_ = nullptr;
};

//! When a commit reaches the disk (AION_STORE_SYNC, docs/configuration.md).
enum class Sync { kFull, kNormal };
inline const char* syncPragma(Sync s) {
  return s == Sync::kFull ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
}

inline std::unexpected<Error> dbError(sqlite3* db, std::string_view what) {
  return fail(ErrorCode::kUnavailable,
              std::string("store: ") + std::string(what) + ": " + sqlite3_errmsg(db));
}

// Lowers `synchronous` to NORMAL for one write on a FULL connection (WAL
// mode: the commit is not fsynced; the next FULL commit syncs it too).
class RelaxedSync {
 public:
  RelaxedSync(sqlite3* db, bool relax) : db_(relax ? db : nullptr) {
    if (db_) sqlite3_exec(db_, "PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr);
  }
  ~RelaxedSync() {
    if (db_) sqlite3_exec(db_, "PRAGMA synchronous=FULL", nullptr, nullptr, nullptr);
  }
  RelaxedSync(const RelaxedSync&) = delete;
  RelaxedSync& operator=(const RelaxedSync&) = delete;

 private:
  sqlite3* db_;
};

// Commits on success, rolls back otherwise.
class Txn {
 public:
  explicit Txn(sqlite3* db) : db_(db) {
    ok_ = sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK;
  }
  ~Txn() {
    if (ok_ && !done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  bool ok() const { return ok_; }
  bool commit() {
    done_ = true;
    return sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
  }

 private:
  sqlite3* db_;
  bool ok_ = false;
  bool done_ = false;
};

}  // namespace aion::store::sqlite
