// ControlService's collections (control/control_api.h): the one
// implementation behind the control plane's REST API, the embedded gateway
// and the internal gRPC server. Every caller's role, names and documents
// are checked here, whatever the transport checked before.
#include "control/control_service.h"

namespace aion::control {
namespace asio = boost::asio;

namespace {

Error noIndex() {
  return Error(ErrorCode::kUnavailable, "this control plane has no vector index");
}

}  // namespace

asio::awaitable<Result<IndexedDocuments>> ControlService::indexDocuments(IndexRequest req) {
  if (auto st = authorizeCollections(req.principal, CollectionOp::kIndex); !st)
    co_return std::unexpected(st.error());
  if (auto st = checkCollectionName(req.collection); !st) co_return std::unexpected(st.error());
  if (!retrieval_) co_return std::unexpected(noIndex());
  if (auto st = checkDocuments(req.documents, retrieval_->limits()); !st)
    co_return std::unexpected(st.error());
  co_return co_await retrieval_->addDocuments(std::move(req.principal.tenant),
                                              std::move(req.collection), std::move(req.documents));
}

asio::awaitable<Result<CollectionList>> ControlService::listCollections(Principal who) {
  if (auto st = authorizeCollections(who, CollectionOp::kList); !st)
    co_return std::unexpected(st.error());
  if (!retrieval_) co_return std::unexpected(noIndex());
  co_return co_await retrieval_->collections(std::move(who.tenant));
}

asio::awaitable<Status> ControlService::deleteCollection(Principal who, std::string collection) {
  if (auto st = authorizeCollections(who, CollectionOp::kDelete); !st)
    co_return std::unexpected(st.error());
  if (auto st = checkCollectionName(collection); !st) co_return std::unexpected(st.error());
  if (!retrieval_) co_return std::unexpected(noIndex());
  co_return co_await retrieval_->dropCollection(std::move(who.tenant), std::move(collection));
}

}  // namespace aion::control
