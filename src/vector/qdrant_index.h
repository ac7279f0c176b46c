#pragma once
// The vector index in Qdrant, over its REST API (AION_CONTROL_QDRANT_URL,
// optional AION_CONTROL_QDRANT_API_KEY sent as the `api-key` header), on the
// project's async HttpClient: coroutines on the caller's event loop, pooled
// keep-alive connections, deadlines, no thread blocked on the network.
//
// A tenant's collection NAME is the Qdrant collection
// "aion-<hex of the tenant>-NAME" (unambiguous, and within Qdrant's name
// charset); points carry the tenant in their payload too. Tested against a
// loopback stand-in speaking Qdrant's REST API (tests/e2e/qdrant_standin.py):
// no Qdrant server can be installed on the machines this was built on.
#include <memory>

#include "providers/http_client.h"
#include "vector/vector_index.h"

namespace aion::vector {

class QdrantIndex final : public VectorIndex {
 public:
  struct Options {
    providers::Url url{};
    std::string apiKey{};  // empty: no api-key header
    providers::Timeouts timeouts{std::chrono::milliseconds(2000), std::chrono::milliseconds(10000),
                                 std::chrono::milliseconds(30000)};
    size_t batch = 256;  // points per upsert request
  };
  explicit QdrantIndex(Options opts);

  std::string engine() const override { return "qdrant"; }
  boost::asio::awaitable<Status> probe() override;
  boost::asio::awaitable<Status> ensureCollection(std::string tenant, std::string name,
                                                  int dim) override;
  boost::asio::awaitable<Status> upsert(std::string tenant, std::string name,
                                        std::vector<Point> points) override;
  boost::asio::awaitable<Status> deleteDocuments(std::string tenant, std::string name,
                                                 std::vector<std::string> docIds) override;
  Async<std::vector<Match>> search(std::string tenant, std::string name, std::vector<float> query,
                                   int limit) override;
  Async<bool> deleteCollection(std::string tenant, std::string name) override;
  Async<std::vector<CollectionInfo>> listCollections(std::string tenant) override;

  //! "aion-<hex of tenant>-": the prefix of every collection of `tenant`.
  static std::string prefixOf(const std::string& tenant);

 private:
  //! One REST call; the response's `result` on 2xx. `name` (the tenant's
  //! name of the collection) makes a 404 read "collection 'name' does not
  //! exist". Errors: kNotFound (404), kInvalidRequest (400, 422: Qdrant's
  //! message), kConflict (409), kUnavailable (other statuses, network).
  Async<boost::json::value> call(const char* method, std::string target, std::string body,
                                 const std::string& name);
  //! The collection's vector size, from GET /collections/{c}.
  Async<int> dimOf(const std::string& collection, const std::string& name);

  Options opts_;
  std::unique_ptr<providers::HttpClient> http_;
};

}  // namespace aion::vector
