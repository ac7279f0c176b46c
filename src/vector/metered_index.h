#pragma once
// A VectorIndex that counts and times every call of the one it wraps:
// aion_vector_requests_total{engine,op,outcome} and
// aion_vector_request_duration_seconds{engine,op}. Adds nothing else.
#include <memory>

#include "telemetry/metrics.h"
#include "vector/vector_index.h"

namespace aion::vector {

class MeteredIndex final : public VectorIndex {
 public:
  MeteredIndex(std::unique_ptr<VectorIndex> inner, telemetry::Metrics& metrics)
      : inner_(std::move(inner)), metrics_(metrics), engine_(inner_->engine()) {}

  std::string engine() const override { return engine_; }
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

 private:
  //! Awaits `call`, then records it as `op`.
  template <typename R>
  boost::asio::awaitable<R> timed(const char* op, boost::asio::awaitable<R> call);

  std::unique_ptr<VectorIndex> inner_;
  telemetry::Metrics& metrics_;
  std::string engine_;
};

}  // namespace aion::vector
