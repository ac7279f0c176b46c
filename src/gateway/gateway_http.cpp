#include "gateway/gateway_http.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <charconv>
#include <set>

#include "common/digest.h"
#include "common/ids.h"
#include "gateway/openai_http.h"
#include "gateway/route_guard.h"
#include "gateway/task_codec.h"
#include "gateway/ws_session.h"
#include "http/handler_util.h"
#include "http/sse.h"

namespace aion::gateway {
namespace json = boost::json;
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using http::Exchange;
using http::Response;
using Reply = asio::awaitable<std::optional<Response>>;

namespace {

constexpr size_t kEventBatch = 200;

Error tooManyStreams(const GatewayDeps& d) {
  return Error(ErrorCode::kUnavailable,
               "too many open streams (" + std::to_string(d.streams.max()) + "); retry later",
               {{"retryAfterSeconds", 1}});
}

Result<std::string> idempotencyKey(const http::Request& req) {
  std::string_view k = req["Idempotency-Key"];
  if (k.empty()) return std::string();
  if (k.size() > 255)
    return fail(ErrorCode::kInvalidRequest, "Idempotency-Key is longer than 255 characters");
  for (char c : k)
    if (c < 0x21 || c > 0x7e)
      return fail(ErrorCode::kInvalidRequest, "Idempotency-Key must be printable ASCII");
  return std::string(k);
}

}  // namespace

http::Routes gatewayRoutes(GatewayDeps d, GatewayOptions opts) {
  http::Routes routes;
  http::addHealthRoutes(
      routes, [&c = d.control] { return c.readiness(); }, d.metrics);

  routes.add(
      bhttp::verb::post, "/v1/tasks",
      guarded(d, opts, [d](Exchange& ex, const Principal& who) -> Reply {
        auto body = http::parseJsonObject(ex.req);
        if (!body) co_return errorOf(body.error(), ex);
        auto req = parseSubmit(*body, who);
        if (!req) co_return errorOf(req.error(), ex);
        auto idem = idempotencyKey(ex.req);
        if (!idem) co_return errorOf(idem.error(), ex);
        std::string scoped = idem->empty() ? "" : who.tenant + '\n' + *idem;
        if (!scoped.empty()) {
          IdempotencyStore::Stored prior;
          std::string hash = sha256Hex(json::serialize(*body));
          auto begun = co_await engineCall(d, d.idempotency.blocking(), [&] {
            return d.idempotency.begin(scoped, hash, prior);
          });
          switch (begun) {
            case IdempotencyStore::Begin::kFirst:
              break;
            case IdempotencyStore::Begin::kReplay: {
              auto r = http::jsonResponse(prior.status, json::parse(prior.body), ex.requestId);
              r.set("Idempotent-Replayed", "true");
              co_return r;
            }
            case IdempotencyStore::Begin::kConflict:
              co_return errorOf(
                  Error(ErrorCode::kConflict,
                        "Idempotency-Key was already used with a different request body"),
                  ex);
            case IdempotencyStore::Begin::kInProgress:
              co_return errorOf(Error(ErrorCode::kConflict,
                                      "a request with this Idempotency-Key is still in progress",
                                      {{"retryAfterSeconds", 1}}),
                                ex);
          }
        }
        auto t = co_await http::offload(d.blocking, [&] { return d.control.submit(*req); });
        if (!t) {
          if (!scoped.empty())
            co_await engineCall(d, d.idempotency.blocking(),
                                [&] { d.idempotency.abandon(scoped); });
          co_return errorOf(t.error(), ex);
        }
        json::object out{{"taskId", t->id},
                         {"status", store::statusName(t->status)},
                         {"links",
                          {{"self", "/v1/tasks/" + t->id},
                           {"stream", "/v1/stream/" + t->id},
                           {"cancel", "/v1/tasks/" + t->id + "/cancel"}}}};
        if (!scoped.empty()) {
          IdempotencyStore::Stored answer{202, json::serialize(out)};
          co_await engineCall(d, d.idempotency.blocking(),
                              [&] { d.idempotency.complete(scoped, answer); });
        }
        auto r = http::jsonResponse(202, out, ex.requestId);
        r.set(bhttp::field::location, "/v1/tasks/" + t->id);
        co_return r;
      }));

  routes.add(
      bhttp::verb::get, "/v1/tasks",
      guarded(d, opts, [d, opts](Exchange& ex, const Principal& who) -> Reply {
        store::ListQuery q;
        if (auto it = ex.query.find("limit"); it != ex.query.end()) {
          int v = 0;
          auto [p, ec] =
              std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
          if (ec != std::errc() || p != it->second.data() + it->second.size() || v < 1 ||
              v > opts.maxPageSize)
            co_return errorOf(
                Error(ErrorCode::kInvalidRequest,
                      "limit must be an integer from 1 to " + std::to_string(opts.maxPageSize)),
                ex);
          q.limit = v;
        }
        if (auto it = ex.query.find("status"); it != ex.query.end()) {
          q.status = store::parseStatus(it->second);
          if (!q.status)
            co_return errorOf(Error(ErrorCode::kInvalidRequest, "unknown status filter"), ex);
        }
        if (auto it = ex.query.find("intent"); it != ex.query.end()) q.intent = it->second;
        if (auto it = ex.query.find("cursor"); it != ex.query.end()) q.afterId = it->second;
        auto page = co_await http::offload(d.blocking, [&] { return d.control.list(who, q); });
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
             guarded(d, opts, [d](Exchange& ex, const Principal& who) -> Reply {
               auto t = co_await http::offload(d.blocking,
                                               [&] { return d.control.get(who, ex.params["id"]); });
               if (!t) co_return errorOf(t.error(), ex);
               co_return http::jsonResponse(200, taskJson(*t), ex.requestId);
             }));

  routes.add(
      bhttp::verb::post, "/v1/tasks/{id}/cancel",
      guarded(d, opts, [d](Exchange& ex, const Principal& who) -> Reply {
        if (!who.hasAny(roleBit(Role::kAdmin) | roleBit(Role::kManager) | roleBit(Role::kUser)))
          co_return errorOf(Error(ErrorCode::kForbidden, "viewers cannot cancel tasks"), ex);
        auto t = co_await http::offload(d.blocking,
                                        [&] { return d.control.cancel(who, ex.params["id"]); });
        if (!t) co_return errorOf(t.error(), ex);
        // 200 when canceled now; 202 when a running task was asked to stop.
        co_return http::jsonResponse(store::isTerminal(t->status) ? 200 : 202, taskJson(*t),
                                     ex.requestId);
      }));

  routes.add(
      bhttp::verb::get, "/v1/stream/{id}",
      guarded(d, opts, [d, opts](Exchange& ex, const Principal& who) -> Reply {
        std::string id = ex.params["id"];
        int64_t last = 0;
        std::string_view lei = ex.req["Last-Event-ID"];
        if (lei.empty())
          if (auto it = ex.query.find("lastEventId"); it != ex.query.end()) lei = it->second;
        if (!lei.empty()) {
          auto v = http::parseLastEventId(lei);
          if (!v)
            co_return errorOf(
                Error(ErrorCode::kInvalidRequest, "Last-Event-ID must be a sequence number"), ex);
          last = *v;
        }
        auto task = co_await http::offload(d.blocking, [&] { return d.control.get(who, id); });
        if (!task) co_return errorOf(task.error(), ex);

        // Wake-ups from the bus: set a flag and cancel the wait, on this strand.
        auto exec = co_await asio::this_coro::executor;
        auto timer = std::make_shared<asio::steady_timer>(exec);
        auto pending = std::make_shared<std::atomic<bool>>(false);
        auto sub = d.control.subscribe(id, [timer, pending, exec](const store::Event&) {
          pending->store(true);
          asio::post(exec, [timer] { timer->cancel(); });
        });
        auto slot = d.streams.acquire();
        if (!slot) co_return errorOf(tooManyStreams(d), ex);

        auto write = [&ex](std::string data) { return writeAll(ex, std::move(data)); };
        std::string head =
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            "Connection: close\r\nX-Accel-Buffering: no\r\nX-Request-Id: " +
            ex.requestId + "\r\n\r\n";
        head += http::sseRetry(2000);
        if (!co_await write(std::move(head))) co_return std::nullopt;
        for (;;) {
          pending->store(false);
          auto evs = co_await http::offload(d.blocking, [&] {
            return d.control.events(who, id, last, static_cast<int>(kEventBatch));
          });
          if (!evs) {
            // GCC 12: keep string literals out of co_await full-expressions.
            std::string frame = http::sseEvent(
                {}, "error", json::serialize(json::object{{"error", toJson(evs.error())}}));
            co_await write(std::move(frame));
            co_return std::nullopt;
          }
          bool done = false;
          std::string batch;
          for (auto& e : *evs) {
            batch += http::sseEvent(std::to_string(e.seq), e.type, json::serialize(eventJson(e)));
            last = e.seq;
            done = done || e.type == "done";
          }
          if (!batch.empty() && !co_await write(std::move(batch))) co_return std::nullopt;
          if (done) co_return std::nullopt;
          if (evs->empty()) {
            // Resumed at or past the final event of a finished task: nothing more will come.
            auto now = co_await http::offload(d.blocking, [&] { return d.control.get(who, id); });
            if (!now || store::isTerminal(now->status)) co_return std::nullopt;
          }
          if (evs->size() == kEventBatch) continue;
          if (pending->load()) continue;
          timer->expires_after(opts.sseHeartbeat);
          auto [ec] = co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
          if (!ec && !pending->load()) {
            std::string beat = http::sseComment("keep-alive");
            if (!co_await write(std::move(beat))) co_return std::nullopt;
          }
        }
      }));
  routes.add(bhttp::verb::get, "/v1/ws", [d, opts](Exchange& ex) -> Reply {
    if (opts.ratePerIp) {
      std::string bucket = "ip:" + ex.remote;
      auto dec = co_await engineCall(d, d.limiter.blocking(), [&] {
        return d.limiter.hit(bucket, opts.ratePerIp, opts.rateWindow);
      });
      if (!dec.allowed) co_return tooMany(dec, opts.rateWindow, "client address", ex);
    }
    if (!boost::beast::websocket::is_upgrade(ex.req))
      co_return errorOf(Error(ErrorCode::kInvalidRequest,
                              "this endpoint speaks WebSocket: send an Upgrade request"),
                        ex);
    // A key in the upgrade request authenticates at once; without one, the
    // first message must be {"type":"auth"}.
    std::optional<Principal> who;
    if (!ex.req["X-API-Key"].empty() || !ex.req[bhttp::field::authorization].empty()) {
      auto p = http::principalOf(d.keys, ex.req);
      if (!p) co_return errorOf(p.error(), ex);
      who = *p;
    }
    auto slot = d.streams.acquire();
    if (!slot) co_return errorOf(tooManyStreams(d), ex);
    auto session = std::make_shared<WsSession>(d, opts, ex.stream, who);
    co_await session->run(ex.req);
    co_return std::nullopt;
  });
  addOpenAiRoutes(routes, d, opts);
  return routes;
}

}  // namespace aion::gateway
