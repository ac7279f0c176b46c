#include "http/sse.h"

#include <gtest/gtest.h>

namespace aion::http {

TEST(Sse, SingleLineEvent) {
  EXPECT_EQ(sseEvent("3", "status", R"({"a":1})"), "id: 3\nevent: status\ndata: {\"a\":1}\n\n");
}

TEST(Sse, MultiLineDataBecomesSeveralDataFields) {
  EXPECT_EQ(sseEvent("", "", "a\nb\r\nc\rd"), "data: a\ndata: b\ndata: c\ndata: d\n\n");
  EXPECT_EQ(sseEvent("", "", "trailing\n"), "data: trailing\ndata: \n\n");
}

TEST(Sse, EmptyData) {
  EXPECT_EQ(sseEvent("", "", ""), "data: \n\n");
}

TEST(Sse, NewlinesCannotInjectFields) {
  EXPECT_EQ(sseEvent("1\nevent: evil", "x\r\ny", "d"), "id: 1event: evil\nevent: xy\ndata: d\n\n");
  EXPECT_EQ(sseComment("hb\n\nid: 9"), ": hbid: 9\n\n");
}

TEST(Sse, RetryField) {
  EXPECT_EQ(sseRetry(2000), "retry: 2000\n\n");
}

TEST(Sse, ParseLastEventId) {
  EXPECT_EQ(parseLastEventId("0"), 0);
  EXPECT_EQ(parseLastEventId("42"), 42);
  EXPECT_EQ(parseLastEventId(" 7 "), 7);
  EXPECT_FALSE(parseLastEventId(""));
  EXPECT_FALSE(parseLastEventId("-1"));
  EXPECT_FALSE(parseLastEventId("abc"));
  EXPECT_FALSE(parseLastEventId("12abc"));
  EXPECT_FALSE(parseLastEventId("99999999999999999999999"));
}

}  // namespace aion::http
