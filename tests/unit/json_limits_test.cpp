// The depth limit every client-facing JSON parser shares (REST and control
// bodies, OpenAI, WebSocket messages, gRPC params): http::parseJsonText.
#include <gtest/gtest.h>

#include <string>

#include "http/handler_util.h"

namespace aion::http {
namespace {

std::string nested(int depth, char open = '[', char close = ']') {
  return std::string(depth, open) + std::string(depth, close);
}

TEST(JsonLimits, SixtyFourLevelsParseSixtyFiveDoNot) {
  auto ok = parseJsonText(nested(kMaxJsonDepth), "request body");
  ASSERT_TRUE(ok) << ok.error().message;
  auto over = parseJsonText(nested(kMaxJsonDepth + 1), "request body");
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(over.error().message, "request body is nested deeper than 64 levels");
}

TEST(JsonLimits, TenThousandLevelsAreRefusedWithoutRecursing) {
  for (auto [open, close] : {std::pair{'[', ']'}, std::pair{'{', '}'}}) {
    std::string deep;
    if (open == '[') {
      deep = nested(10000);
    } else {
      for (int i = 0; i < 10000; ++i) deep += "{\"a\":";
      deep += "1" + std::string(10000, '}');
    }
    auto r = parseJsonText(deep, "message");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "message is nested deeper than 64 levels");
  }
  // Unclosed: the parser stops at the limit, not at the end of the input.
  auto r = parseJsonText(std::string(1 << 20, '['), "params");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "params is nested deeper than 64 levels");
}

TEST(JsonLimits, OtherErrorsSayMalformed) {
  auto r = parseJsonText("{\"a\":", "request body");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.rfind("malformed JSON: ", 0), 0u) << r.error().message;
}

}  // namespace
}  // namespace aion::http
