#include "control/collections_http.h"

#include <boost/json.hpp>

#include "http/handler_util.h"

namespace aion::control {
namespace json = boost::json;
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using http::Exchange;
using Reply = asio::awaitable<std::optional<http::Response>>;

namespace {
constexpr RoleSet kWriters = roleBit(Role::kAdmin) | roleBit(Role::kManager) | roleBit(Role::kUser);
constexpr RoleSet kDroppers = roleBit(Role::kAdmin) | roleBit(Role::kManager);
}  // namespace

void addCollectionRoutes(http::Routes& routes, const auth::KeyRing& keys, Retrieval& retrieval) {
  auto* k = &keys;
  auto* r = &retrieval;

  routes.add(bhttp::verb::post, "/v1/collections/{name}/documents", [k, r](Exchange& ex) -> Reply {
    auto who = http::principalOf(*k, ex.req);
    if (!who) co_return http::errorResponse(who.error(), ex.requestId);
    if (auto ok = http::requireRole(*who, kWriters); !ok)
      co_return http::errorResponse(ok.error(), ex.requestId);
    std::string name = ex.params["name"];
    if (auto ok = checkCollectionName(name); !ok)
      co_return http::errorResponse(ok.error(), ex.requestId);
    if (!ex.query.empty())
      co_return http::errorResponse(
          Error(ErrorCode::kInvalidRequest, "this endpoint takes no query parameters"),
          ex.requestId);
    auto body = http::parseJsonObject(ex.req);
    if (!body) co_return http::errorResponse(body.error(), ex.requestId);
    auto docs = parseDocuments(*body, r->limits());
    if (!docs) co_return http::errorResponse(docs.error(), ex.requestId);
    auto out = co_await r->addDocuments(who->tenant, std::move(name), std::move(*docs));
    if (!out) co_return http::errorResponse(out.error(), ex.requestId);
    co_return http::jsonResponse(200, *out, ex.requestId);
  });

  routes.add(bhttp::verb::get, "/v1/collections", [k, r](Exchange& ex) -> Reply {
    auto who = http::principalOf(*k, ex.req);
    if (!who) co_return http::errorResponse(who.error(), ex.requestId);
    auto list = co_await r->index().listCollections(who->tenant);
    if (!list) co_return http::errorResponse(list.error(), ex.requestId);
    json::array items;
    for (auto& c : *list)
      items.push_back(json::object{{"name", c.name}, {"dim", c.dim}, {"chunks", c.points}});
    json::object answer{{"items", std::move(items)}, {"engine", r->index().engine()}};
    co_return http::jsonResponse(200, answer, ex.requestId);
  });

  routes.add(bhttp::verb::delete_, "/v1/collections/{name}", [k, r](Exchange& ex) -> Reply {
    auto who = http::principalOf(*k, ex.req);
    if (!who) co_return http::errorResponse(who.error(), ex.requestId);
    if (auto ok = http::requireRole(*who, kDroppers); !ok)
      co_return http::errorResponse(ok.error(), ex.requestId);
    std::string name = ex.params["name"];
    if (auto ok = checkCollectionName(name); !ok)
      co_return http::errorResponse(ok.error(), ex.requestId);
    auto gone = co_await r->index().deleteCollection(who->tenant, name);
    if (!gone) co_return http::errorResponse(gone.error(), ex.requestId);
    if (!*gone)
      co_return http::errorResponse(
          Error(ErrorCode::kNotFound, "collection '" + name + "' does not exist"), ex.requestId);
    json::object answer{{"status", "deleted"}, {"collection", name}};
    co_return http::jsonResponse(200, answer, ex.requestId);
  });
}

}  // namespace aion::control
