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
  bool includeUsage = false;  // stream_options.include_usage
  std::optional<int64_t> maxTokens;
  std::optional<double> temperature;
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
  if (auto* so = body.if_contains("stream_options"); so && !so->is_null()) {
    if (!so->is_object())
      return fail(ErrorCode::kInvalidRequest, "stream_options must be an object");
    if (auto* iu = so->as_object().if_contains("include_usage"); iu && iu->is_bool())
      r.includeUsage = iu->as_bool();
  }
  for (const char* k : {"max_tokens", "max_completion_tokens"}) {
    if (auto* mt = body.if_contains(k); mt && !mt->is_null()) {
      if (!mt->is_int64() || mt->as_int64() < 1)
        return fail(ErrorCode::kInvalidRequest, std::string(k) + " must be a positive integer");
      r.maxTokens = mt->as_int64();
    }
  }
  if (auto* t = body.if_contains("temperature"); t && !t->is_null()) {
    if (!t->is_number() || t->to_number<double>() < 0 || t->to_number<double>() > 2)
      return fail(ErrorCode::kInvalidRequest, "temperature must be a number from 0 to 2");
    r.temperature = t->to_number<double>();
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

// The answer text from whatever served the intent: a provider's "text", or
// a local module's "summary" (the shipped local fallback).
std::string answerOf(const json::value& result) {
  if (result.is_object()) {
    for (const char* k : {"text", "content", "summary"})
      if (auto* v = result.as_object().if_contains(k); v && v->is_string())
        return std::string(v->as_string());
  }
  return json::serialize(result);
}

int64_t estimateTokens(size_t bytes) {
  return static_cast<int64_t>(std::ceil(bytes / 4.0));
}

// OpenAI usage: the provider's figures when a model answered, else estimates.
json::object usageOf(const json::value& result, const ChatRequest& chat, const std::string& answer,
                     bool& estimated) {
  int64_t pt = estimateTokens(chat.lastUser.size()), ct = estimateTokens(answer.size());
  estimated = true;
  if (result.is_object())
    if (auto* u = result.as_object().if_contains("usage"); u && u->is_object()) {
      auto& uo = u->as_object();
      if (uo.contains("promptTokens") && uo.at("promptTokens").is_int64()) {
        pt = uo.at("promptTokens").as_int64();
        ct = uo.at("completionTokens").as_int64();
        estimated = uo.contains("estimated") && uo.at("estimated").as_bool();
      }
    }
  return {{"prompt_tokens", pt}, {"completion_tokens", ct}, {"total_tokens", pt + ct}};
}

std::string finishOf(const json::value& result) {
  if (result.is_object())
    if (auto* f = result.as_object().if_contains("finishReason"); f && f->is_string())
      return std::string(f->as_string());
  return "stop";
}

Error taskError(const store::Task& t) {
  if (t.error.is_object()) {
    auto& e = t.error.as_object();
    std::string msg = e.contains("message") && e.at("message").is_string()
                          ? std::string(e.at("message").as_string())
                          : "task failed";
    std::string code =
        e.contains("code") && e.at("code").is_string() ? std::string(e.at("code").as_string()) : "";
    ErrorCode c = code == "rate_limited"      ? ErrorCode::kRateLimited
                  : code == "budget_exceeded" ? ErrorCode::kBudgetExceeded
                  : code == "timeout"         ? ErrorCode::kTimeout
                  : code == "provider_error"  ? ErrorCode::kProviderError
                                              : ErrorCode::kModuleFailed;
    return Error(c, msg, {{"taskId", t.id}});
  }
  return Error(ErrorCode::kModuleFailed, "task " + std::string(store::statusName(t.status)),
               {{"taskId", t.id}});
}

// Waits until the task is finished; wakes on its events, re-checks at most
// every 500 ms.
// Wakes a handler when its task has new events. The flag closes the race
// where an event lands while the handler is reading the store: the cancel
// then finds no wait in progress, and without the flag the handler would
// sleep the whole re-check interval.
struct TaskWaker {
  std::shared_ptr<asio::steady_timer> timer;
  std::shared_ptr<std::atomic<bool>> pending = std::make_shared<std::atomic<bool>>(false);
  std::unique_ptr<events::EventBus::Subscription> sub;

  TaskWaker(const GatewayDeps& d, const std::string& id, asio::any_io_executor exec)
      : timer(std::make_shared<asio::steady_timer>(exec)) {
    sub = d.control.subscribe(id, [t = timer, p = pending, exec](const store::Event&) {
      p->store(true);
      asio::post(exec, [t] { t->cancel(); });
    });
  }
  //! Call before reading the store.
  void arm() { pending->store(false); }
  //! Waits for an event that arrived since arm(), or `maxWait`.
  asio::awaitable<void> wait(std::chrono::milliseconds maxWait) {
    if (pending->load()) co_return;
    timer->expires_after(maxWait);
    co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
  }
};

asio::awaitable<Result<store::Task>> awaitTask(const GatewayDeps& d, const Principal& who,
                                               const std::string& id) {
  TaskWaker waker(d, id, co_await asio::this_coro::executor);
  for (;;) {
    waker.arm();
    auto t = co_await http::offload(d.blocking, [&] { return d.control.get(who, id); });
    if (!t || store::isTerminal(t->status)) co_return t;
    co_await waker.wait(std::chrono::milliseconds(500));
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
        json::object params{{"messages", chat->messages}, {"text", chat->lastUser}};
        if (chat->maxTokens) params["max_tokens"] = *chat->maxTokens;
        if (chat->temperature) params["temperature"] = *chat->temperature;
        req.params = std::move(params);
        auto t = co_await http::offload(d.blocking, [&] { return d.control.submit(req); });
        if (!t) co_return openAiErrorResponse(t.error(), ex);
        std::string id = "chatcmpl-" + t->id;
        int64_t created = nowMs() / 1000;

        if (!chat->stream) {
          auto done = co_await awaitTask(d, who, t->id);
          if (!done) co_return openAiErrorResponse(done.error(), ex);
          if (done->status != store::TaskStatus::kSucceeded)
            co_return openAiErrorResponse(taskError(*done), ex);
          std::string answer = answerOf(done->result);
          bool estimated = true;
          auto usage = usageOf(done->result, *chat, answer, estimated);
          json::object out{
              {"id", id},
              {"object", "chat.completion"},
              {"created", created},
              {"model", chat->model},
              {"choices",
               json::array{json::object{{"index", 0},
                                        {"message", {{"role", "assistant"}, {"content", answer}}},
                                        {"finish_reason", finishOf(done->result)}}}},
              {"usage", usage},
              {"aion", {{"taskId", t->id}, {"usageEstimated", estimated}}}};
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
        // Follow the task's events: provider deltas go out as they arrive.
        TaskWaker waker(d, t->id, co_await asio::this_coro::executor);
        int64_t last = 0;
        bool sawDelta = false, finished = false;
        while (!finished) {
          waker.arm();
          auto evs = co_await http::offload(
              d.blocking, [&] { return d.control.events(who, t->id, last, 256); });
          if (!evs) break;
          std::string out;
          for (auto& e : *evs) {
            last = e.seq;
            if (e.type == "delta") {
              sawDelta = true;
              auto& text = e.data.at("text").as_string();
              out += http::sseEvent(
                  {}, {},
                  json::serialize(chunk(id, created, chat->model, {{"content", text}}, nullptr)));
            } else if (e.type == "done") {
              finished = true;
            }
          }
          if (!out.empty() && !co_await writeAll(ex, std::move(out))) co_return std::nullopt;
          if (finished || evs->size() == 256) continue;
          co_await waker.wait(std::chrono::milliseconds(500));
        }
        auto done = co_await http::offload(d.blocking, [&] { return d.control.get(who, t->id); });
        std::string tail;
        if (!done || done->status != store::TaskStatus::kSucceeded) {
          Error e = !done ? done.error() : taskError(*done);
          tail = http::sseEvent(
              {}, {}, json::serialize(openAiError(e)));  // a cut stream is never a clean finish
        } else {
          std::string answer = answerOf(done->result);
          // Local modules answer whole; send it in word-sized pieces as clients expect deltas.
          size_t pos = 0;
          while (!sawDelta && pos < answer.size()) {
            size_t next = answer.find(' ', pos + 1);
            if (next == std::string::npos) next = answer.size();
            tail += http::sseEvent(
                {}, {},
                json::serialize(chunk(id, created, chat->model,
                                      {{"content", answer.substr(pos, next - pos)}}, nullptr)));
            pos = next;
          }
          tail += http::sseEvent({}, {},
                                 json::serialize(chunk(id, created, chat->model, {},
                                                       json::string(finishOf(done->result)))));
          if (chat->includeUsage) {
            bool estimated = true;
            auto c = chunk(id, created, chat->model, {}, nullptr);
            c["choices"] = json::array();
            c["usage"] = usageOf(done->result, *chat, answer, estimated);
            tail += http::sseEvent({}, {}, json::serialize(c));
          }
          tail += http::sseEvent({}, {}, "[DONE]");
        }
        co_await writeAll(ex, std::move(tail));
        co_return std::nullopt;
      }));
}

}  // namespace aion::gateway
