#include "store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <boost/json.hpp>
#include <filesystem>
#include <string>

#include "temp_dir.h"

namespace aion::store {
namespace {
namespace json = boost::json;

// The task-store contract (writes, group commit, folding, reads, outbox) is
// tested for every store by task_store_conformance_test.cpp; what follows is
// SQLite's own: its file, its migrations.

TEST(SqliteStore, PeriodsAreUtcDaysAndMonths) {
  EXPECT_EQ(utcDay(0), "1970-01-01");
  EXPECT_EQ(periodStartMs("day", 86400000 + 5000), 86400000);
  EXPECT_EQ(periodStartMs("month", 40LL * 86400000), 31LL * 86400000);  // Feb 1st 1970
  // 2024-02-29T23:59:59.999Z: a leap day, the last millisecond of it.
  EXPECT_EQ(utcDay(1709251199999), "2024-02-29");
  EXPECT_EQ(periodStartMs("day", 1709251199999), 1709164800000);
  EXPECT_EQ(periodStartMs("month", 1709251199999), 1706745600000);  // 2024-02-01
  EXPECT_EQ(utcDay(1709251200000), "2024-03-01");
  EXPECT_EQ(utcDay(4102444800000), "2100-01-01");
}

// EXPLAIN QUERY PLAN's details, one per line.
std::string planOf(const std::filesystem::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  std::string plan;
  if (sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &st, nullptr) != SQLITE_OK)
    plan = std::string("prepare failed: ") + sqlite3_errmsg(db);
  while (st && sqlite3_step(st) == SQLITE_ROW)
    plan += std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 3))) + "\n";
  sqlite3_finalize(st);
  sqlite3_close(db);
  return plan;
}

// Listing one tenant's running (or failed, ...) tasks must not read every
// task the tenant ever had: it is a range of an index, newest first.
// Succeeded tasks are most tasks: walking them newest first fills a page.
TEST(SqliteStore, AStatusFilteredListIsAnIndexRangeNotAScanOfTheTenantsTasks) {
  testing::TempDir dir;
  auto file = dir.path() / "aion.db";
  ASSERT_TRUE(SqliteTaskStore::open(file));
  for (auto q : {ListQuery{.tenant = "acme", .status = TaskStatus::kRunning, .limit = 50},
                 ListQuery{.tenant = "acme", .status = TaskStatus::kFailed, .afterId = "tsk_x"},
                 ListQuery{.tenant = "acme", .status = TaskStatus::kQueued, .intent = "chat"}}) {
    auto plan = planOf(file, SqliteTaskStore::listSql(q));
    EXPECT_NE(plan.find("USING INDEX tasks_tenant_status_id (tenant=? AND status=?"),
              std::string::npos)
        << plan;
    EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << "sorted apart: " << plan;
  }
  auto plan = planOf(file, SqliteTaskStore::listSql(
                               {.tenant = "acme", .status = TaskStatus::kSucceeded, .limit = 5}));
  EXPECT_NE(plan.find("USING INDEX tasks_tenant_id (tenant=?)"), std::string::npos) << plan;
}

// Retention looks every hour: on a database of millions of tasks it must read
// the old ones only, not every row to find none.
TEST(SqliteStore, APurgeReadsARangeOfThePrimaryKey) {
  testing::TempDir dir;
  auto file = dir.path() / "aion.db";
  ASSERT_TRUE(SqliteTaskStore::open(file));
  auto plan = planOf(file, SqliteTaskStore::kPurgeSql);
  EXPECT_NE(plan.find("SEARCH tasks USING INDEX sqlite_autoindex_tasks_1 (id<?)"),
            std::string::npos)
      << plan;
  EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << "sorted apart: " << plan;
}

TEST(SqliteStore, MigratesAVersion1DatabaseKeepingItsRows) {
  testing::TempDir dir;
  auto file = dir.path() / "aion.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  const char* v1 = R"sql(
    CREATE TABLE tasks(id TEXT PRIMARY KEY, tenant TEXT NOT NULL, key_id TEXT NOT NULL,
      intent TEXT NOT NULL, params TEXT NOT NULL, status TEXT NOT NULL, route TEXT, result TEXT,
      error TEXT, cost_usd REAL NOT NULL DEFAULT 0, cost_estimated INTEGER NOT NULL DEFAULT 0,
      attempts INTEGER NOT NULL DEFAULT 0, cancel_requested INTEGER NOT NULL DEFAULT 0,
      created_ms INTEGER NOT NULL, started_ms INTEGER NOT NULL DEFAULT 0,
      finished_ms INTEGER NOT NULL DEFAULT 0, deadline_ms INTEGER NOT NULL DEFAULT 0,
      last_seq INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE events(task_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,
      ts_ms INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY(task_id, seq)) WITHOUT ROWID;
    CREATE TABLE reservations(id TEXT NOT NULL, tenant TEXT NOT NULL, key_id TEXT NOT NULL,
      amount_nusd INTEGER NOT NULL, created_ms INTEGER NOT NULL);
    INSERT INTO tasks(id,tenant,key_id,intent,params,status,created_ms,last_seq)
      VALUES('tsk_old','default','k','summarize','{}','succeeded',1,1);
    INSERT INTO events VALUES('tsk_old',1,'done',1,'{}');
    PRAGMA user_version = 1;)sql";
  ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto s = SqliteTaskStore::open(file);
  ASSERT_TRUE(s) << s.error().message;
  auto t = (*s)->get("tsk_old");
  ASSERT_TRUE(t && *t);
  EXPECT_EQ((*t)->status, TaskStatus::kSucceeded);
  EXPECT_EQ((*t)->surface, "");
  EXPECT_EQ((*t)->traceId, "");  // versions 1 and 2 had no trace id
  EXPECT_EQ((*s)->events("tsk_old", 0, 10)->size(), 1u);
  s->reset();
  EXPECT_NE(
      planOf(file, SqliteTaskStore::listSql({.tenant = "default", .status = TaskStatus::kFailed}))
          .find("tasks_tenant_status_id"),
      std::string::npos);
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  EXPECT_NE(sqlite3_exec(db, "SELECT 1 FROM reservations", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
}

TEST(SqliteStore, RefusesANewerSchemaAndBadPaths) {
  testing::TempDir dir;
  auto file = dir.path() / "aion.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto s = SqliteTaskStore::open(file);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("schema version 99"), std::string::npos);
  auto bad = SqliteTaskStore::open("/proc/no/such/dir/aion.db");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace aion::store
