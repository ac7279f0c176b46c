// The DocumentStore contract (src/store/document_store.h), one suite run
// against every implementation (STYLE.md §3): the embedded SQLite store
// always, MongoDB when AION_TEST_MONGO_DSN names a server
// (tests/e2e/test_mongo.py starts FerretDB on loopback and runs this binary
// with it: no MongoDB server is packaged on these machines). Then the same
// for DocumentTaskStore, the task store that keeps documents apart, over
// each document store. Every test uses task ids of its own run and removes
// them after.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <future>
#include <random>
#include <thread>

#include "common/ids.h"
#include "common/json_text.h"
#include "store/document_task_store.h"
#include "store/mongo_document_store.h"
#include "store/sqlite_document_store.h"
#include "store/sqlite_store.h"
#include "temp_dir.h"

namespace aion::store {
namespace {
namespace json = boost::json;

const char* mongoDsn() {
  const char* d = std::getenv("AION_TEST_MONGO_DSN");
  return d && *d ? d : nullptr;
}

struct SqliteBackend {
  static std::string unavailable() { return {}; }
  testing::TempDir dir;
  std::unique_ptr<DocumentStore> make() {
    auto s = SqliteDocumentStore::open(dir.path() / "documents.db");
    EXPECT_TRUE(s) << s.error().message;
    return std::move(*s);
  }
};

struct MongoBackend {
  static std::string unavailable() {
    return mongoDsn() ? std::string()
                      : "AION_TEST_MONGO_DSN not set: tests/e2e/test_mongo.py runs this suite "
                        "against a FerretDB it starts (scripts/test.sh does)";
  }
  std::unique_ptr<DocumentStore> make() {
    auto s = MongoDocumentStore::open(mongoDsn());
    EXPECT_TRUE(s) << s.error().message;
    return s ? std::unique_ptr<DocumentStore>(std::move(*s)) : nullptr;
  }
};

struct BackendNames {
  template <typename B>
  static std::string GetName(int) {
    return std::is_same_v<B, SqliteBackend> ? "Sqlite" : "MongoDB";
  }
};
using Backends = ::testing::Types<SqliteBackend, MongoBackend>;

//! A task id no other run uses.
std::string freshId(const char* what) {
  static std::random_device rd;
  return std::string("tsk_") + what + "_" + std::to_string(rd()) + std::to_string(rd());
}

// Values that a BSON round trip or a MongoDB server would change or refuse:
// "$"- and "."-keys, extended-JSON look-alikes, integers past 2^53 and
// uint64, doubles, escapes, non-ASCII text.
const char* kAwkward =
    R"({"$set":{"a.b":1},"$date":"2020-01-01","n":9007199254740993,"u":18446744073709551615,)"
    R"("d":0.1,"neg":-0.0,"s":"\u0000 quote \" tab\t é 中文 😀","nested":[[],{},null,true]})";

template <typename Backend>
class DocumentStoreConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = Backend::unavailable(); !why.empty()) GTEST_SKIP() << why;
    store = backend.make();
    ASSERT_TRUE(store);
  }
  void TearDown() override {
    if (!store) return;
    for (auto& id : used) EXPECT_TRUE(store->remove(id));
  }
  std::string task(const char* what) { return used.emplace_back(freshId(what)); }
  std::string text(const std::string& taskId, const std::string& name) {
    auto r = store->get(taskId, name);
    EXPECT_TRUE(r) << r.error().message;
    return r && *r ? **r : "<none>";
  }
  static Event event(const std::string& taskId, int64_t seq, json::value data = json::object{}) {
    return Event{taskId, seq, "status", 1000 + seq, std::move(data)};
  }

  Backend backend;
  std::unique_ptr<DocumentStore> store;
  std::vector<std::string> used;
};
TYPED_TEST_SUITE(DocumentStoreConformance, Backends, BackendNames);

TYPED_TEST(DocumentStoreConformance, Pings) {
  EXPECT_TRUE(this->store->ping());
}

TYPED_TEST(DocumentStoreConformance, GivesBackExactlyTheTextItWasGiven) {
  auto id = this->task("exact");
  ASSERT_TRUE(this->store->put({{id, "params", kAwkward}, {id, "result", "[1,2.5,\"x\"]"}}));
  EXPECT_EQ(this->text(id, "params"), kAwkward);
  EXPECT_EQ(this->text(id, "result"), "[1,2.5,\"x\"]");
}

TYPED_TEST(DocumentStoreConformance, AMissingDocumentIsNoneNotAnError) {
  auto id = this->task("missing");
  auto r = this->store->get(id, "params");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(*r);
}

TYPED_TEST(DocumentStoreConformance, PutReplacesTheDocumentOfTheSameName) {
  auto id = this->task("replace");
  ASSERT_TRUE(this->store->put({{id, "result", "1"}}));
  ASSERT_TRUE(this->store->put({{id, "result", "2"}}));
  EXPECT_EQ(this->text(id, "result"), "2");
}

TYPED_TEST(DocumentStoreConformance, TasksAreApart) {
  auto a = this->task("a"), b = this->task("b");
  ASSERT_TRUE(this->store->put({{a, "params", "\"a\""}, {b, "params", "\"b\""}}));
  EXPECT_EQ(this->text(a, "params"), "\"a\"");
  EXPECT_EQ(this->text(b, "params"), "\"b\"");
  ASSERT_TRUE(this->store->remove(a));
  EXPECT_FALSE(*this->store->get(a, "params"));
  EXPECT_EQ(this->text(b, "params"), "\"b\"");
}

TYPED_TEST(DocumentStoreConformance, StoresAMegabyteDocument) {
  auto id = this->task("big");
  std::string big = "\"" + std::string(1 << 20, 'x') + "\"";
  ASSERT_TRUE(this->store->put({{id, "params", big}}));
  EXPECT_EQ(this->text(id, "params").size(), big.size());
}

TYPED_TEST(DocumentStoreConformance, StoresADocumentAtTheLimit) {
  auto id = this->task("limit");
  std::string big = "\"" + std::string(DocumentStore::kMaxDocumentBytes - 2, 'y') + "\"";
  auto st = this->store->put({{id, "result", big}});
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(this->text(id, "result"), big);
}

TYPED_TEST(DocumentStoreConformance, RefusesADocumentPastTheLimitAndStoresNoneOfThePut) {
  auto id = this->task("toolarge");
  std::string huge = "\"" + std::string(DocumentStore::kMaxDocumentBytes, 'z') + "\"";
  auto st = this->store->put({{id, "params", "{}"}, {id, "result", huge}});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kPayloadTooLarge);
  EXPECT_NE(st.error().message.find(id), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("16 MiB"), std::string::npos) << st.error().message;
  EXPECT_FALSE(*this->store->get(id, "params"));
  EXPECT_FALSE(*this->store->get(id, "result"));
  auto ev = this->store->appendEvents({this->event(id, 1, json::string(huge))});
  ASSERT_FALSE(ev);
  EXPECT_EQ(ev.error().code, ErrorCode::kPayloadTooLarge);
  EXPECT_TRUE(this->store->events(id, 0, 10)->empty());
}

TYPED_TEST(DocumentStoreConformance, EventsComeBackInSeqOrderAfterASeqAndUpToALimit) {
  auto id = this->task("events"), other = this->task("other");
  std::vector<Event> evs;
  for (int64_t seq : {3, 1, 5, 2, 4}) evs.push_back(this->event(id, seq, json::object{{"n", seq}}));
  evs.push_back(this->event(other, 1));
  ASSERT_TRUE(this->store->appendEvents(evs));
  auto all = this->store->events(id, 0, 100);
  ASSERT_TRUE(all) << all.error().message;
  ASSERT_EQ(all->size(), 5u);
  for (int64_t i = 0; i < 5; ++i) {
    EXPECT_EQ((*all)[i].seq, i + 1);
    EXPECT_EQ((*all)[i].taskId, id);
    EXPECT_EQ((*all)[i].type, "status");
    EXPECT_EQ((*all)[i].tsMs, 1001 + i);
    EXPECT_EQ((*all)[i].data, (json::object{{"n", i + 1}}));
  }
  auto page = this->store->events(id, 2, 2);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].seq, 3);
  EXPECT_EQ((*page)[1].seq, 4);
  EXPECT_TRUE(this->store->events(id, 5, 10)->empty());
}

TYPED_TEST(DocumentStoreConformance, AnEventStoredAgainReplacesItAndItsDataIsExact) {
  auto id = this->task("again");
  ASSERT_TRUE(this->store->appendEvents({this->event(id, 1, json::string("first"))}));
  auto awkward = json::parse(kAwkward);
  ASSERT_TRUE(this->store->appendEvents({this->event(id, 1, awkward)}));
  auto evs = this->store->events(id, 0, 10);
  ASSERT_TRUE(evs);
  ASSERT_EQ(evs->size(), 1u);
  EXPECT_EQ(jsonText(evs->front().data), jsonText(awkward));
}

TYPED_TEST(DocumentStoreConformance, ServesSeveralThreadsAtOnce) {
  std::vector<std::string> ids;
  for (int i = 0; i < 8; ++i) ids.push_back(this->task("threads"));
  std::vector<std::future<bool>> runs;
  for (auto& id : ids)
    runs.push_back(std::async(std::launch::async, [this, id] {
      bool ok = true;
      for (int i = 0; i < 10; ++i) {
        std::string v = std::to_string(i);
        ok = ok && this->store->put({{id, "result", v}}) &&
             this->store->appendEvents({this->event(id, i + 1)});
        auto got = this->store->get(id, "result");
        ok = ok && got && *got && **got == v;
      }
      return ok;
    }));
  for (auto& r : runs) EXPECT_TRUE(r.get());
  for (auto& id : ids) EXPECT_EQ(this->store->events(id, 0, 100)->size(), 10u);
}

// ---- DocumentTaskStore over each document store -------------------------------------------

template <typename Backend>
class DocumentTaskStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = Backend::unavailable(); !why.empty()) GTEST_SKIP() << why;
    auto docs = backend.make();
    ASSERT_TRUE(docs);
    raw = docs.get();
    auto rowStore = SqliteTaskStore::open(dir.path() / "aion.db");
    ASSERT_TRUE(rowStore) << rowStore.error().message;
    rows = rowStore->get();
    store = std::make_unique<DocumentTaskStore>(std::move(*rowStore), nullptr, std::move(docs),
                                                DocumentTaskStore::Options{.inlineMaxBytes = 64});
  }
  void TearDown() override {
    if (!raw) return;
    for (auto& id : used) EXPECT_TRUE(raw->remove(id));
  }
  //! Writes `w` and waits for its done: its status and the write given back.
  std::pair<Status, Write> write(Write w) {
    std::promise<std::pair<Status, Write>> p;
    store->write(std::move(w), [&p](const Status& st, Write& back) {
      p.set_value({st, std::move(back)});
    });
    return p.get_future().get();
  }
  Task newTask(json::value params) {
    Task t;
    t.id = used.emplace_back(freshId("dts"));
    t.tenant = "default";
    t.keyId = "k";
    t.intent = "summarize";
    t.params = std::move(params);
    t.createdMs = 1;
    return t;
  }

  Backend backend;
  testing::TempDir dir;
  DocumentStore* raw = nullptr;
  TaskStore* rows = nullptr;  // the wrapped row store
  std::unique_ptr<DocumentTaskStore> store;
  std::vector<std::string> used;
};
TYPED_TEST_SUITE(DocumentTaskStoreTest, Backends, BackendNames);

TYPED_TEST(DocumentTaskStoreTest, ALargeValueIsADocumentAndTheRowKeepsAReference) {
  auto big = json::parse(kAwkward);
  big.as_object()["text"] = std::string(1000, 'a');
  auto t = this->newTask(big);
  Event e{t.id, 1, "status", 5, json::object{{"status", "queued"}}};
  auto [st, back] = this->write(Write{.taskId = t.id, .create = t, .events = {e}});
  ASSERT_TRUE(st) << st.error().message;
  // What the writer gets back is what it wrote (it publishes those events).
  EXPECT_EQ(back.create->params, big);
  // The row holds the reference; the document store the value.
  auto row = this->rows->get(t.id);
  ASSERT_TRUE(row && *row);
  EXPECT_EQ((*row)->params, DocumentTaskStore::reference(t.id, "params"));
  EXPECT_EQ(**this->raw->get(t.id, "params"), jsonText(big));
  // A reader sees the value.
  auto got = this->store->get(t.id);
  ASSERT_TRUE(got && *got) << (got ? "" : got.error().message);
  EXPECT_EQ(jsonText((*got)->params), jsonText(big));
  // Every event is in the document store's history.
  EXPECT_EQ(this->raw->events(t.id, 0, 10)->size(), 1u);
}

TYPED_TEST(DocumentTaskStoreTest, SmallValuesStayInTheRow) {
  auto t = this->newTask(json::object{{"text", "hi"}});
  ASSERT_TRUE(this->write(Write{.taskId = t.id, .create = t}).first);
  EXPECT_EQ((*this->rows->get(t.id))->params, (json::object{{"text", "hi"}}));
  EXPECT_FALSE(*this->raw->get(t.id, "params"));
}

TYPED_TEST(DocumentTaskStoreTest, LargeResultsAndEventsReadBackWhole) {
  auto t = this->newTask(json::object{});
  ASSERT_TRUE(this->write(Write{.taskId = t.id, .create = t}).first);
  json::value result = json::object{{"summary", std::string(500, 's')}};
  std::vector<Event> evs{{t.id, 1, "status", 6, json::object{{"status", "running"}}},
                         {t.id, 2, "result", 7, result},
                         {t.id, 3, "done", 8, json::object{{"status", "succeeded"}}}};
  auto [st, back] =
      this->write(Write{.taskId = t.id,
                        .update = TaskUpdate{.status = TaskStatus::kSucceeded, .result = result},
                        .events = evs});
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(back.events[1].data, result);
  EXPECT_EQ((*this->rows->events(t.id, 0, 10))[1].data, DocumentTaskStore::eventReference(t.id, 2));
  auto got = this->store->get(t.id);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->result, result);
  auto replay = this->store->events(t.id, 1, 10);  // as after Last-Event-ID: 1
  ASSERT_TRUE(replay) << replay.error().message;
  ASSERT_EQ(replay->size(), 2u);
  EXPECT_EQ((*replay)[0].data, result);
  EXPECT_EQ((*replay)[1].type, "done");
  EXPECT_EQ(this->raw->events(t.id, 0, 10)->size(), 3u);
}

TYPED_TEST(DocumentTaskStoreTest, APurgedTaskTakesItsDocumentsAlong) {
  auto t = this->newTask(json::object{{"text", std::string(500, 'p')}});
  t.id = this->used.back() = taskIdsBefore(1000) + freshId("p");  // created long ago
  t.status = TaskStatus::kSucceeded;
  t.finishedMs = 2000;
  Event e{t.id, 1, "done", 5, json::object{{"big", std::string(500, 'e')}}};
  ASSERT_TRUE(this->write(Write{.taskId = t.id, .create = t, .events = {e}}).first);
  ASSERT_TRUE(*this->raw->get(t.id, "params"));
  auto gone = this->store->purgeFinished(nowMs(), 10);
  ASSERT_TRUE(gone) << gone.error().message;
  EXPECT_EQ(*gone, std::vector<std::string>{t.id});
  EXPECT_FALSE(*this->store->get(t.id));
  EXPECT_FALSE(*this->raw->get(t.id, "params"));
  EXPECT_TRUE(this->raw->events(t.id, 0, 10)->empty());
}

TYPED_TEST(DocumentTaskStoreTest, AValueThatOnlyLooksLikeAReferenceIsLeftAlone) {
  auto t = this->newTask(DocumentTaskStore::reference("tsk_someone_else", "params"));
  ASSERT_TRUE(this->write(Write{.taskId = t.id, .create = t}).first);
  EXPECT_EQ((*this->store->get(t.id))->params,
            DocumentTaskStore::reference("tsk_someone_else", "params"));
}

TYPED_TEST(DocumentTaskStoreTest, ATooLargeDocumentRefusesItsWriteAloneAndWritesNoRow) {
  auto t = this->newTask(json::string(std::string(DocumentStore::kMaxDocumentBytes, 'x')));
  auto ok = this->newTask(json::object{{"text", std::string(100, 'o')}});
  std::promise<Status> first;
  this->store->write(Write{.taskId = t.id, .create = t},
                     [&first](const Status& st, Write&) { first.set_value(st); });
  auto [st, back] = this->write(Write{.taskId = ok.id, .create = ok});
  auto refused = first.get_future().get();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kPayloadTooLarge);
  EXPECT_FALSE(*this->rows->get(t.id));
  EXPECT_TRUE(st) << st.error().message;
  EXPECT_TRUE(*this->store->get(ok.id));
}

//! A document store that is down.
class DownDocumentStore final : public DocumentStore {
 public:
  std::string_view engine() const override { return "down"; }
  Status put(const std::vector<TaskDocument>&) override { return down(); }
  Result<std::optional<std::string>> get(const std::string&, const std::string&) override {
    return down();
  }
  Status appendEvents(const std::vector<Event>&) override { return down(); }
  Result<std::vector<Event>> events(const std::string&, int64_t, int) override { return down(); }
  Status remove(const std::string&) override { return down(); }
  Status ping() override { return down(); }

 private:
  static std::unexpected<Error> down() { return fail(ErrorCode::kUnavailable, "down"); }
};

TEST(DocumentTaskStore, WhenTheDocumentStoreIsDownWritesFailVisiblyAndNoRowIsWritten) {
  testing::TempDir dir;
  auto rowStore = SqliteTaskStore::open(dir.path() / "aion.db");
  ASSERT_TRUE(rowStore);
  TaskStore* rows = rowStore->get();
  std::vector<std::string> calls;
  DocumentTaskStore store(std::move(*rowStore), nullptr, std::make_unique<DownDocumentStore>(),
                          {.onCall = [&calls](const char* op, const std::string& outcome, double) {
                            calls.push_back(std::string(op) + ":" + outcome);
                          }});
  Task t;
  t.id = "tsk_down";
  t.params = json::object{};
  std::promise<Status> done;
  store.write(Write{.taskId = t.id, .create = t, .events = {{t.id, 1, "status", 1, nullptr}}},
              [&done](const Status& st, Write&) { done.set_value(st); });
  auto st = done.get_future().get();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kUnavailable);
  EXPECT_FALSE(*rows->get(t.id));
  EXPECT_FALSE(store.ping());
  EXPECT_EQ(calls.front(), "append_events:unavailable");
}

}  // namespace
}  // namespace aion::store
