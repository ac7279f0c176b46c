#include "gateway/openai_http.h"

#include <boost/json.hpp>
#include <cmath>
#include <set>

#include "common/ids.h"
#include "gateway/route_guard.h"
#include "http/handler_util.h"
#include "http/sse.h"

namespace aion::gateway {
namespace asio = boost::asio;
namespace json = boost::json;
namespace bhttp = boost::beast::http;
using http::Exchange;
using http::Response;

namespace {

constexpr const char* kIntent = "chat";

std::string_view openAiType(ErrorCode c) {
  switch (httpStatus(c)) {
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 429:
      return "rate_limit_error";
    case 400:
    case 409:
    case 413:
    case 422:
      return "invalid_request_error";
    default:
      return "api_error";
  }
}

// OpenAI's error shape, which its SDKs parse: {"error":{message,type,param,code}}.
json::object openAiError(const Error& e) {
  return {{"error",
           {{"message", e.message},
            {"type", openAiType(e.code)},
            {"param", nullptr},
            {"code", errorCodeName(e.code)}}}};
}

Response openAiErrorResponse(const Error& e, const Exchange& ex) {
  auto r = http::jsonResponse(httpStatus(e.code), openAiError(e), ex.requestId);
  if (auto* ra = e.details.if_contains("retryAfterSeconds"); ra && ra->is_int64())
    r.set(bhttp::field::retry_after, std::to_string(ra->as_int64()));
  return r;
}

// Text of one message: a string, or the text parts of a content array.
std::optional<std::string> contentText(const json::value& c) {
  if (c.is_string()) return std::string(c.as_string());
  if (!c.is_array()) return std::nullopt;
  std::string out;
  for (auto& part : c.as_array()) {
    if (!part.is_object()) return std::nullopt;
    auto* t = part.as_object().if_contains("text");
    if (t && t->is_string()) out += (out.empty() ? "" : "\n") + std::string(t->as_string());
  }
  return out;
}

struct ChatRequest {
  std::string model;
  bool stream = false;
  json::array messages;
  std::string lastUser;
};

Result<ChatRequest> parseChat(const json::object& body) {
  ChatRequest r;
  auto* model = body.if_contains("model");
  if (!model || !model->is_string() || model->as_string().empty())
    return fail(ErrorCode::kInvalidRequest, "model is required");
  r.model = std::string(model->as_string());
  if (auto* s = body.if_contains("stream")) {
    if (!s->is_bool()) return fail(ErrorCode::kInvalidRequest, "stream must be true or false");
    r.stream = s->as_bool();
  }
  auto* msgs = body.if_contains("messages");
  if (!msgs || !msgs->is_array() || msgs->as_array().empty())
    return fail(ErrorCode::kInvalidRequest, "messages must be a non-empty array");
  static const std::set<std::string> kRoles{"system", "developer", "user", "assistant", "tool"};
  for (auto& m : msgs->as_array()) {
    if (!m.is_object()) return fail(ErrorCode::kInvalidRequest, "each message must be an object");
    auto* role = m.as_object().if_contains("role");
    if (!role || !role->is_string() || !kRoles.count(std::string(role->as_string())))
      return fail(ErrorCode::kInvalidRequest,
                  "message role must be system, developer, user, assistant or tool");
    auto* content = m.as_object().if_contains("content");
    auto text = content ? contentText(*content) : std::nullopt;
    if (!text)
      return fail(ErrorCode::kInvalidRequest,
                  "message content must be a string or an array of text parts");
    r.messages.push_back(json::object{{"role", role->as_string()}, {"content", *text}});
    if (role->as_string() == "user") r.lastUser = *text;
  }
  if (r.lastUser.empty())
    return fail(ErrorCode::kInvalidRequest, "messages need at least one non-empty user message");
  return r;
}

// The answer text from whatever served the intent: a provider's "content",
// or a local module's "summary" (the shipped local fallback).
std::string answerOf(const json::value& result) {
  if (result.is_object()) {
    for (const char* k : {"content", "summary", "text"})
      if (auto* v = result.as_object().if_contains(k); v && v->is_string())
        return std::string(v->as_string());
  }
  return json::serialize(result);
}

int64_t estimateTokens(size_t bytes) {
  return static_cast<int64_t>(std::ceil(bytes / 4.0));
}

// Waits until the task is finished; wakes on its events, re-checks at most
// every 500 ms.
asio::awaitable<Result<store::Task>> awaitTask(const GatewayDeps& d, const Principal& who,
                                               const std::string& id) {
  auto exec = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(exec);
  auto sub = d.control.subscribe(
      id, [timer, exec](const store::Event&) { asio::post(exec, [timer] { timer->cancel(); }); });
  for (;;) {
    auto t = co_await http::offload(d.blocking, [&] { return d.control.get(who, id); });
    if (!t || store::isTerminal(t->status)) co_return t;
    timer->expires_after(std::chrono::milliseconds(500));
    co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

json::object chunk(const std::string& id, int64_t created, const std::string& model,
                   json::object delta, json::value finish) {
  return {{"id", id},
          {"object", "chat.completion.chunk"},
          {"created", created},
          {"model", model},
          {"choices", json::array{json::object{
                          {"index", 0}, {"delta", std::move(delta)}, {"finish_reason", finish}}}}};
}

}  // namespace

void addOpenAiRoutes(http::Routes& routes, GatewayDeps d, GatewayOptions opts) {
  routes.add(bhttp::verb::get, "/v1/models",
             guarded(d, opts, [](Exchange& ex, const Principal&) -> Reply {
               json::array data{json::object{
                   {"id", kIntent}, {"object", "model"}, {"created", 0}, {"owned_by", "aionos"}}};
               co_return http::jsonResponse(200, json::object{{"object", "list"}, {"data", data}},
                                            ex.requestId);
             }));

  routes.add(
      bhttp::verb::post, "/v1/chat/completions",
      guarded(d, opts, [d](Exchange& ex, const Principal& who) -> Reply {
        auto body = http::parseJsonObject(ex.req);
        if (!body) co_return openAiErrorResponse(body.error(), ex);
        auto chat = parseChat(*body);
        if (!chat) co_return openAiErrorResponse(chat.error(), ex);
        control::SubmitRequest req;
        req.principal = who;
        req.intent = kIntent;
        req.params = json::object{{"messages", chat->messages}, {"text", chat->lastUser}};
        auto t = co_await http::offload(d.blocking, [&] { return d.control.submit(req); });
        if (!t) co_return openAiErrorResponse(t.error(), ex);
        std::string id = "chatcmpl-" + t->id;
        int64_t created = nowMs() / 1000;

        if (!chat->stream) {
          auto done = co_await awaitTask(d, who, t->id);
          if (!done) co_return openAiErrorResponse(done.error(), ex);
          if (done->status != store::TaskStatus::kSucceeded) {
            std::string msg = done->error.is_object() && done->error.as_object().contains("message")
                                  ? std::string(done->error.at("message").as_string())
                                  : "task " + std::string(store::statusName(done->status));
            co_return openAiErrorResponse(Error(ErrorCode::kModuleFailed, msg, {{"taskId", t->id}}),
                                          ex);
          }
          std::string answer = answerOf(done->result);
          int64_t pt = estimateTokens(chat->lastUser.size()), ct = estimateTokens(answer.size());
          json::object out{
              {"id", id},
              {"object", "chat.completion"},
              {"created", created},
              {"model", chat->model},
              {"choices",
               json::array{json::object{{"index", 0},
                                        {"message", {{"role", "assistant"}, {"content", answer}}},
                                        {"finish_reason", "stop"}}}},
              {"usage",
               {{"prompt_tokens", pt}, {"completion_tokens", ct}, {"total_tokens", pt + ct}}},
              {"aion", {{"taskId", t->id}, {"usageEstimated", true}}}};
          co_return http::jsonResponse(200, out, ex.requestId);
        }

        // Streaming: the role chunk at once, the answer when the task is done.
        std::string head =
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            "Connection: close\r\nX-Request-Id: " +
            ex.requestId + "\r\n\r\n";
        head += http::sseEvent(
            {}, {},
            json::serialize(chunk(id, created, chat->model,
                                  {{"role", "assistant"}, {"content", ""}}, nullptr)));
        if (!co_await writeAll(ex, std::move(head))) co_return std::nullopt;
        auto done = co_await awaitTask(d, who, t->id);
        std::string tail;
        if (!done || done->status != store::TaskStatus::kSucceeded) {
          Error e = !done ? done.error()
                          : Error(ErrorCode::kModuleFailed,
                                  "task " + std::string(store::statusName(done->status)));
          tail = http::sseEvent(
              {}, {}, json::serialize(openAiError(e)));  // a cut stream is never a clean finish
        } else {
          std::string answer = answerOf(done->result);
          // Local modules answer whole; send it in word-sized pieces as clients expect deltas.
          size_t pos = 0;
          while (pos < answer.size()) {
            size_t next = answer.find(' ', pos + 1);
            if (next == std::string::npos) next = answer.size();
            tail += http::sseEvent(
                {}, {},
                json::serialize(chunk(id, created, chat->model,
                                      {{"content", answer.substr(pos, next - pos)}}, nullptr)));
            pos = next;
          }
          tail +=
              http::sseEvent({}, {}, json::serialize(chunk(id, created, chat->model, {}, "stop")));
          tail += http::sseEvent({}, {}, "[DONE]");
        }
        co_await writeAll(ex, std::move(tail));
        co_return std::nullopt;
      }));
}

}  // namespace aion::gateway
