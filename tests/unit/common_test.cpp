#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include "common/digest.h"
#include "common/error.h"
#include "common/ids.h"
#include "temp_dir.h"

namespace aion {

TEST(Ids, TaskIdFormatAndUniqueness) {
  std::regex re("^tsk_[0-9A-HJKMNP-TV-Z]{26}$");
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    auto id = newTaskId();
    ASSERT_TRUE(std::regex_match(id, re)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 10000u);
}

TEST(Ids, IdsMadeInTheSameMillisecondStillSortInOrder) {
  std::vector<std::string> ids;
  for (int i = 0; i < 2000; ++i) ids.push_back(newTaskId());
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(std::adjacent_find(ids.begin(), ids.end()), ids.end());
}

TEST(Ids, TaskIdsSortByCreationTime) {
  auto a = newTaskId();
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  auto b = newTaskId();
  EXPECT_LT(a, b);
}

// An id made in a new millisecond draws fresh random bits (from a per-thread
// pool of OpenSSL's output): no two draws may repeat, on any thread.
TEST(Ids, FreshRandomPartsNeverRepeatAcrossThreads) {
  std::mutex mu;
  std::set<std::string> parts;
  size_t made = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        auto id = newRequestId();
        std::lock_guard lock(mu);
        ++made;
        parts.insert(id.substr(4 + 10));  // after "req_" and the time
      }
    });
  for (auto& th : threads) th.join();
  // Within one millisecond the next id is the last draw plus one: distinct too.
  EXPECT_EQ(parts.size(), made);
  EXPECT_EQ(parts.count(std::string(16, '0')), 0u);
}

TEST(Ids, FormatTime) {
  EXPECT_EQ(formatTimeMs(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(formatTimeMs(1795568592123), "2026-11-25T01:03:12.123Z");
}

TEST(Digest, Sha256KnownVector) {
  EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// Found by the config_env fuzz target (AION_INTERNAL_TLS_KEY=/): libstdc++
// opens a directory, then throws from the read; readFile must not throw.
TEST(Digest, ReadFileOfADirectoryIsNothing) {
  testing::TempDir dir;
  auto f = dir.write("f.txt", "bytes");
  EXPECT_EQ(readFile(f), "bytes");
  EXPECT_EQ(readFile(dir.path()), std::nullopt);
  EXPECT_EQ(readFile(dir.path() / "missing"), std::nullopt);
}

TEST(Error, CodesMapToStatuses) {
  struct Case {
    ErrorCode code;
    int status;
    const char* name;
  } cases[] = {{ErrorCode::kInvalidRequest, 400, "invalid_request"},
               {ErrorCode::kUnauthenticated, 401, "unauthenticated"},
               {ErrorCode::kForbidden, 403, "forbidden"},
               {ErrorCode::kNotFound, 404, "not_found"},
               {ErrorCode::kConflict, 409, "conflict"},
               {ErrorCode::kPayloadTooLarge, 413, "payload_too_large"},
               {ErrorCode::kHeadersTooLarge, 431, "headers_too_large"},
               {ErrorCode::kUnknownIntent, 422, "unknown_intent"},
               {ErrorCode::kInvalidParams, 422, "invalid_params"},
               {ErrorCode::kNoRoute, 422, "no_route"},
               {ErrorCode::kRateLimited, 429, "rate_limited"},
               {ErrorCode::kUnavailable, 503, "unavailable"},
               {ErrorCode::kInternal, 500, "internal"}};
  for (auto& c : cases) {
    EXPECT_EQ(httpStatus(c.code), c.status) << c.name;
    EXPECT_EQ(errorCodeName(c.code), c.name);
  }
  auto j = toJson(Error(ErrorCode::kNotFound, "gone", {{"id", "x"}}));
  EXPECT_EQ(j.at("code"), "not_found");
  EXPECT_EQ(j.at("message"), "gone");
  EXPECT_EQ(j.at("details").at("id"), "x");
}

}  // namespace aion
