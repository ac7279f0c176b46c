#pragma once
// How each TaskStore implementation opens a fresh, empty store, for the
// conformance suites that run against every one of them (STYLE.md §3):
// SQLite in a temporary folder always; PostgreSQL when
// AION_TEST_POSTGRES_DSN names a server (tests/e2e/test_store_postgres.py
// starts one), each test in a schema of its own, dropped after.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <cstdlib>
#include <random>
#include <string>

#include "store/pg_store.h"
#include "store/sqlite_store.h"
#include "temp_dir.h"

namespace aion::store {

struct SqliteBackend {
  using Store = SqliteTaskStore;
  testing::TempDir dir;
  static std::string unavailable() { return {}; }
  Result<std::unique_ptr<Store>> open(Store::Options opts) {
    return Store::open(dir.path() / "aion.db", std::move(opts));
  }
};

inline const char* postgresDsn() {
  const char* dsn = std::getenv("AION_TEST_POSTGRES_DSN");
  return dsn && *dsn ? dsn : nullptr;
}

//! Runs SQL as the test's admin; "" on success, else the server's message.
inline std::string adminExec(const std::string& sql) {
  PGconn* c = PQconnectdb(postgresDsn());
  std::string err;
  if (PQstatus(c) != CONNECTION_OK) {
    err = PQerrorMessage(c);
  } else {
    PQsetNoticeProcessor(
        c, [](void*, const char*) {}, nullptr);  // "drop cascades to …"
    PGresult* r = PQexec(c, sql.c_str());
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
      err = PQresultErrorMessage(r);
    PQclear(r);
  }
  PQfinish(c);
  return err;
}

struct PostgresBackend {
  using Store = PgTaskStore;
  std::string schema;
  static std::string unavailable() {
    return postgresDsn() ? std::string()
                         : "AION_TEST_POSTGRES_DSN not set: tests/e2e/test_store_postgres.py "
                           "runs this suite against a real PostgreSQL";
  }
  PostgresBackend() {
    if (!postgresDsn()) return;
    std::random_device rd;
    schema = "t_" + std::to_string(rd()) + std::to_string(rd());
    auto err = adminExec("CREATE SCHEMA " + schema);
    EXPECT_EQ(err, "");
  }
  ~PostgresBackend() {
    if (!schema.empty()) {
      EXPECT_EQ(adminExec("DROP SCHEMA " + schema + " CASCADE"), "");
    }
  }
  std::string dsn() const {
    // The application name finds this test's connections in pg_stat_activity.
    return std::string(postgresDsn()) + " options=-csearch_path=" + schema +
           " application_name=" + schema;
  }
  Result<std::unique_ptr<Store>> open(Store::Options opts) {
    opts.dsn = dsn();
    return Store::open(std::move(opts));
  }
};

}  // namespace aion::store
