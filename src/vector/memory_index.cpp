#include "vector/memory_index.h"

#include <algorithm>
#include <cmath>
#include <mutex>

#include "common/async.h"

namespace aion::vector {
namespace asio = boost::asio;

namespace {

void normalize(std::vector<float>& v) {
  double sum = 0;
  for (float x : v) sum += static_cast<double>(x) * x;
  if (sum <= 0) return;  // a zero vector stays zero: it scores 0 against anything
  auto inv = static_cast<float>(1.0 / std::sqrt(sum));
  for (float& x : v) x *= inv;
}

Error noCollection(const std::string& name) {
  return Error(ErrorCode::kNotFound, "collection '" + name + "' does not exist");
}

Error wrongDim(size_t got, int dim) {
  return Error(ErrorCode::kInvalidRequest, "vector has " + std::to_string(got) +
                                               " dimensions; the collection has " +
                                               std::to_string(dim));
}

}  // namespace

MemoryIndex::MemoryIndex(asio::any_io_executor cpu, Options opts)
    : cpu_(std::move(cpu)), opts_(std::move(opts)) {
  if (!opts_.dir.empty()) log_.emplace(opts_.dir);
}

Result<std::unique_ptr<MemoryIndex>> MemoryIndex::open(asio::any_io_executor cpu, Options opts) {
  auto index = std::make_unique<MemoryIndex>(std::move(cpu), std::move(opts));
  if (!index->log_) return index;
  auto loaded = index->log_->loadAll();
  if (!loaded) return std::unexpected(loaded.error());
  for (auto& l : *loaded) {
    auto c = std::make_shared<Collection>();
    c->dim = l.dim;
    for (auto& p : l.points) {
      std::string id = p.id;
      c->points.insert_or_assign(std::move(id), std::move(p));
    }
    index->collections_.emplace(Key{l.tenant, l.name}, std::move(c));
  }
  return index;
}

asio::awaitable<Status> MemoryIndex::probe() {
  co_return Status{};
}

asio::awaitable<Status> MemoryIndex::ensureCollection(std::string tenant, std::string name,
                                                      int dim) {
  auto job = [this, tenant = std::move(tenant), name = std::move(name), dim] {
    return ensureNow(tenant, name, dim);
  };
  co_return co_await offload(cpu_, std::move(job));
}

Status MemoryIndex::ensureNow(const std::string& tenant, const std::string& name, int dim) {
  if (dim <= 0) return fail(ErrorCode::kInvalidRequest, "dimension must be positive");
  std::unique_lock lock(mu_);
  auto key = Key{tenant, name};
  if (auto it = collections_.find(key); it != collections_.end()) {
    if (it->second->dim != dim)
      return fail(ErrorCode::kConflict, "collection '" + name + "' holds " +
                                            std::to_string(it->second->dim) +
                                            "-dimensional vectors, not " + std::to_string(dim));
    return {};
  }
  size_t owned = 0;
  for (auto it = collections_.lower_bound(Key{tenant, ""});
       it != collections_.end() && it->first.first == tenant; ++it)
    ++owned;
  if (owned >= opts_.maxCollectionsPerTenant)
    return fail(ErrorCode::kPayloadTooLarge, "a tenant may have at most " +
                                                 std::to_string(opts_.maxCollectionsPerTenant) +
                                                 " collections in the in-process index");
  if (log_)
    if (auto st = log_->create(tenant, name, dim); !st) return st;
  auto c = std::make_shared<Collection>();
  c->dim = dim;
  collections_.emplace(std::move(key), std::move(c));
  return {};
}

asio::awaitable<Status> MemoryIndex::upsert(std::string tenant, std::string name,
                                            std::vector<Point> points) {
  auto job = [this, key = Key{std::move(tenant), std::move(name)},
              ps = std::move(points)]() mutable { return upsertNow(key, std::move(ps)); };
  co_return co_await offload(cpu_, std::move(job));
}

Status MemoryIndex::upsertNow(const Key& key, std::vector<Point> points) {
  const std::string& name = key.second;
  std::unique_lock lock(mu_);
  auto it = collections_.find(key);
  if (it == collections_.end()) return std::unexpected(noCollection(name));
  auto& c = *it->second;
  size_t added = 0;
  for (auto& p : points) {
    if (p.vector.size() != static_cast<size_t>(c.dim))
      return std::unexpected(wrongDim(p.vector.size(), c.dim));
    if (!c.points.count(p.id)) ++added;
  }
  if (c.points.size() + added > opts_.maxPointsPerCollection)
    return fail(ErrorCode::kPayloadTooLarge, "collection '" + name + "' would hold more than " +
                                                 std::to_string(opts_.maxPointsPerCollection) +
                                                 " chunks (the in-process index's limit)");
  for (auto& p : points) normalize(p.vector);
  if (log_)
    if (auto st = log_->upsert(key.first, key.second, points); !st) return st;
  for (auto& p : points) {
    std::string id = p.id;
    c.points.insert_or_assign(std::move(id), std::move(p));
  }
  return {};
}

asio::awaitable<Status> MemoryIndex::deleteDocuments(std::string tenant, std::string name,
                                                     std::vector<std::string> docIds) {
  auto job = [this, key = Key{std::move(tenant), std::move(name)},
              ids = std::move(docIds)]() mutable {
    std::unique_lock lock(mu_);
    auto it = collections_.find(key);
    if (it == collections_.end()) return Status(std::unexpected(noCollection(key.second)));
    if (log_)
      if (auto st = log_->removeDocuments(key.first, key.second, ids); !st) return st;
    std::sort(ids.begin(), ids.end());
    std::erase_if(it->second->points, [&](const auto& kv) {
      return std::binary_search(ids.begin(), ids.end(), kv.second.docId);
    });
    return Status{};
  };
  co_return co_await offload(cpu_, std::move(job));
}

Result<std::vector<Match>> MemoryIndex::searchNow(const Key& key, const std::vector<float>& query,
                                                  int limit) const {
  std::shared_lock lock(mu_);
  auto it = collections_.find(key);
  if (it == collections_.end()) return std::unexpected(noCollection(key.second));
  const auto& c = *it->second;
  if (query.size() != static_cast<size_t>(c.dim))
    return std::unexpected(wrongDim(query.size(), c.dim));
  std::vector<float> q = query;
  normalize(q);
  std::vector<std::pair<double, const Point*>> scored;
  scored.reserve(c.points.size());
  for (const auto& [id, p] : c.points) {
    double dot = 0;
    for (size_t i = 0; i < q.size(); ++i) dot += static_cast<double>(q[i]) * p.vector[i];
    scored.emplace_back(dot, &p);
  }
  size_t k = std::min(scored.size(), static_cast<size_t>(std::max(0, limit)));
  // Ties go to the smaller id, so results are deterministic.
  auto better = [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second->id < b.second->id;
  };
  std::partial_sort(scored.begin(), scored.begin() + static_cast<ptrdiff_t>(k), scored.end(),
                    better);
  std::vector<Match> out;
  out.reserve(k);
  for (size_t i = 0; i < k; ++i) {
    Match m;
    m.point = *scored[i].second;
    m.point.vector.clear();
    m.score = scored[i].first;
    out.push_back(std::move(m));
  }
  return out;
}

VectorIndex::Async<std::vector<Match>> MemoryIndex::search(std::string tenant, std::string name,
                                                           std::vector<float> query, int limit) {
  auto job = [this, key = Key{std::move(tenant), std::move(name)}, q = std::move(query), limit] {
    return searchNow(key, q, limit);
  };
  co_return co_await offload(cpu_, std::move(job));
}

VectorIndex::Async<bool> MemoryIndex::deleteCollection(std::string tenant, std::string name) {
  auto job = [this, key = Key{std::move(tenant), std::move(name)}] {
    std::unique_lock lock(mu_);
    if (!collections_.count(key)) return Result<bool>(false);
    if (log_)
      if (auto st = log_->drop(key.first, key.second); !st)
        return Result<bool>(std::unexpected(st.error()));
    collections_.erase(key);
    return Result<bool>(true);
  };
  co_return co_await offload(cpu_, std::move(job));
}

VectorIndex::Async<std::vector<CollectionInfo>> MemoryIndex::listCollections(std::string tenant) {
  auto job = [this, tenant = std::move(tenant)] {
    std::shared_lock lock(mu_);
    std::vector<CollectionInfo> out;
    for (auto it = collections_.lower_bound(Key{tenant, ""});
         it != collections_.end() && it->first.first == tenant; ++it)
      out.push_back({it->first.second, it->second->dim, it->second->points.size()});
    return Result<std::vector<CollectionInfo>>(std::move(out));
  };
  co_return co_await offload(cpu_, std::move(job));
}

}  // namespace aion::vector
