#include "vector/metered_index.h"

#include <chrono>

namespace aion::vector {
namespace asio = boost::asio;

template <typename R>
asio::awaitable<R> MeteredIndex::timed(const char* op, asio::awaitable<R> call) {
  auto began = std::chrono::steady_clock::now();
  R r = co_await std::move(call);
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - began;
  std::string outcome = r ? std::string("ok") : std::string(errorCodeName(r.error().code));
  metrics_.vectorCall(engine_, op, outcome, took.count());
  co_return r;
}

asio::awaitable<Status> MeteredIndex::probe() {
  return timed("probe", inner_->probe());
}

asio::awaitable<Status> MeteredIndex::ensureCollection(std::string tenant, std::string name,
                                                       int dim) {
  return timed("ensure_collection",
               inner_->ensureCollection(std::move(tenant), std::move(name), dim));
}

asio::awaitable<Status> MeteredIndex::upsert(std::string tenant, std::string name,
                                             std::vector<Point> points) {
  return timed("upsert", inner_->upsert(std::move(tenant), std::move(name), std::move(points)));
}

asio::awaitable<Status> MeteredIndex::deleteDocuments(std::string tenant, std::string name,
                                                      std::vector<std::string> docIds) {
  return timed("delete_documents",
               inner_->deleteDocuments(std::move(tenant), std::move(name), std::move(docIds)));
}

VectorIndex::Async<std::vector<Match>> MeteredIndex::search(std::string tenant, std::string name,
                                                            std::vector<float> query, int limit) {
  return timed("search",
               inner_->search(std::move(tenant), std::move(name), std::move(query), limit));
}

VectorIndex::Async<bool> MeteredIndex::deleteCollection(std::string tenant, std::string name) {
  return timed("delete_collection", inner_->deleteCollection(std::move(tenant), std::move(name)));
}

VectorIndex::Async<std::vector<CollectionInfo>> MeteredIndex::listCollections(std::string tenant) {
  return timed("list_collections", inner_->listCollections(std::move(tenant)));
}

}  // namespace aion::vector
