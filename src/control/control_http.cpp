#include "control/control_http.h"

#include <boost/json.hpp>
#include <deque>
#include <mutex>
#include <set>

#include "common/json_text.h"
#include "control/collections_http.h"
#include "control/policy_files.h"
#include "http/client_watch.h"
#include "http/handler_util.h"
#include "http/sse.h"

namespace aion::control {
namespace json = boost::json;
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using http::Exchange;
using http::Response;
using http::writeAll;
using Reply = asio::awaitable<std::optional<Response>>;

namespace {
constexpr RoleSet kAdmin = roleBit(Role::kAdmin);
constexpr RoleSet kAdminOrManager = roleBit(Role::kAdmin) | roleBit(Role::kManager);
bool isDay(const std::string& s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  int m = std::stoi(s.substr(5, 2)), dd = std::stoi(s.substr(8, 2));
  return m >= 1 && m <= 12 && dd >= 1 && dd <= 31;
}

constexpr auto kFeedHeartbeat = std::chrono::seconds(15);
constexpr size_t kFeedMaxQueued = 1000;

//! GET /v1/tasks/feed: SSE of every task accepted for the caller's tenant
//! (`event: created`), keep-alive comments when idle; ends when the client
//! goes away or reads too slowly (more than kFeedMaxQueued behind).
asio::awaitable<void> followTaskFeed(ControlService& control, Exchange& ex, const Principal& who) {
  struct Inbox {
    std::mutex mu;
    std::deque<std::string> items;
    bool overflow = false;
  };
  auto inbox = std::make_shared<Inbox>();
  auto exec = co_await asio::this_coro::executor;
  auto wake = std::make_shared<asio::steady_timer>(exec);
  // Listeners run on the submitter's thread: queue, then wake this
  // connection's coroutine on its own executor.
  auto sub = control.taskFeed().subscribe(who.tenant, [inbox, wake, exec](const json::object& t) {
    {
      std::lock_guard lock(inbox->mu);
      if (inbox->items.size() >= kFeedMaxQueued)
        inbox->overflow = true;
      else
        inbox->items.push_back(jsonText(t));
    }
    asio::post(exec, [wake] { wake->cancel(); });
  });
  std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
      "Connection: close\r\nX-Accel-Buffering: no\r\nX-Request-Id: " +
      ex.requestId + "\r\n\r\n" + http::sseComment("tenant " + who.tenant);
  if (!co_await writeAll(ex, std::move(head))) co_return;
  http::ClientWatch watch(ex, [wake] { wake->cancel(); });
  bool ok = true;
  while (ok && !watch.gone()) {
    std::deque<std::string> items;
    bool overflow = false;
    {
      std::lock_guard lock(inbox->mu);
      items.swap(inbox->items);
      overflow = inbox->overflow;
    }
    if (overflow) break;
    if (items.empty()) {
      wake->expires_after(kFeedHeartbeat);
      auto [ec] = co_await wake->async_wait(asio::as_tuple(asio::use_awaitable));
      if (watch.gone()) break;
      std::lock_guard lock(inbox->mu);
      if (!ec && inbox->items.empty()) items.push_back({});  // idle: a keep-alive
    }
    std::string out;
    for (auto& item : items)
      out += item.empty() ? http::sseComment("keep-alive") : http::sseEvent({}, "created", item);
    if (!out.empty()) ok = co_await writeAll(ex, std::move(out));
  }
  co_await watch.stop();
}

}  // namespace

Result<store::UsageQuery> parseUsageQuery(const std::map<std::string, std::string>& query) {
  static const std::set<std::string> kDims{"tenant", "key", "intent", "provider", "model", "day"};
  store::UsageQuery q;
  q.groupBy = {"tenant", "key", "intent", "provider", "model", "day"};
  for (auto& [k, v] : query) {
    if (k == "from" || k == "to") {
      if (!isDay(v)) return fail(ErrorCode::kInvalidRequest, k + " must be a UTC day, YYYY-MM-DD");
      (k == "from" ? q.fromDay : q.toDay) = v;
    } else if (k == "groupBy") {
      q.groupBy.clear();
      size_t i = 0;
      while (i <= v.size() && !v.empty()) {
        auto j = v.find(',', i);
        if (j == std::string::npos) j = v.size();
        auto dim = v.substr(i, j - i);
        if (!kDims.count(dim))
          return fail(ErrorCode::kInvalidRequest,
                      "groupBy: unknown dimension '" + dim +
                          "' (use tenant, key, intent, provider, model, day)");
        if (std::find(q.groupBy.begin(), q.groupBy.end(), dim) == q.groupBy.end())
          q.groupBy.push_back(dim);
        i = j + 1;
      }
    } else if (kDims.count(k) && k != "day") {
      if (v.empty() || v.size() > 256)
        return fail(ErrorCode::kInvalidRequest, k + " filter must be 1-256 characters");
      q.filters[k] = v;
    } else {
      return fail(ErrorCode::kInvalidRequest,
                  "unknown query parameter '" + k +
                      "' (use from, to, groupBy, tenant, key, intent, provider, model)");
    }
  }
  if (!q.fromDay.empty() && !q.toDay.empty() && q.fromDay > q.toDay)
    return fail(ErrorCode::kInvalidRequest, "from must not be after to");
  return q;
}

Result<PolicyFilePut> parsePolicyFilePut(const std::string& name,
                                         const std::map<std::string, std::string>& query,
                                         const http::Request& req) {
  if (auto ok = checkPolicyFileName(name); !ok) return std::unexpected(ok.error());
  PolicyFilePut put;
  put.name = name;
  for (auto& [k, v] : query) {
    if (k != "dryRun")
      return fail(ErrorCode::kInvalidRequest, "unknown query parameter '" + k + "' (use dryRun)");
    if (v != "true" && v != "false" && v != "1" && v != "0")
      return fail(ErrorCode::kInvalidRequest, "dryRun must be true or false");
    put.dryRun = v == "true" || v == "1";
  }
  auto body = http::parseJsonObject(req);
  if (!body) return std::unexpected(body.error());
  for (auto& [k, v] : *body) {
    if (k == "text") {
      if (!v.is_string()) return fail(ErrorCode::kInvalidRequest, "text must be a string");
      put.text = std::string(v.as_string());
    } else if (k == "expectedSha256") {
      if (!v.is_string() || (v.as_string().size() != 64 && !v.as_string().empty()))
        return fail(ErrorCode::kInvalidRequest, "expectedSha256 must be a 64-digit hex string");
      put.expectedSha256 = std::string(v.as_string());
    } else {
      return fail(ErrorCode::kInvalidRequest,
                  "unknown field '" + std::string(k) + "' (use text, expectedSha256)");
    }
  }
  if (!body->contains("text")) return fail(ErrorCode::kInvalidRequest, "text is required");
  if (put.text.find('\0') != std::string::npos)
    return fail(ErrorCode::kInvalidRequest, "text must not contain NUL characters");
  return put;
}

http::Routes controlRoutes(ControlHttpDeps d) {
  http::Routes routes;
  http::addHealthRoutes(
      routes, [&c = d.control] { return c.readiness(); }, d.metrics);

  routes.add(bhttp::verb::post, "/v1/router/policy/reload", [d](Exchange& ex) -> Reply {
    auto who = http::principalOf(d.keys, ex.req);
    if (!who) co_return http::errorResponse(who.error(), ex.requestId);
    if (auto ok = http::requireRole(*who, kAdmin); !ok)
      co_return http::errorResponse(ok.error(), ex.requestId);
    auto r = co_await d.control.reloadPolicies();
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

  routes.add(bhttp::verb::get, "/v1/usage", [d](Exchange& ex) -> Reply {
    auto who = http::principalOf(d.keys, ex.req);
    if (!who) co_return http::errorResponse(who.error(), ex.requestId);
    if (auto ok = http::requireRole(*who, kAdminOrManager); !ok)
      co_return http::errorResponse(ok.error(), ex.requestId);
    auto q = parseUsageQuery(ex.query);
    if (!q) co_return http::errorResponse(q.error(), ex.requestId);
    auto r = co_await d.control.usage(*who, std::move(*q));
    if (!r) co_return http::errorResponse(r.error(), ex.requestId);
    co_return http::jsonResponse(200, *r, ex.requestId);
  });

  routes.add(bhttp::verb::get, "/v1/modules", [d](Exchange& ex) -> Reply {
    auto who = http::principalOf(d.keys, ex.req);
    if (!who) co_return http::errorResponse(who.error(), ex.requestId);
    if (auto ok = http::requireRole(*who, kAdminOrManager); !ok)
      co_return http::errorResponse(ok.error(), ex.requestId);
    auto items = d.control.modules();  // from the policy snapshot in memory
    co_return http::jsonResponse(200, json::object{{"items", items}}, ex.requestId);
  });

  routes.add(bhttp::verb::post, "/v1/modules", [d](Exchange& ex) -> Reply {
    auto who = http::principalOf(d.keys, ex.req);
    if (!who) co_return http::errorResponse(who.error(), ex.requestId);
    if (auto ok = http::requireRole(*who, kAdmin); !ok)
      co_return http::errorResponse(ok.error(), ex.requestId);
    auto body = http::parseJsonObject(ex.req);
    if (!body) co_return http::errorResponse(body.error(), ex.requestId);
    auto r = co_await d.control.registerModule(std::move(*body));
    if (!r) co_return http::errorResponse(r.error(), ex.requestId);
    co_return http::jsonResponse(201, *r, ex.requestId);
  });

  routes.add(bhttp::verb::get, "/v1/whoami", [d](Exchange& ex) -> Reply {
    auto who = http::principalOf(d.keys, ex.req);
    if (!who) co_return http::errorResponse(who.error(), ex.requestId);
    json::array roles;
    for (auto r : {Role::kAdmin, Role::kManager, Role::kUser, Role::kViewer})
      if (who->has(r)) roles.push_back(json::string(roleName(r)));
    co_return http::jsonResponse(
        200, json::object{{"keyId", who->keyId}, {"tenant", who->tenant}, {"roles", roles}},
        ex.requestId);
  });

  routes.add(bhttp::verb::get, "/v1/intents", [d](Exchange& ex) -> Reply {
    auto who = http::principalOf(d.keys, ex.req);
    if (!who) co_return http::errorResponse(who.error(), ex.requestId);
    co_return http::jsonResponse(200, json::object{{"items", d.control.intents(*who)}},
                                 ex.requestId);
  });

  routes.add(bhttp::verb::get, "/v1/tasks/feed", [d](Exchange& ex) -> Reply {
    auto who = http::principalOf(d.keys, ex.req);
    if (!who) co_return http::errorResponse(who.error(), ex.requestId);
    co_await followTaskFeed(d.control, ex, *who);
    co_return std::nullopt;
  });

  routes.add(bhttp::verb::get, "/v1/policy/files", [d](Exchange& ex) -> Reply {
    auto who = http::principalOf(d.keys, ex.req);
    if (!who) co_return http::errorResponse(who.error(), ex.requestId);
    if (auto ok = http::requireRole(*who, kAdminOrManager); !ok)
      co_return http::errorResponse(ok.error(), ex.requestId);
    auto r = co_await d.control.policyFiles();
    if (!r) co_return http::errorResponse(r.error(), ex.requestId);
    co_return http::jsonResponse(200, *r, ex.requestId);
  });

  routes.add(bhttp::verb::put, "/v1/policy/files/{name}", [d](Exchange& ex) -> Reply {
    auto who = http::principalOf(d.keys, ex.req);
    if (!who) co_return http::errorResponse(who.error(), ex.requestId);
    if (auto ok = http::requireRole(*who, kAdmin); !ok)
      co_return http::errorResponse(ok.error(), ex.requestId);
    auto req = parsePolicyFilePut(ex.params["name"], ex.query, ex.req);
    if (!req) co_return http::errorResponse(req.error(), ex.requestId);
    auto r = co_await d.control.putPolicyFile(std::move(req->name), std::move(req->text),
                                              std::move(req->expectedSha256), req->dryRun);
    if (!r) co_return http::errorResponse(r.error(), ex.requestId);
    co_return http::jsonResponse(200, *r, ex.requestId);
  });

  // The same endpoints as the gateway's, behind this port's key check.
  if (d.control.retrieval()) {
    auto admit = [keys = &d.keys](CollectionHandler h) -> http::Handler {
      return [keys, h = std::move(h)](Exchange& ex) -> Reply {
        auto who = http::principalOf(*keys, ex.req);
        if (!who) co_return http::errorResponse(who.error(), ex.requestId);
        co_return co_await h(ex, *who);
      };
    };
    addCollectionRoutes(routes, d.control, admit);
  }

  for (bool enable : {true, false}) {
    std::string path = enable ? "/v1/modules/{name}/enable" : "/v1/modules/{name}/disable";
    routes.add(bhttp::verb::post, path, [d, enable](Exchange& ex) -> Reply {
      auto who = http::principalOf(d.keys, ex.req);
      if (!who) co_return http::errorResponse(who.error(), ex.requestId);
      if (auto ok = http::requireRole(*who, kAdmin); !ok)
        co_return http::errorResponse(ok.error(), ex.requestId);
      std::string name = ex.params["name"];
      auto r = co_await d.control.setModuleEnabled(name, enable);
      if (!r) co_return http::errorResponse(r.error(), ex.requestId);
      co_return http::jsonResponse(200, *r, ex.requestId);
    });
  }
  return routes;
}

}  // namespace aion::control
