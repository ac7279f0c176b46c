#pragma once
#include <memory>
#include <string>

#include "store/document_store.h"

typedef struct _mongoc_client_pool_t mongoc_client_pool_t;
typedef struct _mongoc_uri_t mongoc_uri_t;

namespace aion::store {

//! The DocumentStore on MongoDB (libmongoc; AION_CONTROL_MONGO_DSN), tested
//! against FerretDB. Collections `task_documents` ({_id: "<task>/<name>",
//! taskId, name, json}) and `task_events` ({_id: "<task>/<seq>", taskId,
//! seq, type, ts, data}; index {taskId, seq}) in the DSN's database (default
//! `aion`). Values are JSON text in a string field (document_store.h says
//! why). A pooled client (mongoc_client_pool_t): each call takes a client
//! for its duration, so calls from several threads run at once. Every call
//! has a deadline: serverSelectionTimeoutMS, connectTimeoutMS and
//! socketTimeoutMS from the DSN, else 5000, 5000 and 10000 ms.
class MongoDocumentStore final : public DocumentStore {
 public:
  //! Parses the DSN (kInvalidRequest: malformed), connects and pings
  //! (kUnavailable: unreachable), and creates the events index.
  static Result<std::unique_ptr<MongoDocumentStore>> open(const std::string& dsn);
  ~MongoDocumentStore() override;

  std::string_view engine() const override { return "mongodb"; }
  Status put(const std::vector<TaskDocument>& docs) override;
  Result<std::optional<std::string>> get(const std::string& taskId,
                                         const std::string& name) override;
  Status appendEvents(const std::vector<Event>& events) override;
  Result<std::vector<Event>> events(const std::string& taskId, int64_t afterSeq,
                                    int limit) override;
  Status remove(const std::string& taskId) override;
  Status ping() override;
  //! The database the collections are in.
  const std::string& database() const { return db_; }

 private:
  MongoDocumentStore() = default;

  mongoc_uri_t* uri_ = nullptr;
  mongoc_client_pool_t* pool_ = nullptr;
  std::string db_;
};

}  // namespace aion::store
