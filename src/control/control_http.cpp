#include "control/control_http.h"

#include <boost/json.hpp>

#include "http/handler_util.h"

namespace aion::control {
namespace json = boost::json;
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using http::Exchange;
using http::Response;
using Reply = asio::awaitable<std::optional<Response>>;

namespace {
constexpr RoleSet kAdmin = roleBit(Role::kAdmin);
constexpr RoleSet kAdminOrManager = roleBit(Role::kAdmin) | roleBit(Role::kManager);
}  // namespace

http::Routes controlRoutes(ControlHttpDeps d) {
  http::Routes routes;
  http::addHealthRoutes(
      routes, [&c = d.control] { return c.readiness(); }, d.metrics);

  routes.add(bhttp::verb::post, "/v1/router/policy/reload", [d](Exchange& ex) -> Reply {
    auto who = http::principalOf(d.keys, ex.req);
    if (!who) co_return http::errorResponse(who.error(), ex.requestId);
    if (auto ok = http::requireRole(*who, kAdmin); !ok)
      co_return http::errorResponse(ok.error(), ex.requestId);
    auto r = co_await http::offload(d.blocking, [&] { return d.control.reloadPolicies(); });
    if (!r) co_return http::errorResponse(r.error(), ex.requestId);
    co_return http::jsonResponse(200, *r, ex.requestId);
  });

  routes.add(bhttp::verb::post, "/v1/router/decide", [d](Exchange& ex) -> Reply {
    auto who = http::principalOf(d.keys, ex.req);
    if (!who) co_return http::errorResponse(who.error(), ex.requestId);
    if (auto ok = http::requireRole(*who, kAdminOrManager); !ok)
      co_return http::errorResponse(ok.error(), ex.requestId);
    auto body = http::parseJsonObject(ex.req);
    if (!body) co_return http::errorResponse(body.error(), ex.requestId);
    SubmitRequest req;
    req.principal = *who;
    auto* intent = body->if_contains("intent");
    if (!intent || !intent->is_string())
      co_return http::errorResponse(Error(ErrorCode::kInvalidRequest, "intent is required"),
                                    ex.requestId);
    req.intent = std::string(intent->as_string());
    req.params = body->contains("params") ? body->at("params") : json::object();
    if (auto* p = body->if_contains("privacy")) {
      req.privacy = p->is_string() ? policy::parsePrivacy(p->as_string()) : std::nullopt;
      if (!req.privacy)
        co_return http::errorResponse(
            Error(ErrorCode::kInvalidRequest, "privacy must be local-only, hybrid or allow-api"),
            ex.requestId);
    }
    if (auto* b = body->if_contains("budgetUsd")) {
      if (!b->is_number())
        co_return http::errorResponse(
            Error(ErrorCode::kInvalidRequest, "budgetUsd must be a number"), ex.requestId);
      req.budgetUsd = b->to_number<double>();
    }
    auto r = d.control.decide(req);  // pure and in-memory: fine on the I/O thread
    if (!r) co_return http::errorResponse(r.error(), ex.requestId);
    co_return http::jsonResponse(200, *r, ex.requestId);
  });

  routes.add(bhttp::verb::get, "/v1/modules", [d](Exchange& ex) -> Reply {
    auto who = http::principalOf(d.keys, ex.req);
    if (!who) co_return http::errorResponse(who.error(), ex.requestId);
    if (auto ok = http::requireRole(*who, kAdminOrManager); !ok)
      co_return http::errorResponse(ok.error(), ex.requestId);
    co_return http::jsonResponse(200, json::object{{"items", d.modules()}}, ex.requestId);
  });
  return routes;
}

}  // namespace aion::control
