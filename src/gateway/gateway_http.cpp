#include "gateway/gateway_http.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <charconv>

#include "common/ids.h"
#include "common/json_text.h"
#include "control/collections_http.h"
#include "gateway/openai_http.h"
#include "gateway/route_guard.h"
#include "gateway/task_codec.h"
#include "gateway/ws_session.h"
#include "http/client_watch.h"
#include "http/handler_util.h"
#include "http/sse.h"

namespace aion::gateway {
namespace json = boost::json;
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using http::Exchange;
using http::Response;

namespace {

bool wantsEventStream(const http::Request& req) {
  return std::string_view(req[bhttp::field::accept]).find("text/event-stream") !=
         std::string_view::npos;
}

json::object submitAnswer(const store::Task& t) {
  return {{"taskId", t.id},
          {"status", store::statusName(t.status)},
          {"links",
           {{"self", "/v1/tasks/" + t.id},
            {"stream", "/v1/stream/" + t.id},
            {"cancel", "/v1/tasks/" + t.id + "/cancel"}}}};
}

// Streams a task's events from `f` as SSE until its "done" event, the client
// leaving, or an error. A task submitted by this very request (`owned`) is
// canceled when its client leaves; one merely followed keeps running.
asio::awaitable<void> streamSse(GatewayDeps d, GatewayOptions o, Exchange& ex, const Principal& who,
                                const std::string& id, Result<std::unique_ptr<events::Follower>> f,
                                bool owned) {
  std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
      "Connection: close\r\nX-Accel-Buffering: no\r\nX-Request-Id: " +
      ex.requestId + "\r\nX-Aion-Task-Id: " + id + "\r\nx-aion-trace-id: " + ex.traceId +
      "\r\n\r\n";
  head += http::sseRetry(2000);
  if (!f) {
    head += http::sseEvent({}, "error", jsonText(json::object{{"error", toJson(f.error())}}));
    co_await writeAll(ex, std::move(head));
    co_return;
  }
  auto& follower = **f;
  if (!co_await writeAll(ex, std::move(head))) {
    if (owned) co_await d.control.cancel(who, id, kClientLeft);
    co_return;
  }
  http::ClientWatch watch(ex, [&follower] { follower.interrupt(); });
  bool ok = true;
  while (ok && !follower.finished() && !watch.gone()) {
    auto evs = co_await follower.next(o.sseHeartbeat);
    std::string out;
    if (!evs) {
      out = http::sseEvent({}, "error", jsonText(json::object{{"error", toJson(evs.error())}}));
      ok = false;
    } else if (evs->empty()) {
      if (watch.gone()) break;
      out = http::sseComment("keep-alive");
    } else {
      for (auto& e : *evs)
        out += http::sseEvent(std::to_string(e.seq), e.type, jsonText(eventJson(e)));
    }
    ok = co_await writeAll(ex, std::move(out)) && ok;
  }
  co_await watch.stop();
  if (owned && !follower.finished()) co_await d.control.cancel(who, id, kClientLeft);
}

Result<int> intQuery(const Exchange& ex, const char* name, int lo, int hi) {
  auto it = ex.query.find(name);
  int v = 0;
  auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  if (ec != std::errc() || p != it->second.data() + it->second.size() || v < lo || v > hi)
    return fail(ErrorCode::kInvalidRequest, std::string(name) + " must be an integer from " +
                                                std::to_string(lo) + " to " + std::to_string(hi));
  return v;
}

}  // namespace

http::Routes gatewayRoutes(GatewayDeps d, GatewayOptions opts) {
  http::Routes routes;
  http::addHealthRoutes(
      routes, [&c = d.control] { return c.readiness(); }, d.metrics);

  routes.add(
      bhttp::verb::post, "/v1/tasks", guarded(d, [d, opts](Exchange& ex, Admitted& a) -> Reply {
        auto body = http::parseJsonObject(ex.req);
        if (!body) co_return errorOf(body.error(), ex);
        auto req = parseSubmit(*body, a.who);
        if (!req) co_return errorOf(req.error(), ex);
        if (wantsEventStream(ex.req)) {
          // Submit and follow in one request; leaving cancels the task.
          auto slot = d.admission.streamSlot();
          if (!slot) co_return errorOf(slot.error(), ex);
          req->attached = true;
          req->traceId = ex.traceId;
          req->parentSpanId = ex.spanId;
          req->sampled = ex.sampled;
          req->traceState = ex.traceState;
          auto t = co_await d.control.submitAttached(std::move(*req));
          if (!t) co_return errorOf(t.error(), ex);
          co_await streamSse(d, opts, ex, a.who, t->task.id, std::move(t->follower), true);
          co_return std::nullopt;
        }
        req->traceId = ex.traceId;
        req->parentSpanId = ex.spanId;
        req->sampled = ex.sampled;
        req->traceState = ex.traceState;
        std::string key(ex.req["Idempotency-Key"]);
        auto answer = co_await d.admission.once(
            a.who, key, *body, [&]() -> asio::awaitable<Result<IdempotentAnswer>> {
              auto t = co_await d.control.submit(std::move(*req));
              if (!t) co_return std::unexpected(t.error());
              co_return IdempotentAnswer{202, submitAnswer(*t)};
            });
        if (!answer) co_return errorOf(answer.error(), ex);
        auto r = http::jsonResponse(answer->status, answer->body, ex.requestId);
        if (answer->replayed) r.set("Idempotent-Replayed", "true");
        if (auto* id =
                answer->body.is_object() ? answer->body.as_object().if_contains("taskId") : nullptr;
            id && id->is_string())
          r.set(bhttp::field::location, "/v1/tasks/" + std::string(id->as_string()));
        co_return r;
      }));

  routes.add(
      bhttp::verb::get, "/v1/tasks", guarded(d, [d, opts](Exchange& ex, Admitted& a) -> Reply {
        store::ListQuery q;
        if (ex.query.count("limit")) {
          auto v = intQuery(ex, "limit", 1, opts.maxPageSize);
          if (!v) co_return errorOf(v.error(), ex);
          q.limit = *v;
        }
        if (auto it = ex.query.find("status"); it != ex.query.end()) {
          q.status = store::parseStatus(it->second);
          if (!q.status)
            co_return errorOf(Error(ErrorCode::kInvalidRequest, "unknown status filter"), ex);
        }
        if (auto it = ex.query.find("intent"); it != ex.query.end()) q.intent = it->second;
        if (auto it = ex.query.find("cursor"); it != ex.query.end()) q.afterId = it->second;
        auto page = co_await d.control.list(a.who, q);
        if (!page) co_return errorOf(page.error(), ex);
        json::array items;
        for (auto& t : page->items) items.push_back(taskJson(t));
        co_return http::jsonResponse(
            200,
            json::object{{"items", items},
                         {"nextCursor", page->nextCursor.empty() ? json::value(nullptr)
                                                                 : json::value(page->nextCursor)}},
            ex.requestId);
      }));

  routes.add(bhttp::verb::get, "/v1/tasks/{id}",
             guarded(d, [d](Exchange& ex, Admitted& a) -> Reply {
               auto t = co_await d.control.get(a.who, ex.params["id"]);
               if (!t) co_return errorOf(t.error(), ex);
               co_return http::jsonResponse(200, taskJson(*t), ex.requestId);
             }));

  routes.add(
      bhttp::verb::post, "/v1/tasks/{id}/cancel",
      guarded(d, [d](Exchange& ex, Admitted& a) -> Reply {
        if (!a.who.hasAny(roleBit(Role::kAdmin) | roleBit(Role::kManager) | roleBit(Role::kUser)))
          co_return errorOf(Error(ErrorCode::kForbidden, "viewers cannot cancel tasks"), ex);
        auto t = co_await d.control.cancel(a.who, ex.params["id"], kCanceledByClient);
        if (!t) co_return errorOf(t.error(), ex);
        // 200 when canceled now; 202 when a running task was asked to stop.
        co_return http::jsonResponse(store::isTerminal(t->status) ? 200 : 202, taskJson(*t),
                                     ex.requestId);
      }));

  routes.add(bhttp::verb::get, "/v1/stream/{id}",
             guarded(
                 d,
                 [d, opts](Exchange& ex, Admitted& a) -> Reply {
                   int64_t last = 0;
                   std::string_view lei = ex.req["Last-Event-ID"];
                   if (lei.empty())
                     if (auto it = ex.query.find("lastEventId"); it != ex.query.end())
                       lei = it->second;
                   if (!lei.empty()) {
                     auto v = http::parseLastEventId(lei);
                     if (!v)
                       co_return errorOf(Error(ErrorCode::kInvalidRequest,
                                               "Last-Event-ID must be a sequence number"),
                                         ex);
                     last = *v;
                   }
                   // Check the task before answering 200 (unknown ids get a 404).
                   std::string id = ex.params["id"];
                   auto t = co_await d.control.get(a.who, id);
                   if (!t) co_return errorOf(t.error(), ex);
                   auto f = co_await d.control.follow(a.who, id, last);
                   co_await streamSse(d, opts, ex, a.who, id, std::move(f), false);
                   co_return std::nullopt;
                 },
                 true));

  routes.add(bhttp::verb::get, "/v1/ws", [d, opts](Exchange& ex) -> Reply {
    if (auto st = co_await d.admission.limitIp(ex.remote); !st) co_return errorOf(st.error(), ex);
    if (!boost::beast::websocket::is_upgrade(ex.req))
      co_return errorOf(Error(ErrorCode::kInvalidRequest,
                              "this endpoint speaks WebSocket: send an Upgrade request"),
                        ex);
    // A key in the upgrade request authenticates at once; without one, the
    // first message must be {"type":"auth"}.
    std::optional<Principal> who;
    auto creds = credentialsOf(ex);
    if (!creds.apiKey.empty()) {
      auto a = co_await d.admission.authenticate(creds);
      if (!a) co_return errorOf(a.error(), ex);
      who = a->who;
    }
    auto slot = d.admission.streamSlot();
    if (!slot) co_return errorOf(slot.error(), ex);
    auto session = std::make_shared<WsSession>(d, opts, ex.stream, who);
    telemetry::TraceJoin trace{ex.traceId, ex.spanId.empty() ? ex.parentSpanId : ex.spanId,
                               ex.sampled, ex.traceState};
    co_await session->run(ex.req, std::move(trace));
    co_return std::nullopt;
  });
  addOpenAiRoutes(routes, d, opts);
  // Collections: the control plane's endpoints, behind this gateway's admission chain.
  auto admit = [d](control::CollectionHandler h) {
    return guarded(d, [h = std::move(h)](Exchange& ex, Admitted& a) { return h(ex, a.who); });
  };
  control::addCollectionRoutes(routes, d.control, admit);
  return routes;
}

}  // namespace aion::gateway
