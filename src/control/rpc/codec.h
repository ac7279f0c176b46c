#pragma once
// aionOS's types to and from the messages of aion.internal.v1.Control, and
// errors to and from gRPC statuses. The one place both roles agree on.
#include <grpcpp/support/status.h>

#include "aion/internal/v1/control.pb.h"
#include "common/error.h"
#include "control/control_api.h"

namespace aion::control::rpc {

namespace pb = aion::internal::v1;

void toProto(const Principal& p, pb::Principal* out);
Principal fromProto(const pb::Principal& p);

void toProto(const SubmitRequest& r, pb::SubmitRequest* out);
Result<SubmitRequest> fromProto(const pb::SubmitRequest& r);

void toProto(const store::Task& t, pb::Task* out);
Result<store::Task> fromProto(const pb::Task& t);

void toProto(const store::Event& e, pb::Event* out);
Result<store::Event> fromProto(const pb::Event& e);

void toProto(const ModelEntry& m, pb::Model* out);
ModelEntry fromProto(const pb::Model& m);

// Collections. A request's fields are checked as the control plane's REST
// API checks them (name, every document: kInvalidRequest, kPayloadTooLarge,
// kInvalidParams); an answer that breaks its own rules is kInternal.

void toProto(const IndexRequest& r, pb::IndexDocumentsRequest* out);
Result<IndexRequest> fromProto(const pb::IndexDocumentsRequest& r);

void toProto(const IndexedDocuments& r, pb::IndexedDocuments* out);
Result<IndexedDocuments> fromProto(const pb::IndexedDocuments& r);

void toProto(const CollectionList& l, pb::CollectionList* out);
Result<CollectionList> fromProto(const pb::CollectionList& l);

//! The collection a DeleteCollection names, checked.
Result<std::string> collectionOf(const pb::DeleteCollectionRequest& r);

//! The status for `e`, with the error JSON as its binary details.
grpc::Status toStatus(const Error& e);
//! The error a status carries; a status without aionOS details (the peer
//! unreachable, a deadline passed, a canceled call) maps to kUnavailable,
//! kTimeout or kCanceled, naming `who` ("the control plane at HOST:PORT").
Error fromStatus(const grpc::Status& st, const std::string& who);

}  // namespace aion::control::rpc
