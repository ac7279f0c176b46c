#include "common/json_text.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cmath>

namespace aion {
namespace {
namespace json = boost::json;

TEST(JsonText, NumbersAsPeopleWriteThem) {
  EXPECT_EQ(jsonText(json::value(0.02)), "0.02");
  EXPECT_EQ(jsonText(json::value(20.0)), "20");
  EXPECT_EQ(jsonText(json::value(0.0)), "0");
  EXPECT_EQ(jsonText(json::value(-0.0)), "0");
  EXPECT_EQ(jsonText(json::value(1.5e-7)), "0.00000015");
  EXPECT_EQ(jsonText(json::value(2.85e-6)), "0.00000285");
  EXPECT_EQ(jsonText(json::value(1e-12)), "1e-12");  // beyond what anyone writes out
  EXPECT_EQ(jsonText(json::value(3e20)), "3e+20");
  EXPECT_EQ(jsonText(json::value(0.1 + 0.2)), "0.30000000000000004");  // round-trips
  EXPECT_EQ(jsonText(json::value(123456789012.5)), "123456789012.5");
  EXPECT_EQ(jsonText(json::value(std::nan(""))), "null");
  EXPECT_EQ(jsonText(json::value(int64_t{-3})), "-3");
  EXPECT_EQ(jsonText(json::value(uint64_t{18446744073709551615ULL})), "18446744073709551615");
  EXPECT_EQ(jsonText(json::parse(R"({"costUsd":2E-2,"n":[2E1,0E0]})")),
            R"({"costUsd":0.02,"n":[20,0]})");
}

TEST(JsonText, StringsEscapedLikeBoostJson) {
  json::value v = json::parse(R"({"a\"b":"line\nnext\ttab \\ \u0001 é"})");
  EXPECT_EQ(jsonText(v), json::serialize(v));
  EXPECT_EQ(json::parse(jsonText(v)), v);  // round trip
}

TEST(JsonText, CanonicalFormIgnoresKeyOrder) {
  auto a = json::parse(R"({"b":1,"a":{"y":[1,{"q":1,"p":2}],"x":0.5}})");
  auto b = json::parse(R"({ "a": {"x": 0.5, "y": [1, {"p": 2, "q": 1}]}, "b": 1 })");
  EXPECT_EQ(canonicalJsonText(a), canonicalJsonText(b));
  EXPECT_EQ(canonicalJsonText(a), R"({"a":{"x":0.5,"y":[1,{"p":2,"q":1}]},"b":1})");
  auto c = json::parse(R"({"a":{"x":0.5,"y":[{"p":2,"q":1},1]},"b":1})");  // array order matters
  EXPECT_NE(canonicalJsonText(a), canonicalJsonText(c));
}

}  // namespace
}  // namespace aion
