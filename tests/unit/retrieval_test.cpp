// Document parsing, chunking and embedding output checks of retrieval
// (control/retrieval.h): the parts that need no index or module.
#include "control/retrieval.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace aion::control {
namespace {
namespace json = boost::json;

json::object body(json::array docs) {
  return json::object{{"documents", std::move(docs)}};
}

ErrorCode codeOf(const json::object& b, DocumentLimits limits = {}) {
  auto r = parseDocuments(b, limits);
  EXPECT_FALSE(r);
  return r ? ErrorCode::kInternal : r.error().code;
}

TEST(Retrieval, CollectionNames) {
  EXPECT_TRUE(checkCollectionName("docs"));
  EXPECT_TRUE(checkCollectionName("a_b-9"));
  for (std::string bad :
       std::vector<std::string>{"", "Docs", "-x", "a/b", "..", "a b", std::string(65, 'a'), "é"})
    EXPECT_FALSE(checkCollectionName(bad)) << bad;
}

TEST(Retrieval, ParsesDocuments) {
  auto r =
      parseDocuments(body({json::object{{"id", "a"}, {"text", "hello"}, {"metadata", {{"k", 1}}}},
                           json::object{{"id", "b/c.md"}, {"text", "world"}}}),
                     {});
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].metadata.at("k").as_int64(), 1);
  EXPECT_EQ((*r)[1].id, "b/c.md");
}

TEST(Retrieval, RefusesBadDocumentsWithTheRightStatus) {
  EXPECT_EQ(codeOf(json::object{}), ErrorCode::kInvalidRequest);
  EXPECT_EQ(codeOf(body({})), ErrorCode::kInvalidRequest);
  EXPECT_EQ(codeOf(json::object{{"documents", json::array{}}, {"x", 1}}),
            ErrorCode::kInvalidRequest);
  EXPECT_EQ(codeOf(body({1})), ErrorCode::kInvalidRequest);
  EXPECT_EQ(codeOf(body({json::object{{"text", "t"}}})), ErrorCode::kInvalidRequest);
  EXPECT_EQ(codeOf(body({json::object{{"id", "a"}}})), ErrorCode::kInvalidRequest);
  EXPECT_EQ(codeOf(body({json::object{{"id", "../x"}, {"text", "t"}}})),
            ErrorCode::kInvalidRequest);
  EXPECT_EQ(codeOf(body({json::object{{"id", "a"}, {"text", 5}}})), ErrorCode::kInvalidRequest);
  EXPECT_EQ(codeOf(body({json::object{{"id", "a"}, {"text", "t"}, {"metadata", "m"}}})),
            ErrorCode::kInvalidRequest);
  EXPECT_EQ(codeOf(body({json::object{{"id", "a"}, {"text", "t"}, {"extra", 1}}})),
            ErrorCode::kInvalidRequest);
  EXPECT_EQ(codeOf(body({json::object{{"id", "a"}, {"text", std::string("a\0b", 3)}}})),
            ErrorCode::kInvalidRequest);
  EXPECT_EQ(codeOf(body({json::object{{"id", "a"}, {"text", "  \n "}}})),
            ErrorCode::kInvalidParams);
  EXPECT_EQ(codeOf(body({json::object{{"id", "a"}, {"text", "x"}},
                         json::object{{"id", "a"}, {"text", "y"}}})),
            ErrorCode::kInvalidParams);
  DocumentLimits small{.maxDocuments = 1, .maxTextBytes = 4, .maxMetadataBytes = 10};
  EXPECT_EQ(codeOf(body({json::object{{"id", "a"}, {"text", "x"}},
                         json::object{{"id", "b"}, {"text", "y"}}}),
                   small),
            ErrorCode::kPayloadTooLarge);
  EXPECT_EQ(codeOf(body({json::object{{"id", "a"}, {"text", "12345"}}}), small),
            ErrorCode::kPayloadTooLarge);
  EXPECT_EQ(
      codeOf(body({json::object{{"id", "a"}, {"text", "x"}, {"metadata", {{"k", "0123456789"}}}}}),
             small),
      ErrorCode::kPayloadTooLarge);
}

TEST(Retrieval, ChunksAtWhitespaceWithinTheLimit) {
  std::string text;
  for (int i = 0; i < 300; ++i) text += "word" + std::to_string(i) + " ";
  auto pieces = chunkText(text, 100);
  ASSERT_GT(pieces.size(), 10u);
  std::string joined;
  for (auto& p : pieces) {
    EXPECT_LE(p.size(), 100u);
    EXPECT_FALSE(p.empty());
    EXPECT_NE(p.front(), ' ');
    EXPECT_NE(p.back(), ' ');
    joined += p + " ";
  }
  EXPECT_EQ(joined, text);  // nothing lost, no word split
  EXPECT_EQ(chunkText("short", 100), std::vector<std::string>{"short"});
  EXPECT_TRUE(chunkText("   ", 100).empty());
}

TEST(Retrieval, NeverSplitsAUtf8Sequence) {
  std::string text;
  for (int i = 0; i < 100; ++i) text += "é";  // 2 bytes each, no whitespace
  for (auto& p : chunkText(text, 9)) {
    EXPECT_LE(p.size(), 9u);
    EXPECT_EQ(p.size() % 2, 0u) << p;
  }
}

TEST(Retrieval, EmbeddingsOutputIsChecked) {
  auto ok = embeddingsOf(json::parse(R"({"embeddings":[[1,0],[0.5,0.5]]})"), 2);
  ASSERT_TRUE(ok);
  EXPECT_EQ((*ok)[1][0], 0.5f);
  EXPECT_FALSE(embeddingsOf(json::parse(R"({"embeddings":[[1,0]]})"), 2));
  EXPECT_FALSE(embeddingsOf(json::parse(R"({"embeddings":[[1,0],[1]]})"), 2));
  EXPECT_FALSE(embeddingsOf(json::parse(R"({"embeddings":[["x"]]})"), 1));
  EXPECT_FALSE(embeddingsOf(json::parse(R"({"vectors":[]})"), 0));
}

}  // namespace
}  // namespace aion::control
