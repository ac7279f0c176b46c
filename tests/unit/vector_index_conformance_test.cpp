// The VectorIndex contract (src/vector/vector_index.h), one suite run against
// every implementation (STYLE.md §3): the in-process index always, the Qdrant
// client when AION_TEST_QDRANT_URL names a server (tests/e2e/test_retrieve.py
// starts the loopback stand-in, tests/e2e/qdrant_standin.py: no Qdrant server
// can be installed on these machines). Each test uses tenants of its own and
// deletes their collections after.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <cstdlib>
#include <random>

#include "temp_dir.h"
#include "vector/memory_index.h"
#include "vector/qdrant_index.h"

namespace aion::vector {
namespace {
namespace asio = boost::asio;
namespace json = boost::json;

const char* qdrantUrl() {
  const char* u = std::getenv("AION_TEST_QDRANT_URL");
  return u && *u ? u : nullptr;
}

//! Runs `a` to its end on `io`, single-threaded (as aiond's I/O loops are).
template <typename T>
T runOn(asio::io_context& io, asio::awaitable<T> a) {
  auto f = asio::co_spawn(io, std::move(a), asio::use_future);
  io.restart();
  io.run();
  return f.get();
}

//! Chunk `chunk` of document `doc`, with metadata naming both.
Point makePoint(const std::string& doc, int chunk, std::vector<float> v,
                const std::string& text = "") {
  Point p;
  p.docId = doc;
  p.chunk = chunk;
  p.id = pointId(doc, chunk);
  p.vector = std::move(v);
  p.text = text.empty() ? doc + "#" + std::to_string(chunk) : text;
  p.metadata = json::object{{"source", doc}, {"n", chunk}};
  return p;
}

struct MemoryBackend {
  static std::string unavailable() { return {}; }
  asio::thread_pool cpu{2};
  std::unique_ptr<VectorIndex> make() { return std::make_unique<MemoryIndex>(cpu.get_executor()); }
};

//! The in-process index as aiond runs it: every change logged to a folder.
struct PersistedBackend {
  static std::string unavailable() { return {}; }
  asio::thread_pool cpu{2};
  testing::TempDir dir;
  std::unique_ptr<VectorIndex> make() {
    auto m = MemoryIndex::open(cpu.get_executor(), {.dir = dir.path() / "vectors"});
    EXPECT_TRUE(m);
    return std::move(*m);
  }
};

struct QdrantBackend {
  static std::string unavailable() {
    return qdrantUrl() ? std::string()
                       : "AION_TEST_QDRANT_URL not set: tests/e2e/test_retrieve.py runs this suite "
                         "against the Qdrant stand-in";
  }
  std::unique_ptr<VectorIndex> make() {
    auto url = providers::parseUrl(qdrantUrl());
    EXPECT_TRUE(url);
    const char* key = std::getenv("AION_TEST_QDRANT_API_KEY");
    return std::make_unique<QdrantIndex>(
        QdrantIndex::Options{.url = *url, .apiKey = key ? key : ""});
  }
};

template <typename Backend>
class VectorIndexConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = Backend::unavailable(); !why.empty()) GTEST_SKIP() << why;
    index = backend.make();
    std::random_device rd;
    std::string run = std::to_string(rd());
    tenantA = "acme-" + run;
    tenantB = "globex-" + run;
  }
  void TearDown() override {
    if (!index) return;
    for (auto& t : {tenantA, tenantB}) {
      auto cs = run(index->listCollections(t));
      if (cs)
        for (auto& c : *cs) run(index->deleteCollection(t, c.name));
    }
    index.reset();
  }
  template <typename T>
  T run(asio::awaitable<T> a) {
    return runOn(io, std::move(a));
  }
  static Point point(const std::string& doc, int chunk, std::vector<float> v,
                     const std::string& text = "") {
    return makePoint(doc, chunk, std::move(v), text);
  }
  uint64_t count(const std::string& tenant, const std::string& name) {
    auto cs = run(index->listCollections(tenant));
    EXPECT_TRUE(cs);
    for (auto& c : *cs)
      if (c.name == name) return c.points;
    return 0;
  }

  asio::io_context io{1};
  Backend backend;
  std::unique_ptr<VectorIndex> index;
  std::string tenantA, tenantB;
};

struct BackendNames {
  template <typename B>
  static std::string GetName(int) {
    if (std::is_same_v<B, MemoryBackend>) return "InProcess";
    return std::is_same_v<B, PersistedBackend> ? "InProcessPersisted" : "Qdrant";
  }
};
using Backends = ::testing::Types<MemoryBackend, PersistedBackend, QdrantBackend>;
TYPED_TEST_SUITE(VectorIndexConformance, Backends, BackendNames);

TYPED_TEST(VectorIndexConformance, ProbeAnswers) {
  auto st = this->run(this->index->probe());
  EXPECT_TRUE(st) << st.error().message;
}

TYPED_TEST(VectorIndexConformance, EnsureCreatesOnceAndListsWithDimension) {
  ASSERT_TRUE(this->run(this->index->ensureCollection(this->tenantA, "docs", 3)));
  ASSERT_TRUE(this->run(this->index->ensureCollection(this->tenantA, "docs", 3)));  // idempotent
  auto cs = this->run(this->index->listCollections(this->tenantA));
  ASSERT_TRUE(cs) << cs.error().message;
  ASSERT_EQ(cs->size(), 1u);
  EXPECT_EQ((*cs)[0].name, "docs");
  EXPECT_EQ((*cs)[0].dim, 3);
  EXPECT_EQ((*cs)[0].points, 0u);
}

TYPED_TEST(VectorIndexConformance, EnsureWithAnotherDimensionIsAConflict) {
  ASSERT_TRUE(this->run(this->index->ensureCollection(this->tenantA, "docs", 3)));
  auto st = this->run(this->index->ensureCollection(this->tenantA, "docs", 4));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kConflict);
}

TYPED_TEST(VectorIndexConformance, SearchRanksByCosineBestFirst) {
  auto& t = this->tenantA;
  ASSERT_TRUE(this->run(this->index->ensureCollection(t, "docs", 3)));
  std::vector<Point> ps{this->point("x", 0, {1, 0, 0}), this->point("y", 0, {0, 1, 0}),
                        this->point("xy", 0, {1, 1, 0}), this->point("z", 0, {0, 0, 5})};
  auto up = this->run(this->index->upsert(t, "docs", std::move(ps)));
  ASSERT_TRUE(up) << up.error().message;
  // Scale does not matter for cosine.
  auto hits = this->run(this->index->search(t, "docs", {10, 1, 0}, 3));
  ASSERT_TRUE(hits) << hits.error().message;
  ASSERT_EQ(hits->size(), 3u);
  EXPECT_EQ((*hits)[0].point.docId, "x");
  EXPECT_EQ((*hits)[1].point.docId, "xy");
  EXPECT_EQ((*hits)[2].point.docId, "y");
  double n = std::sqrt(101.0);
  EXPECT_NEAR((*hits)[0].score, 10 / n, 1e-5);
  EXPECT_NEAR((*hits)[1].score, 11 / (n * std::sqrt(2.0)), 1e-5);
  EXPECT_NEAR((*hits)[2].score, 1 / n, 1e-5);
  EXPECT_GE((*hits)[0].score, (*hits)[1].score);
}

TYPED_TEST(VectorIndexConformance, PayloadRoundTrips) {
  auto& t = this->tenantA;
  ASSERT_TRUE(this->run(this->index->ensureCollection(t, "docs", 2)));
  auto p = this->point("manual/intro.md", 7, {0.6f, 0.8f}, "héllo wörld, \"quoted\"");
  p.metadata = json::object{{"lang", "de"}, {"tags", json::array{"a", "b"}}, {"v", 2}};
  std::string id = p.id;
  ASSERT_TRUE(this->run(this->index->upsert(t, "docs", {p})));
  auto hits = this->run(this->index->search(t, "docs", {0.6f, 0.8f}, 5));
  ASSERT_TRUE(hits);
  ASSERT_EQ(hits->size(), 1u);
  const auto& m = (*hits)[0];
  EXPECT_EQ(m.point.id, id);
  EXPECT_EQ(m.point.docId, "manual/intro.md");
  EXPECT_EQ(m.point.chunk, 7);
  EXPECT_EQ(m.point.text, "héllo wörld, \"quoted\"");
  EXPECT_EQ(json::value(m.point.metadata), json::value(p.metadata));
  EXPECT_TRUE(m.point.vector.empty());
  EXPECT_NEAR(m.score, 1.0, 1e-5);
}

TYPED_TEST(VectorIndexConformance, UpsertReplacesThePointWithTheSameId) {
  auto& t = this->tenantA;
  ASSERT_TRUE(this->run(this->index->ensureCollection(t, "docs", 2)));
  ASSERT_TRUE(this->run(this->index->upsert(t, "docs", {this->point("d", 0, {1, 0}, "old")})));
  ASSERT_TRUE(this->run(this->index->upsert(t, "docs", {this->point("d", 0, {1, 0}, "new")})));
  EXPECT_EQ(this->count(t, "docs"), 1u);
  auto hits = this->run(this->index->search(t, "docs", {1, 0}, 5));
  ASSERT_TRUE(hits);
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].point.text, "new");
}

TYPED_TEST(VectorIndexConformance, WrongDimensionIsRefusedAndNothingIsWritten) {
  auto& t = this->tenantA;
  ASSERT_TRUE(this->run(this->index->ensureCollection(t, "docs", 3)));
  std::vector<Point> ps{this->point("good", 0, {1, 0, 0}), this->point("bad", 0, {1, 0})};
  auto up = this->run(this->index->upsert(t, "docs", std::move(ps)));
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(this->count(t, "docs"), 0u);
  auto hits = this->run(this->index->search(t, "docs", {1, 0}, 5));
  ASSERT_FALSE(hits);
  EXPECT_EQ(hits.error().code, ErrorCode::kInvalidRequest);
}

TYPED_TEST(VectorIndexConformance, MissingCollectionIsNotFound) {
  auto& t = this->tenantA;
  auto hits = this->run(this->index->search(t, "nope", {1, 0}, 5));
  ASSERT_FALSE(hits);
  EXPECT_EQ(hits.error().code, ErrorCode::kNotFound);
  EXPECT_NE(hits.error().message.find("'nope'"), std::string::npos) << hits.error().message;
  auto up = this->run(this->index->upsert(t, "nope", {this->point("d", 0, {1, 0})}));
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().code, ErrorCode::kNotFound);
  auto del = this->run(this->index->deleteDocuments(t, "nope", {"d"}));
  ASSERT_FALSE(del);
  EXPECT_EQ(del.error().code, ErrorCode::kNotFound);
  auto gone = this->run(this->index->deleteCollection(t, "nope"));
  ASSERT_TRUE(gone);
  EXPECT_FALSE(*gone);
}

TYPED_TEST(VectorIndexConformance, DeleteDocumentsRemovesEveryChunkOfThem) {
  auto& t = this->tenantA;
  ASSERT_TRUE(this->run(this->index->ensureCollection(t, "docs", 2)));
  std::vector<Point> ps{this->point("a", 0, {1, 0}), this->point("a", 1, {1, 0.1f}),
                        this->point("b", 0, {0, 1}), this->point("c", 0, {1, 1})};
  ASSERT_TRUE(this->run(this->index->upsert(t, "docs", std::move(ps))));
  ASSERT_TRUE(this->run(this->index->deleteDocuments(t, "docs", {"a", "c", "unknown"})));
  auto hits = this->run(this->index->search(t, "docs", {1, 0}, 10));
  ASSERT_TRUE(hits);
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].point.docId, "b");
}

TYPED_TEST(VectorIndexConformance, TenantsNeverSeeEachOther) {
  auto& a = this->tenantA;
  auto& b = this->tenantB;
  ASSERT_TRUE(this->run(this->index->ensureCollection(a, "docs", 2)));
  ASSERT_TRUE(this->run(this->index->upsert(a, "docs", {this->point("secret", 0, {1, 0})})));
  // The same name in another tenant is another collection: absent until made.
  auto hits = this->run(this->index->search(b, "docs", {1, 0}, 5));
  ASSERT_FALSE(hits);
  EXPECT_EQ(hits.error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(this->run(this->index->ensureCollection(b, "docs", 3)));  // its own dimension
  ASSERT_TRUE(this->run(this->index->upsert(b, "docs", {this->point("public", 0, {1, 0, 0})})));
  auto hb = this->run(this->index->search(b, "docs", {1, 0, 0}, 5));
  ASSERT_TRUE(hb);
  ASSERT_EQ(hb->size(), 1u);
  EXPECT_EQ((*hb)[0].point.docId, "public");
  auto la = this->run(this->index->listCollections(a));
  ASSERT_TRUE(la);
  ASSERT_EQ(la->size(), 1u);
  EXPECT_EQ((*la)[0].dim, 2);
  // Deleting B's leaves A's.
  auto gone = this->run(this->index->deleteCollection(b, "docs"));
  ASSERT_TRUE(gone && *gone);
  auto ha = this->run(this->index->search(a, "docs", {1, 0}, 5));
  ASSERT_TRUE(ha);
  ASSERT_EQ(ha->size(), 1u);
  EXPECT_EQ((*ha)[0].point.docId, "secret");
}

TYPED_TEST(VectorIndexConformance, DeleteCollectionRemovesItAndItsPoints) {
  auto& t = this->tenantA;
  ASSERT_TRUE(this->run(this->index->ensureCollection(t, "docs", 2)));
  ASSERT_TRUE(this->run(this->index->upsert(t, "docs", {this->point("d", 0, {1, 0})})));
  auto gone = this->run(this->index->deleteCollection(t, "docs"));
  ASSERT_TRUE(gone && *gone);
  auto cs = this->run(this->index->listCollections(t));
  ASSERT_TRUE(cs);
  EXPECT_TRUE(cs->empty());
  ASSERT_TRUE(this->run(this->index->ensureCollection(t, "docs", 2)));  // made anew, empty
  EXPECT_EQ(this->count(t, "docs"), 0u);
}

TYPED_TEST(VectorIndexConformance, LimitCapsTheMatches) {
  auto& t = this->tenantA;
  ASSERT_TRUE(this->run(this->index->ensureCollection(t, "docs", 2)));
  std::vector<Point> ps;
  for (int i = 0; i < 20; ++i)
    ps.push_back(this->point("d" + std::to_string(i), 0, {1, static_cast<float>(i)}));
  ASSERT_TRUE(this->run(this->index->upsert(t, "docs", std::move(ps))));
  auto hits = this->run(this->index->search(t, "docs", {1, 0}, 4));
  ASSERT_TRUE(hits);
  ASSERT_EQ(hits->size(), 4u);
  EXPECT_EQ((*hits)[0].point.docId, "d0");
  EXPECT_EQ((*hits)[1].point.docId, "d1");
}

// ---- not part of the typed contract --------------------------------------

//! The persisted in-process index reopened from its folder holds what it held.
class MemoryIndexPersistence : public ::testing::Test {
 protected:
  template <typename T>
  T run(asio::awaitable<T> a) {
    return runOn(io, std::move(a));
  }
  std::unique_ptr<MemoryIndex> open() {
    auto m = MemoryIndex::open(cpu.get_executor(), {.dir = dir.path() / "vectors"});
    EXPECT_TRUE(m) << m.error().message;
    return m ? std::move(*m) : nullptr;
  }
  static Point point(const std::string& doc, int chunk, std::vector<float> v) {
    return makePoint(doc, chunk, std::move(v));
  }
  asio::io_context io{1};
  asio::thread_pool cpu{2};
  testing::TempDir dir;
};

TEST_F(MemoryIndexPersistence, ReopenedIndexHoldsWhatWasWrittenAndNothingDeleted) {
  {
    auto a = open();
    ASSERT_TRUE(run(a->ensureCollection("acme", "docs", 2)));
    ASSERT_TRUE(run(a->ensureCollection("acme", "gone", 2)));
    ASSERT_TRUE(run(a->ensureCollection("glo-bex", "docs-2", 3)));
    ASSERT_TRUE(run(a->upsert(
        "acme", "docs", {point("a", 0, {1, 0}), point("a", 1, {1, 1}), point("b", 0, {0, 1})})));
    ASSERT_TRUE(run(a->upsert("acme", "docs", {point("b", 0, {0.5f, 1})})));  // replaced
    ASSERT_TRUE(run(a->deleteDocuments("acme", "docs", {"a"})));
    ASSERT_TRUE(run(a->upsert("glo-bex", "docs-2", {point("g", 0, {0, 0, 1})})));
    auto gone = run(a->deleteCollection("acme", "gone"));
    ASSERT_TRUE(gone && *gone);
  }
  for (int round = 0; round < 2; ++round) {  // the second open reads the compacted files
    auto b = open();
    auto cs = run(b->listCollections("acme"));
    ASSERT_TRUE(cs);
    ASSERT_EQ(cs->size(), 1u);
    EXPECT_EQ((*cs)[0].name, "docs");
    EXPECT_EQ((*cs)[0].points, 1u);
    auto hits = run(b->search("acme", "docs", {0.5f, 1}, 5));
    ASSERT_TRUE(hits);
    ASSERT_EQ(hits->size(), 1u);
    EXPECT_EQ((*hits)[0].point.docId, "b");
    EXPECT_NEAR((*hits)[0].score, 1.0, 1e-5);
    EXPECT_EQ(json::value((*hits)[0].point.metadata),
              json::value(json::object{{"source", "b"}, {"n", 0}}));
    auto g = run(b->listCollections("glo-bex"));
    ASSERT_TRUE(g);
    ASSERT_EQ(g->size(), 1u);
    EXPECT_EQ((*g)[0].name, "docs-2");
    EXPECT_EQ((*g)[0].dim, 3);
  }
}

TEST_F(MemoryIndexPersistence, ATornLastRecordKeepsWhatCameBefore) {
  {
    auto a = open();
    ASSERT_TRUE(run(a->ensureCollection("t", "docs", 2)));
    ASSERT_TRUE(run(a->upsert("t", "docs", {point("a", 0, {1, 0})})));
  }
  auto file = dir.path() / "vectors" / (hexOf("t") + "-docs.jsonl");
  ASSERT_TRUE(std::filesystem::exists(file));
  std::ofstream(file, std::ios::app) << R"({"op":"upsert","points":[{"id":"x)";  // cut mid-write
  {
    auto b = open();
    auto hits = run(b->search("t", "docs", {1, 0}, 5));
    ASSERT_TRUE(hits);
    ASSERT_EQ(hits->size(), 1u);
    EXPECT_EQ((*hits)[0].point.docId, "a");
    // Written after the repair: not lost behind the torn line.
    ASSERT_TRUE(run(b->upsert("t", "docs", {point("b", 0, {0, 1})})));
  }
  auto c = open();
  auto hits = run(c->search("t", "docs", {1, 0}, 5));
  ASSERT_TRUE(hits);
  EXPECT_EQ(hits->size(), 2u);
}

TEST(Hex, RoundTrips) {
  EXPECT_EQ(hexOf("a-b"), "612d62");
  EXPECT_EQ(unhex("612d62"), "a-b");
  EXPECT_FALSE(unhex("6"));
  EXPECT_FALSE(unhex("zz"));
}

TEST(PointId, IsAStableVersion5UuidPerDocumentAndChunk) {
  auto a = pointId("doc", 0);
  EXPECT_EQ(a, pointId("doc", 0));
  EXPECT_NE(a, pointId("doc", 1));
  EXPECT_NE(pointId("a1", 0), pointId("a", 10));
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[8], '-');
  EXPECT_EQ(a[14], '5');
  EXPECT_NE(std::string("89ab").find(a[19]), std::string::npos);
}

TEST(QdrantIndex, UnreachableServerIsUnavailable) {
  // A port nothing listens on: connect is refused at once.
  auto url = providers::parseUrl("http://127.0.0.1:1");
  ASSERT_TRUE(url);
  QdrantIndex q(QdrantIndex::Options{.url = *url});
  asio::io_context io(1);
  auto f = asio::co_spawn(io, q.probe(), asio::use_future);
  io.run();
  auto st = f.get();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(st.error().message.find("qdrant at http://127.0.0.1:1"), std::string::npos)
      << st.error().message;
}

TEST(QdrantIndex, CollectionNamesAreNamespacedByTenant) {
  EXPECT_EQ(QdrantIndex::prefixOf("acme"), "aion-61636d65-");
  EXPECT_NE(QdrantIndex::prefixOf("a-b"), QdrantIndex::prefixOf("a"));
}

}  // namespace
}  // namespace aion::vector
