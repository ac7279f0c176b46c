#include "http/handler_util.h"

#include <boost/asio/write.hpp>
#include <boost/json.hpp>

namespace aion::http {
namespace json = boost::json;
namespace bhttp = beast::http;

Result<Principal> principalOf(const auth::KeyRing& keys, const Request& req) {
  std::string_view key = req["X-API-Key"];
  if (key.empty()) {
    std::string_view authz = req[bhttp::field::authorization];
    if (authz.size() > 7 && (authz.starts_with("Bearer ") || authz.starts_with("bearer ")))
      key = authz.substr(7);
  }
  return keys.authenticate(key, req["X-Tenant-Id"]);
}

asio::awaitable<bool> writeAll(Exchange& ex, std::string data) {
  ex.stream.expires_after(ex.limits.writeTimeout);
  auto [ec, n] = co_await asio::async_write(ex.stream, asio::buffer(data),
                                            asio::as_tuple(asio::use_awaitable));
  (void)n;
  ex.stream.expires_never();
  co_return !ec;
}

Result<json::value> parseJsonText(std::string_view text, std::string_view what) {
  json::parse_options opts;
  opts.max_depth = kMaxJsonDepth;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec == json::error::too_deep)
    return fail(ErrorCode::kInvalidRequest, std::string(what) + " is nested deeper than " +
                                                std::to_string(kMaxJsonDepth) + " levels");
  if (ec) return fail(ErrorCode::kInvalidRequest, "malformed JSON: " + ec.message());
  return v;
}

Result<json::object> parseJsonObject(const Request& req) {
  std::string_view ct = req[bhttp::field::content_type];
  // curl -d sends x-www-form-urlencoded by default; the body is still JSON.
  if (!ct.empty() && ct.find("json") == std::string_view::npos &&
      ct.find("x-www-form-urlencoded") == std::string_view::npos &&
      ct.find("text/plain") == std::string_view::npos)
    return fail(ErrorCode::kInvalidRequest, "Content-Type must be application/json");
  if (req.body().empty())
    return fail(ErrorCode::kInvalidRequest, "request body is empty; expected a JSON object");
  auto v = parseJsonText(req.body(), "request body");
  if (!v) return std::unexpected(v.error());
  if (!v->is_object())
    return fail(ErrorCode::kInvalidRequest, "request body must be a JSON object");
  return std::move(v->as_object());
}

Status requireRole(const Principal& who, RoleSet roles) {
  if (who.hasAny(roles)) return {};
  return fail(ErrorCode::kForbidden, "this operation needs role " + roleSetString(roles),
              {{"required", roleSetString(roles)}});
}

void addHealthRoutes(Routes& routes, std::function<std::pair<bool, json::object>()> ready,
                     telemetry::Metrics& metrics) {
  routes.add(bhttp::verb::get, "/healthz",
             [](Exchange& ex) -> asio::awaitable<std::optional<Response>> {
               co_return jsonResponse(200, json::object{{"status", "ok"}}, ex.requestId);
             });
  routes.add(bhttp::verb::get, "/readyz",
             [ready](Exchange& ex) -> asio::awaitable<std::optional<Response>> {
               auto [ok, body] = ready();
               co_return jsonResponse(ok ? 200 : 503, body, ex.requestId);
             });
  routes.add(bhttp::verb::get, "/metrics",
             [&metrics](Exchange&) -> asio::awaitable<std::optional<Response>> {
               Response r{bhttp::status::ok, 11};
               r.set(bhttp::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
               r.body() = metrics.serialize();
               r.prepare_payload();
               co_return r;
             });
}

}  // namespace aion::http
