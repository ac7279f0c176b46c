#pragma once
#include <filesystem>
#include <memory>
#include <mutex>

#include "store/ledger.h"
#include "store/sqlite_util.h"

struct sqlite3;

namespace aion::store {

//! SpendLedger in the same SQLite file as the tasks (own connection, WAL,
//! synchronous=FULL). Spend is the sum of settled usage rows; reservations
//! are rows too, so a reserve is one BEGIN IMMEDIATE transaction that reads
//! both and adds its row: concurrent reservations serialize on SQLite's
//! write lock, also across processes sharing the file.
class SqliteLedger final : public SpendLedger {
 public:
  static Result<std::unique_ptr<SqliteLedger>> open(const std::filesystem::path& file,
                                                    sqlite::Sync sync = sqlite::Sync::kFull);
  ~SqliteLedger() override;

  Status reserve(const std::string& reservationId, const std::string& tenant,
                 const std::string& keyId, const std::vector<BudgetScope>& scopes, int64_t nanoUsd,
                 int64_t nowMs) override;
  Status settle(const std::string& reservationId, const std::optional<UsageRecord>& usage) override;
  Status releaseAll() override;
  Result<std::vector<UsageRow>> usage(const UsageQuery& q) override;
  Result<std::pair<int64_t, int64_t>> spent(const BudgetScope& scope, int64_t nowMs) override;

 private:
  explicit SqliteLedger(sqlite3* db) : db_(db) {}
  Result<std::pair<int64_t, int64_t>> spentLocked(const BudgetScope& scope, int64_t nowMs);
  std::mutex mu_;
  sqlite3* db_;
  sqlite::StmtCache stmts_{db_};  // after db_: built from it
  sqlite::Sync sync_ = sqlite::Sync::kFull;
};

//! UTC period start in ms for `period` (day | month) containing `nowMs`.
int64_t periodStartMs(const std::string& period, int64_t nowMs);
//! YYYY-MM-DD (UTC) of `ms`.
std::string utcDay(int64_t ms);

}  // namespace aion::store
