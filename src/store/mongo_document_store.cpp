#include "store/mongo_document_store.h"

#include <mongoc/mongoc.h>
#include <spdlog/spdlog.h>

#include <boost/json/parse.hpp>
#include <mutex>

#include "common/json_text.h"

namespace aion::store {
namespace {

constexpr const char* kDocuments = "task_documents";
constexpr const char* kEvents = "task_events";

//! A BSON document on the stack, destroyed with its scope.
struct Bson {
  bson_t b;
  Bson() { bson_init(&b); }
  ~Bson() { bson_destroy(&b); }
  Bson(const Bson&) = delete;
  Bson& operator=(const Bson&) = delete;
  bson_t* operator&() { return &b; }
  Bson& str(const char* k, std::string_view v) {
    bson_append_utf8(&b, k, -1, v.data(), static_cast<int>(v.size()));
    return *this;
  }
  Bson& i64(const char* k, int64_t v) {
    bson_append_int64(&b, k, -1, v);
    return *this;
  }
};

std::unexpected<Error> mongoError(std::string_view what, const bson_error_t& e) {
  return fail(ErrorCode::kUnavailable,
              "MongoDB (AION_CONTROL_MONGO_DSN): " + std::string(what) + ": " + e.message);
}

//! A client taken from the pool for the scope of one call.
class Lease {
 public:
  explicit Lease(mongoc_client_pool_t* p) : pool_(p), c_(mongoc_client_pool_pop(p)) {}
  ~Lease() { mongoc_client_pool_push(pool_, c_); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  mongoc_client_t* client() const { return c_; }

 private:
  mongoc_client_pool_t* pool_;
  mongoc_client_t* c_;
};

//! One collection of a leased client.
class Coll {
 public:
  Coll(const Lease& l, const std::string& db, const char* name)
      : c_(mongoc_client_get_collection(l.client(), db.c_str(), name)) {}
  ~Coll() { mongoc_collection_destroy(c_); }
  Coll(const Coll&) = delete;
  Coll& operator=(const Coll&) = delete;
  mongoc_collection_t* get() const { return c_; }

 private:
  mongoc_collection_t* c_;
};

std::string docId(std::string_view taskId, std::string_view name) {
  return std::string(taskId) + "/" + std::string(name);
}

//! Upserts each (id, document) of `docs` into `coll` in one ordered bulk write.
Status upsertAll(const Coll& coll, std::vector<std::pair<std::string, Bson>>& docs,
                 std::string_view what) {
  if (docs.empty()) return {};
  auto* bulk = mongoc_collection_create_bulk_operation_with_opts(coll.get(), nullptr);
  Bson opts;
  bson_append_bool(&opts, "upsert", -1, true);
  bson_error_t err;
  Status st;
  for (auto& [id, d] : docs) {
    Bson sel;
    sel.str("_id", id);
    if (!mongoc_bulk_operation_replace_one_with_opts(bulk, &sel, &d, &opts, &err)) {
      st = mongoError(what, err);
      break;
    }
  }
  if (st) {
    Bson reply;
    if (!mongoc_bulk_operation_execute(bulk, &reply, &err)) st = mongoError(what, err);
  }
  mongoc_bulk_operation_destroy(bulk);
  return st;
}

//! The string field `key` of `doc`, or nullopt.
std::optional<std::string> stringField(const bson_t* doc, const char* key) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_UTF8(&it)) return std::nullopt;
  uint32_t len = 0;
  const char* s = bson_iter_utf8(&it, &len);
  return std::string(s, len);
}

int64_t intField(const bson_t* doc, const char* key) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, key)) return 0;
  return bson_iter_as_int64(&it);
}

//! Sets a timeout option unless the DSN gives one.
void defaultTimeout(mongoc_uri_t* uri, const char* option, int32_t ms) {
  if (mongoc_uri_get_option_as_int32(uri, option, 0) <= 0)
    mongoc_uri_set_option_as_int32(uri, option, ms);
}

//! libmongoc's own log lines, into aiond's log (JSON when AION_LOG_FORMAT=json).
void logToSpdlog(mongoc_log_level_t level, const char* domain, const char* message, void*) {
  auto to = level <= MONGOC_LOG_LEVEL_CRITICAL  ? spdlog::level::err
            : level == MONGOC_LOG_LEVEL_WARNING ? spdlog::level::warn
            : level <= MONGOC_LOG_LEVEL_INFO    ? spdlog::level::info
                                                : spdlog::level::trace;
  spdlog::log(to, "mongoc {}: {}", domain, message);
}

}  // namespace

Result<std::unique_ptr<MongoDocumentStore>> MongoDocumentStore::open(const std::string& dsn) {
  static std::once_flag once;
  std::call_once(once, [] {
    mongoc_log_set_handler(logToSpdlog, nullptr);
    mongoc_init();
  });
  std::unique_ptr<MongoDocumentStore> s(new MongoDocumentStore());
  bson_error_t err;
  s->uri_ = mongoc_uri_new_with_error(dsn.c_str(), &err);
  if (!s->uri_)
    return fail(ErrorCode::kInvalidRequest,
                std::string("not a MongoDB connection string (mongodb://host[:port][/db]): ") +
                    err.message);
  defaultTimeout(s->uri_, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 5000);
  defaultTimeout(s->uri_, MONGOC_URI_CONNECTTIMEOUTMS, 5000);
  defaultTimeout(s->uri_, MONGOC_URI_SOCKETTIMEOUTMS, 10000);
  const char* db = mongoc_uri_get_database(s->uri_);
  s->db_ = db && *db ? db : "aion";
  s->pool_ = mongoc_client_pool_new_with_error(s->uri_, &err);
  if (!s->pool_)
    return fail(ErrorCode::kInvalidRequest, std::string("cannot use it: ") + err.message);
  mongoc_client_pool_set_error_api(s->pool_, MONGOC_ERROR_API_VERSION_2);
  mongoc_client_pool_set_appname(s->pool_, "aiond");
  if (auto st = s->ping(); !st) return std::unexpected(st.error());
  // The events' replay query: by task, in seq order.
  Lease l(s->pool_);
  Bson cmd, indexes, index, key;
  cmd.str("createIndexes", kEvents);
  bson_append_array_begin(&cmd, "indexes", -1, &indexes);
  bson_append_document_begin(&indexes, "0", -1, &index);
  bson_append_document_begin(&index, "key", -1, &key);
  bson_append_int32(&key, "taskId", -1, 1);
  bson_append_int32(&key, "seq", -1, 1);
  bson_append_document_end(&index, &key);
  bson_append_utf8(&index, "name", -1, "taskId_seq", -1);
  bson_append_document_end(&indexes, &index);
  bson_append_array_end(&cmd, &indexes);
  Bson reply;
  if (!mongoc_client_write_command_with_opts(l.client(), s->db_.c_str(), &cmd, nullptr, &reply,
                                             &err))
    return mongoError("createIndexes " + std::string(kEvents), err);
  return s;
}

MongoDocumentStore::~MongoDocumentStore() {
  if (pool_) mongoc_client_pool_destroy(pool_);
  if (uri_) mongoc_uri_destroy(uri_);
}

Status MongoDocumentStore::ping() {
  Lease l(pool_);
  Bson cmd, reply;
  bson_append_int32(&cmd, "ping", -1, 1);
  bson_error_t err;
  if (!mongoc_client_command_simple(l.client(), db_.c_str(), &cmd, nullptr, &reply, &err))
    return mongoError("ping", err);
  return {};
}

Status MongoDocumentStore::put(const std::vector<TaskDocument>& docs) {
  for (auto& d : docs)
    if (auto st = checkDocumentSize(d.taskId, d.name, d.json.size()); !st) return st;
  std::vector<std::pair<std::string, Bson>> out(docs.size());
  for (size_t i = 0; i < docs.size(); ++i) {
    auto& d = docs[i];
    out[i].first = docId(d.taskId, d.name);
    out[i]
        .second.str("_id", out[i].first)
        .str("taskId", d.taskId)
        .str("name", d.name)
        .str("json", d.json);
  }
  Lease l(pool_);
  return upsertAll(Coll(l, db_, kDocuments), out, "put task documents");
}

Result<std::optional<std::string>> MongoDocumentStore::get(const std::string& taskId,
                                                           const std::string& name) {
  Lease l(pool_);
  Coll coll(l, db_, kDocuments);
  Bson filter, opts;
  filter.str("_id", docId(taskId, name));
  opts.i64("limit", 1);
  auto* cur = mongoc_collection_find_with_opts(coll.get(), &filter, &opts, nullptr);
  const bson_t* doc = nullptr;
  std::optional<std::string> out;
  bool found = mongoc_cursor_next(cur, &doc);
  if (found) out = stringField(doc, "json");
  bson_error_t err;
  bool failed = mongoc_cursor_error(cur, &err);
  mongoc_cursor_destroy(cur);
  if (failed) return mongoError("get task document", err);
  if (found && !out)
    return fail(ErrorCode::kInternal, "MongoDB: document " + docId(taskId, name) + " has no json");
  return out;
}

Status MongoDocumentStore::appendEvents(const std::vector<Event>& events) {
  std::vector<std::pair<std::string, Bson>> out(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    auto& e = events[i];
    auto data = jsonText(e.data);
    if (auto st = checkDocumentSize(e.taskId, "event " + std::to_string(e.seq), data.size()); !st)
      return st;
    out[i].first = docId(e.taskId, std::to_string(e.seq));
    out[i]
        .second.str("_id", out[i].first)
        .str("taskId", e.taskId)
        .i64("seq", e.seq)
        .str("type", e.type)
        .i64("ts", e.tsMs)
        .str("data", data);
  }
  Lease l(pool_);
  return upsertAll(Coll(l, db_, kEvents), out, "append task events");
}

Result<std::vector<Event>> MongoDocumentStore::events(const std::string& taskId, int64_t afterSeq,
                                                      int limit) {
  Lease l(pool_);
  Coll coll(l, db_, kEvents);
  Bson filter, gt, opts, sort;
  filter.str("taskId", taskId);
  bson_append_document_begin(&filter, "seq", -1, &gt);
  bson_append_int64(&gt, "$gt", -1, afterSeq);
  bson_append_document_end(&filter, &gt);
  bson_append_document_begin(&opts, "sort", -1, &sort);
  bson_append_int32(&sort, "seq", -1, 1);
  bson_append_document_end(&opts, &sort);
  opts.i64("limit", limit);
  auto* cur = mongoc_collection_find_with_opts(coll.get(), &filter, &opts, nullptr);
  std::vector<Event> out;
  const bson_t* doc = nullptr;
  Status parsed;
  while (parsed && mongoc_cursor_next(cur, &doc)) {
    auto data = stringField(doc, "data");
    boost::system::error_code ec;
    auto v = data ? boost::json::parse(*data, ec) : boost::json::value();
    if (!data || ec) {
      parsed = fail(ErrorCode::kInternal, "MongoDB: an event of " + taskId + " has no JSON data");
      break;
    }
    out.push_back(Event{taskId, intField(doc, "seq"), stringField(doc, "type").value_or(""),
                        intField(doc, "ts"), std::move(v)});
  }
  bson_error_t err;
  bool failed = mongoc_cursor_error(cur, &err);
  mongoc_cursor_destroy(cur);
  if (failed) return mongoError("read task events", err);
  if (!parsed) return std::unexpected(parsed.error());
  return out;
}

Status MongoDocumentStore::remove(const std::string& taskId) {
  Lease l(pool_);
  for (const char* name : {kDocuments, kEvents}) {
    Coll coll(l, db_, name);
    Bson sel;
    sel.str("taskId", taskId);
    bson_error_t err;
    if (!mongoc_collection_delete_many(coll.get(), &sel, nullptr, nullptr, &err))
      return mongoError(std::string("remove from ") + name, err);
  }
  return {};
}

}  // namespace aion::store
