// The collection endpoints' request (docs/retrieval.md): a body read the way
// POST /v1/collections/{name}/documents reads it (http::parseJsonObject,
// then control::parseDocuments), and the internal gRPC codec a split gateway
// sends it through. Contracts: what the gateway accepts, the control plane's
// codec accepts unchanged; every accepted document chunks into non-empty
// pieces within the chunk size. The same bytes are also read as a raw
// IndexDocumentsRequest message (a hostile peer): refused or valid, never a
// crash.
#include <boost/json.hpp>
#include <cstdint>

#include "common/json_text.h"
#include "control/collections.h"
#include "control/rpc/codec.h"
#include "fuzz_util.h"
#include "http/handler_util.h"

namespace {
using namespace aion;

// Metadata crosses the wire as JSON text. Boost.JSON 1.81's parser does
// not round every double correctly (it has no precise mode): a number may
// come back one ulp off. The codec must add nothing beyond that one re-parse.
std::string reparsed(const boost::json::object& o) {
  boost::json::parse_options opts;
  opts.max_depth = kMaxJsonDepth;
  return jsonText(boost::json::parse(jsonText(o), {}, opts));
}

void checkChunks(const std::vector<control::Document>& docs, const control::DocumentLimits& l) {
  for (auto& d : docs)
    for (auto& piece : control::chunkText(d.text, l.chunkBytes))
      if (piece.empty() || piece.size() > l.chunkBytes)
        fuzz::violated("a chunk that is empty or larger than the chunk size");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  control::DocumentLimits limits;
  control::rpc::pb::IndexDocumentsRequest raw;
  if (raw.ParseFromArray(data, static_cast<int>(size))) {
    if (auto in = control::rpc::fromProto(raw)) {
      if (!control::checkDocuments(in->documents, limits))
        fuzz::violated("the codec accepted documents the rules refuse");
      checkChunks(in->documents, limits);
    }
  }

  http::Request req{boost::beast::http::verb::post, "/v1/collections/docs/documents", 11};
  req.set(boost::beast::http::field::content_type, "application/json");
  req.body().assign(reinterpret_cast<const char*>(data), size);
  auto body = http::parseJsonObject(req);
  if (!body) return 0;
  auto docs = control::parseDocuments(*body, limits);
  if (!docs) return 0;
  checkChunks(*docs, limits);
  control::IndexRequest sent;
  sent.principal = {.keyId = "k", .roles = roleBit(Role::kUser), .tenant = "t"};
  sent.collection = "docs";
  sent.documents = *docs;
  control::rpc::pb::IndexDocumentsRequest wire;
  control::rpc::toProto(sent, &wire);
  auto got = control::rpc::fromProto(wire);
  if (!got) fuzz::violated("the codec refused what the gateway accepted");
  if (got->documents.size() != docs->size())
    fuzz::violated("the codec changed the number of documents");
  for (size_t i = 0; i < docs->size(); ++i)
    if (got->documents[i].id != (*docs)[i].id || got->documents[i].text != (*docs)[i].text ||
        jsonText(got->documents[i].metadata) != reparsed((*docs)[i].metadata))
      fuzz::violated("the codec changed a document");
  return 0;
}
