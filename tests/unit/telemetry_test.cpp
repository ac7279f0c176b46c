// W3C trace context parsing and the ids aionOS makes.
#include <gtest/gtest.h>

#include "telemetry/trace.h"

namespace aion::telemetry {
namespace {

TEST(Trace, ParsesTraceparentAndRefusesWhatTheSpecRefuses) {
  auto tp = parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(tp);
  EXPECT_EQ(tp->traceId, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(tp->parentId, "00f067aa0ba902b7");
  EXPECT_TRUE(tp->sampled);
  EXPECT_FALSE(
      parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")->sampled);
  // A later version may carry more fields after the flags.
  EXPECT_TRUE(parseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"));
  for (const char* bad :
       {"",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",       // no flags
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    // upper case
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // zero parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // version ff
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // 00 has no more fields
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",  // dashes misplaced
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bg-01"}) {
    EXPECT_FALSE(parseTraceparent(bad)) << bad;
  }
}

TEST(Trace, NewIdsAreValidAndDistinct) {
  auto a = newTraceId(), b = newTraceId();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  auto span = newSpanId();
  EXPECT_EQ(span.size(), 16u);
  auto header = traceparent(a, span);
  auto back = parseTraceparent(header);
  ASSERT_TRUE(back) << header;
  EXPECT_EQ(back->traceId, a);
  EXPECT_EQ(back->parentId, span);
  EXPECT_TRUE(back->sampled);
}

}  // namespace
}  // namespace aion::telemetry
