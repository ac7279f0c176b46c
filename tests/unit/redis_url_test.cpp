#include <gtest/gtest.h>

#include "redis/redis_client.h"

namespace aion::redis {

TEST(RedisUrl, Parses) {
  auto u = parseUrl("redis://:s3cret@cache.local:6380/2");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->host, "cache.local");
  EXPECT_EQ(u->port, 6380);
  EXPECT_EQ(u->password, "s3cret");
  EXPECT_EQ(u->db, 2);
  auto d = parseUrl("redis://localhost");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->port, 6379);
  EXPECT_EQ(d->db, 0);
  EXPECT_EQ(parseUrl("redis://user:pw@h:1")->password, "pw");
}

TEST(RedisUrl, RejectsBadInput) {
  for (auto* bad :
       {"http://h", "redis://", "redis://h:0", "redis://h:99999", "redis://h:x", "redis://h/db"}) {
    EXPECT_FALSE(parseUrl(bad)) << bad;
  }
}

TEST(RedisClient, UnreachableServerIsUnavailableNotACrash) {
  RedisUrl url;
  url.port = 1;  // nothing listens there
  RedisClient c(url, 2, std::chrono::milliseconds(200));
  auto r = c.command({"PING"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
}

}  // namespace aion::redis
