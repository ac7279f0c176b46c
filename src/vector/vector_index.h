#pragma once
// The vector-index seam (DESIGN.md §3: "vectors for intents that use them").
// The embedded default is an in-process index (vector/memory_index.h); at
// scale, Qdrant over its REST API (vector/qdrant_index.h,
// AION_CONTROL_QDRANT_URL). Both pass one conformance suite
// (tests/unit/vector_index_conformance_test.cpp).
//
// Collections belong to a tenant: every call names the tenant, and one
// tenant never sees, searches or deletes another's collection, even of the
// same name. Distance is always cosine; scores are cosine similarities
// (1 = same direction), highest first.
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace aion::vector {

//! One stored chunk of a document.
struct Point {
  std::string id;             //!< pointId(docId, chunk): a UUID, stable across runs
  std::vector<float> vector;  //!< the collection's dimension
  std::string docId;
  int chunk = 0;  //!< index of the chunk within its document, from 0
  std::string text;
  boost::json::object metadata;  //!< the document's metadata, as given
};

struct Match {
  Point point;  //!< without its vector
  double score = 0;
};

struct CollectionInfo {
  std::string name;  //!< as the tenant named it
  int dim = 0;
  uint64_t points = 0;
};

//! The UUID of chunk `chunk` of document `docId`: the first 16 bytes of
//! SHA-256(docId, chunk) with the version (5) and variant bits set, so the
//! same chunk always gets the same id (re-indexing replaces it) and Qdrant
//! accepts it (ids must be unsigned integers or UUIDs).
std::string pointId(const std::string& docId, int chunk);

//! `s` as lowercase hex: a tenant's name inside a file or collection name,
//! unambiguous and within any charset.
std::string hexOf(const std::string& s);
//! The inverse of hexOf; nullopt when `h` is not even-length lowercase hex.
std::optional<std::string> unhex(const std::string& h);

class VectorIndex {
 public:
  template <typename T>
  using Async = boost::asio::awaitable<Result<T>>;
  virtual ~VectorIndex() = default;

  //! A short name for logs and /readyz: "in-process" or "qdrant".
  virtual std::string engine() const = 0;

  //! Whether the engine answers (Qdrant: GET /collections). The in-process
  //! index always does. kUnavailable / kTimeout otherwise.
  virtual boost::asio::awaitable<Status> probe() = 0;

  //! Creates the tenant's collection `name` for `dim`-dimensional vectors
  //! (cosine), or checks that an existing one has `dim`: kConflict if not.
  virtual boost::asio::awaitable<Status> ensureCollection(std::string tenant, std::string name,
                                                          int dim) = 0;

  //! Inserts `points`, replacing points with the same id. kNotFound when the
  //! collection does not exist, kInvalidRequest when a vector's length is
  //! not the collection's dimension (then nothing is written).
  virtual boost::asio::awaitable<Status> upsert(std::string tenant, std::string name,
                                                std::vector<Point> points) = 0;

  //! Removes every point of the documents `docIds` (before they are indexed
  //! again, so a document that shrank leaves no stale chunks). kNotFound
  //! when the collection does not exist.
  virtual boost::asio::awaitable<Status> deleteDocuments(std::string tenant, std::string name,
                                                         std::vector<std::string> docIds) = 0;

  //! The `limit` points nearest to `query` by cosine, best first, without
  //! their vectors. kNotFound (no collection), kInvalidRequest (wrong length).
  virtual Async<std::vector<Match>> search(std::string tenant, std::string name,
                                           std::vector<float> query, int limit) = 0;

  //! Deletes the collection and its points; false when it did not exist.
  virtual Async<bool> deleteCollection(std::string tenant, std::string name) = 0;

  //! The tenant's collections, by name.
  virtual Async<std::vector<CollectionInfo>> listCollections(std::string tenant) = 0;
};

}  // namespace aion::vector
