#include "store/wal_checkpointer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "temp_dir.h"

namespace aion::store {
namespace {
using namespace std::chrono_literals;

sqlite3* open(const std::filesystem::path& file) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr),
            SQLITE_OK);
  return db;
}

void exec(sqlite3* db, const std::string& sql) {
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
}

// Commits rows until the log holds well over `pages` pages (4 KiB each).
void fill(sqlite3* db, int pages) {
  for (int i = 0; i < pages; ++i) exec(db, "INSERT INTO t(v) VALUES(zeroblob(3000))");
}

struct Db {
  aion::testing::TempDir dir;
  std::filesystem::path file = dir.path() / "x.db";
  sqlite3* writer = open(file);
  Db() {
    exec(writer, "PRAGMA journal_mode=WAL");
    exec(writer, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
  }
  ~Db() { sqlite3_close(writer); }
  // What the database file holds, without the log: grows only by checkpoints.
  uintmax_t mainBytes() const { return std::filesystem::file_size(file); }
};

TEST(WalCheckpointer, TheThreadCopiesTheLogBackNotTheWriter) {
  Db db;
  auto before = db.mainBytes();
  WalCheckpointer c(db.writer, open(db.file), {.softPages = 8, .hardPages = 1'000'000});
  fill(db.writer, 64);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (db.mainBytes() < before + 32 * 4096 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  EXPECT_GE(db.mainBytes(), before + 32 * 4096);
  EXPECT_GE(c.stats().background, 1u);
  EXPECT_EQ(c.stats().forced, 0u);
}

// SQLite starts the log over only at a transaction that begins on a fully
// copied log; under steady commits the thread alone never gets there.
TEST(WalCheckpointer, UnderSteadyCommitsTheLogStartsOver) {
  Db db;
  WalCheckpointer c(db.writer, open(db.file), {.softPages = 8, .hardPages = 1'000'000});
  uintmax_t largest = 0;
  for (int i = 0; i < 3000; ++i) {
    c.beforeWrite();
    exec(db.writer, "INSERT INTO t(v) VALUES(zeroblob(100))");
    largest = std::max(largest, std::filesystem::file_size(db.file.string() + "-wal"));
  }
  EXPECT_GE(c.stats().background, 1u);
  // 3000 commits of at least one page each: without restarts, > 12 MB.
  EXPECT_LT(largest, 400u * 4096) << "stats: background " << c.stats().background << " finished "
                                  << c.stats().finished;
}

TEST(WalCheckpointer, TheWriterCheckpointsItselfPastTheHardLimit) {
  Db db;
  auto before = db.mainBytes();
  WalCheckpointer c(db.writer, open(db.file), {.softPages = 1'000'000, .hardPages = 8});
  fill(db.writer, 64);
  // Synchronous: done by the commits themselves, nothing to wait for.
  EXPECT_GE(db.mainBytes(), before + 32 * 4096);
  EXPECT_GE(c.stats().forced, 1u);
  EXPECT_EQ(c.stats().background, 0u);
}

TEST(WalCheckpointer, BelowBothLimitsNobodyCheckpoints) {
  Db db;
  auto before = db.mainBytes();
  {
    WalCheckpointer c(db.writer, open(db.file), {.softPages = 1'000'000, .hardPages = 1'000'000});
    fill(db.writer, 64);
    EXPECT_EQ(db.mainBytes(), before);  // SQLite's own automatic checkpoint is off
    EXPECT_EQ(c.stats().background + c.stats().forced, 0u);
  }
  // Without the checkpointer, SQLite's automatic checkpoint is back.
  exec(db.writer, "PRAGMA wal_autocheckpoint=8");
  fill(db.writer, 16);
  EXPECT_GT(db.mainBytes(), before);
}

}  // namespace
}  // namespace aion::store
