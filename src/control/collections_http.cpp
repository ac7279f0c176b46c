#include "control/collections_http.h"

#include <boost/json.hpp>

#include "http/handler_util.h"

namespace aion::control {
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using http::Exchange;

namespace {

// The collection the path names, once the caller may do `op` to it. The
// role is checked before the body is read, and again by the control plane
// (authorizeCollections both times).
Result<std::string> target(const Exchange& ex, const Principal& who, CollectionOp op) {
  if (auto ok = authorizeCollections(who, op); !ok) return std::unexpected(ok.error());
  std::string name = ex.params.at("name");
  if (auto ok = checkCollectionName(name); !ok) return std::unexpected(ok.error());
  return name;
}

CollectionReply indexDocuments(ControlApi& control, Exchange& ex, Principal who) {
  auto name = target(ex, who, CollectionOp::kIndex);
  if (!name) co_return http::errorResponse(name.error(), ex.requestId);
  if (!ex.query.empty())
    co_return http::errorResponse(
        Error(ErrorCode::kInvalidRequest, "this endpoint takes no query parameters"), ex.requestId);
  auto body = http::parseJsonObject(ex.req);
  if (!body) co_return http::errorResponse(body.error(), ex.requestId);
  auto docs = parseDocuments(*body, DocumentLimits{});
  if (!docs) co_return http::errorResponse(docs.error(), ex.requestId);
  IndexRequest req{
      .principal = std::move(who), .collection = std::move(*name), .documents = std::move(*docs)};
  auto out = co_await control.indexDocuments(std::move(req));
  if (!out) co_return http::errorResponse(out.error(), ex.requestId);
  co_return http::jsonResponse(200, toJson(*out), ex.requestId);
}

CollectionReply listCollections(ControlApi& control, Exchange& ex, Principal who) {
  auto list = co_await control.listCollections(std::move(who));
  if (!list) co_return http::errorResponse(list.error(), ex.requestId);
  co_return http::jsonResponse(200, toJson(*list), ex.requestId);
}

CollectionReply deleteCollection(ControlApi& control, Exchange& ex, Principal who) {
  auto name = target(ex, who, CollectionOp::kDelete);
  if (!name) co_return http::errorResponse(name.error(), ex.requestId);
  auto gone = co_await control.deleteCollection(std::move(who), *name);
  if (!gone) co_return http::errorResponse(gone.error(), ex.requestId);
  boost::json::object answer{{"status", "deleted"}, {"collection", *name}};
  co_return http::jsonResponse(200, answer, ex.requestId);
}

}  // namespace

void addCollectionRoutes(http::Routes& routes, ControlApi& control, const CollectionAdmit& admit) {
  auto* c = &control;
  routes.add(
      bhttp::verb::post, "/v1/collections/{name}/documents",
      admit([c](Exchange& ex, const Principal& who) { return indexDocuments(*c, ex, who); }));
  routes.add(bhttp::verb::get, "/v1/collections", admit([c](Exchange& ex, const Principal& who) {
               return listCollections(*c, ex, who);
             }));
  routes.add(
      bhttp::verb::delete_, "/v1/collections/{name}",
      admit([c](Exchange& ex, const Principal& who) { return deleteCollection(*c, ex, who); }));
}

}  // namespace aion::control
