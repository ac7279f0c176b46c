#pragma once
// The embedded default vector index: collections in this process's memory,
// searched by brute force (exact cosine). With Options::dir, every change is
// also appended to a log file there (vector/collection_log.h) before it is
// applied, and open() reloads them: aiond keeps them in AION_DATA_DIR/vectors
// across restarts. Thread-safe. Every call runs on `cpu` (a bounded pool),
// never on the calling event loop, which therefore never waits for a lock
// a long search holds.
#include <boost/asio/any_io_executor.hpp>
#include <map>
#include <shared_mutex>

#include "vector/collection_log.h"
#include "vector/vector_index.h"

namespace aion::vector {

class MemoryIndex final : public VectorIndex {
 public:
  struct Options {
    size_t maxPointsPerCollection = 200000;
    size_t maxCollectionsPerTenant = 1000;
    std::filesystem::path dir{};  // empty: in memory only
  };
  MemoryIndex(boost::asio::any_io_executor cpu, Options opts);
  explicit MemoryIndex(boost::asio::any_io_executor cpu) : MemoryIndex(std::move(cpu), Options{}) {}
  //! An index over `opts.dir`, with what the folder holds loaded.
  //! kUnavailable when it cannot be created, read or compacted.
  static Result<std::unique_ptr<MemoryIndex>> open(boost::asio::any_io_executor cpu, Options opts);

  std::string engine() const override { return "in-process"; }
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
  struct Collection {
    int dim = 0;
    std::map<std::string, Point> points;  // by id
  };
  using Key = std::pair<std::string, std::string>;  // tenant, name
  Status ensureNow(const std::string& tenant, const std::string& name, int dim);
  Status upsertNow(const Key& key, std::vector<Point> points);
  Result<std::vector<Match>> searchNow(const Key& key, const std::vector<float>& query,
                                       int limit) const;

  boost::asio::any_io_executor cpu_;
  Options opts_;
  mutable std::shared_mutex mu_;
  std::map<Key, std::shared_ptr<Collection>> collections_;
  std::optional<CollectionLog> log_;  // with Options::dir
};

}  // namespace aion::vector
