#pragma once
// Retrieval over the vector index (docs/retrieval.md): documents are split
// into chunks, embedded by the policy's embedding module (run through the
// module host on the bounded module pool, like any module call) and stored
// in the tenant's collection; a `retrieve` task (intents.yml vectors.mode:
// search) answers with the nearest chunks; a chat task with params.context
// gets them before its prompt (vectors.mode: context).
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/principal.h"
#include "control/collections.h"
#include "control/policy_store.h"
#include "modhost/module_host.h"
#include "store/task.h"
#include "vector/vector_index.h"

namespace aion::control {

class Retrieval {
 public:
  struct Deps {
    vector::VectorIndex& index;
    modhost::ModuleHost& modules;
    boost::asio::any_io_executor moduleExec;  // the bounded module pool
    const PolicyStore& policies;
  };
  Retrieval(Deps deps, DocumentLimits limits) : d_(deps), limits_(limits) {}

  vector::VectorIndex& index() { return d_.index; }
  const DocumentLimits& limits() const { return limits_; }

  //! Chunks, embeds and upserts `docs` into the tenant's collection (made
  //! when missing); a document indexed again replaces its earlier chunks.
  //! Embedding happens before anything is written.
  boost::asio::awaitable<Result<IndexedDocuments>> addDocuments(std::string tenant,
                                                                std::string collection,
                                                                std::vector<Document> docs);
  //! The tenant's collections.
  boost::asio::awaitable<Result<CollectionList>> collections(std::string tenant);
  //! Deletes the tenant's collection: kNotFound when it does not exist.
  boost::asio::awaitable<Status> dropCollection(std::string tenant, std::string collection);

  //! The module input of a search task: {"input": [params.query]}.
  static std::string searchInput(const boost::json::value& params);
  //! A search task's result from its embedding module's output: the
  //! nearest chunks of params.collection. A missing collection is
  //! kInvalidParams (no other route would find it).
  boost::asio::awaitable<Result<boost::json::value>> answerSearch(store::Task task,
                                                                  boost::json::value embedded);

  struct Context {
    boost::json::value params;  // the task's params with the context before the prompt
    boost::json::object used;   // {collection, query, matches:[{docId, chunk, score}]}
  };
  //! For a task of a context intent with params.context: retrieves and
  //! returns the params to run with; nullopt when the task asks for none.
  boost::asio::awaitable<Result<std::optional<Context>>> withContext(
      store::Task task, int timeoutMs, const std::atomic<bool>* cancel);

  //! Embeds `texts` with `module`; one vector per text. kModuleFailed when
  //! the output is not {"embeddings": [[numbers]...]} of equal lengths.
  boost::asio::awaitable<Result<std::vector<std::vector<float>>>> embed(
      std::string module, std::vector<std::string> texts, int timeoutMs,
      const std::atomic<bool>* cancel);

 private:
  //! Which collection and how many matches a task asks for.
  struct Target {
    std::string collection;
    int topK = 5;
    std::string field;  // where the collection was named, for errors
  };
  //! {collection, top_k?} of `spec`, named `field` in errors (kInvalidParams).
  static Result<Target> targetOf(const boost::json::object& spec, const std::string& field);
  //! The search; a missing collection or a wrong dimension is the task's
  //! kInvalidParams (no other route would do better).
  boost::asio::awaitable<Result<std::vector<vector::Match>>> nearest(std::string tenant,
                                                                     Target target,
                                                                     std::vector<float> query);

  Deps d_;
  DocumentLimits limits_;
  std::atomic<int> indexing_{0};
};

//! {"embeddings": [[...]]} of a module's output as vectors.
Result<std::vector<std::vector<float>>> embeddingsOf(const boost::json::value& out, size_t expect);

}  // namespace aion::control
