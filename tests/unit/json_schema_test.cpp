#include "policy/json_schema.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace aion::policy {
namespace {
namespace json = boost::json;

std::vector<std::string> check(const char* schema, const char* value) {
  return JsonSchema(json::parse(schema)).validate(json::parse(value));
}

TEST(JsonSchema, TypesRequiredAndClosedObjects) {
  const char* s = R"({"type":"object","required":["text"],"additionalProperties":false,
                      "properties":{"text":{"type":"string"},"n":{"type":"integer"}}})";
  EXPECT_TRUE(check(s, R"({"text":"x","n":3})").empty());
  EXPECT_EQ(check(s, R"({"n":3})"), std::vector<std::string>{"params.text: is required"});
  EXPECT_EQ(check(s, R"({"text":5})"),
            std::vector<std::string>{"params.text: expected string, got number"});
  EXPECT_EQ(check(s, R"({"text":"x","extra":1})"),
            std::vector<std::string>{"params.extra: is not an allowed property"});
  EXPECT_EQ(check(s, R"([])"), std::vector<std::string>{"params: expected object, got array"});
}

TEST(JsonSchema, IntegerVersusNumber) {
  const char* s = R"({"type":"integer"})";
  EXPECT_TRUE(check(s, "3").empty());
  EXPECT_TRUE(check(s, "3.0").empty());
  EXPECT_FALSE(check(s, "3.5").empty());
  EXPECT_TRUE(check(R"({"type":"number"})", "3.5").empty());
  EXPECT_TRUE(check(R"({"type":["string","null"]})", "null").empty());
}

TEST(JsonSchema, LengthsCountCodePoints) {
  const char* s = R"({"type":"string","minLength":3,"maxLength":3})";
  EXPECT_TRUE(check(s, R"("ééé")").empty());
  EXPECT_TRUE(check(s, R"("日本語")").empty());
  EXPECT_EQ(check(s, R"("ab")"), std::vector<std::string>{"params: shorter than minLength 3"});
  EXPECT_EQ(check(s, R"("abcd")"), std::vector<std::string>{"params: longer than maxLength 3"});
}

TEST(JsonSchema, EnumRangesItemsAndNestedPaths) {
  const char* s = R"({"type":"object","properties":{
      "mode":{"enum":["a","b"]},
      "k":{"type":"integer","minimum":1,"maximum":5},
      "tags":{"type":"array","minItems":1,"maxItems":2,"items":{"type":"string"}},
      "a":{"type":"object","properties":{"b":{"type":"boolean"}}}}})";
  EXPECT_TRUE(check(s, R"({"mode":"a","k":5,"tags":["x"],"a":{"b":true}})").empty());
  EXPECT_EQ(check(s, R"({"mode":"c"})"),
            std::vector<std::string>{"params.mode: must be one of [\"a\",\"b\"]"});
  EXPECT_EQ(check(s, R"({"k":0})"), std::vector<std::string>{"params.k: less than minimum 1"});
  EXPECT_EQ(check(s, R"({"k":6})"), std::vector<std::string>{"params.k: greater than maximum 5"});
  EXPECT_EQ(check(s, R"({"tags":[]})"),
            std::vector<std::string>{"params.tags: fewer than minItems 1"});
  EXPECT_EQ(check(s, R"({"tags":["x",2,"z"]})"),
            (std::vector<std::string>{"params.tags: more than maxItems 2",
                                      "params.tags[1]: expected string, got number"}));
  EXPECT_EQ(check(s, R"({"a":{"b":1}})"),
            std::vector<std::string>{"params.a.b: expected boolean, got number"});
}

TEST(JsonSchema, ErrorCountIsBounded) {
  json::object props;
  json::array required;
  for (int i = 0; i < 100; ++i) required.push_back(json::string("f" + std::to_string(i)));
  JsonSchema s(json::object{{"type", "object"}, {"required", required}});
  EXPECT_EQ(s.validate(json::object{}, 20).size(), 20u);
}

TEST(JsonSchema, EmptySchemaAcceptsAnything) {
  EXPECT_TRUE(JsonSchema().validate(json::parse(R"({"any":[1,2,{"x":null}]})")).empty());
}

TEST(JsonSchema, CheckRejectsUnsupportedOrMalformedKeywords) {
  EXPECT_TRUE(
      JsonSchema::check(json::parse(R"({"type":"object","properties":{"a":{"type":"string"}}})"))
          .empty());
  auto e = JsonSchema::check(
      json::parse(R"({"type":"thing","pattern":"x","required":"a","minLength":-1})"));
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(JsonSchema::check(json::parse("5")),
            std::vector<std::string>{"params_schema: must be a mapping"});
  auto nested = JsonSchema::check(json::parse(R"({"properties":{"a":{"oneOf":[]}}})"), "s");
  EXPECT_EQ(nested, std::vector<std::string>{"s.properties.a.oneOf: unsupported schema keyword"});
}

}  // namespace
}  // namespace aion::policy
