#pragma once
// Collections of documents for retrieval, as every surface sees them
// (docs/retrieval.md): the requests, their validation, who may do what, and
// the answers. Pure: no index, module or socket; shared by the control
// plane's implementation, its REST API, the gateway's, and the internal gRPC
// codec, so that a document is refused for the same reason everywhere.
#include <boost/json/object.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/principal.h"

namespace aion::control {

//! What one POST /v1/collections/{name}/documents may carry.
struct DocumentLimits {
  size_t maxDocuments = 100;       // per request (413 beyond)
  size_t maxTextBytes = 50000;     // per document (413 beyond)
  size_t maxMetadataBytes = 4096;  // per document, as JSON text (413 beyond)
  size_t chunkBytes = 1000;        // a chunk's most UTF-8 bytes
  //! Indexing requests embedding at once; beyond, 503 with Retry-After: the
  //! module pool is shared with tasks and its queue must stay bounded.
  int maxConcurrent = 4;
};

//! A validated document of a request.
struct Document {
  std::string id;
  std::string text;
  boost::json::object metadata;
};

//! Documents to index into the caller's tenant's collection.
struct IndexRequest {
  Principal principal;
  std::string collection;
  std::vector<Document> documents;
};

//! What indexing stored.
struct IndexedDocuments {
  std::string collection{};
  std::vector<std::string> documents{};  // their ids, in request order
  uint64_t chunks = 0;
  int dim = 0;
  std::string embedModule{};
  std::string engine{};  // in-process | qdrant
};

struct CollectionSummary {
  std::string name{};
  int dim = 0;
  uint64_t chunks = 0;
};

//! A tenant's collections, by name.
struct CollectionList {
  std::vector<CollectionSummary> items{};
  std::string engine{};
};

//! What a caller does to collections; each needs some role.
enum class CollectionOp {
  kList,    // any role
  kIndex,   // admin, manager, user
  kDelete,  // admin, manager
};

//! kForbidden unless `who` may do `op` (the same rule on every surface).
Status authorizeCollections(const Principal& who, CollectionOp op);

//! Checks a collection name: [a-z0-9][a-z0-9_-]{0,63}. kInvalidRequest.
Status checkCollectionName(const std::string& name);
//! Parses {"documents":[{"id","text","metadata"?}]}: 400 for shapes and
//! names, 413 for sizes and counts, 422 (invalid_params) for empty texts and
//! duplicate ids (checkDocuments). Nothing is touched before all of it passed.
Result<std::vector<Document>> parseDocuments(const boost::json::object& body,
                                             const DocumentLimits& limits);
//! The rules parseDocuments applies to values, for documents already typed
//! (what a gateway sent over gRPC): count, id format, sizes, NUL characters,
//! empty texts, duplicate ids; the same codes and messages.
Status checkDocuments(const std::vector<Document>& docs, const DocumentLimits& limits);

//! `s` without leading and trailing ASCII whitespace: what "empty" means
//! for a document's text and a question.
std::string trimSpace(std::string_view s);
//! Splits `text` into pieces of at most `maxBytes` UTF-8 bytes, at
//! whitespace where there is some, never inside a UTF-8 sequence; pieces are
//! trimmed and none is empty.
std::vector<std::string> chunkText(const std::string& text, size_t maxBytes);

//! The answers of the REST API.
boost::json::object toJson(const IndexedDocuments& r);
boost::json::object toJson(const CollectionList& l);

}  // namespace aion::control
