#include "gateway/openai_http.h"

#include <boost/json.hpp>
#include <cmath>
#include <set>

#include "common/ids.h"
#include "common/json_text.h"
#include "gateway/openai_codec.h"
#include "gateway/responses_codec.h"
#include "gateway/route_guard.h"
#include "http/client_watch.h"
#include "http/handler_util.h"
#include "http/sse.h"
#include "providers/wire.h"

namespace aion::gateway {
namespace asio = boost::asio;
namespace json = boost::json;
namespace bhttp = boost::beast::http;
using http::Exchange;
using http::Response;

namespace {

constexpr const char* kIntent = "chat";
constexpr const char* kEmbedIntent = "embed";

Response openAiErrorResponse(const Error& e, const Exchange& ex) {
  auto r = http::jsonResponse(openAiStatus(e), openAiError(e), ex.requestId);
  if (auto* ra = e.details.if_contains("retryAfterSeconds"); ra && ra->is_number())
    r.set(bhttp::field::retry_after, std::to_string(ra->to_number<int64_t>()));
  return r;
}

// How the task ended, from its events: the result or the error, and where.
struct Outcome {
  store::TaskStatus status = store::TaskStatus::kFailed;
  json::value result;
  std::optional<Error> error;
  std::string route;                // the route that answered
  std::vector<std::string> failed;  // routes that failed before it, in order
  bool sawDelta = false;
};

// Takes the result out of `e`: the follower's events are the caller's own.
void absorb(Outcome& o, store::Event& e) {
  if (e.type == "delta") {
    o.sawDelta = true;
    if (o.route.empty() && e.data.is_object())
      if (auto* r = e.data.as_object().if_contains("route"); r && r->is_string())
        o.route = std::string(r->as_string());
  } else if (e.type == "attempt" && e.data.is_object()) {
    if (auto* r = e.data.as_object().if_contains("route"); r && r->is_string())
      o.failed.emplace_back(r->as_string());
  } else if (e.type == "result" && e.data.is_object()) {
    auto& d = e.data.as_object();
    if (auto* r = d.if_contains("result")) o.result = std::move(*r);
    if (auto* r = d.if_contains("route"); r && r->is_string())
      o.route = std::string(r->as_string());
  } else if (e.type == "error" && e.data.is_object()) {
    if (auto* err = e.data.as_object().if_contains("error"); err && err->is_object())
      o.error = errorFromJson(err->as_object());
  } else if (e.type == "done" && e.data.is_object()) {
    if (auto* s = e.data.as_object().if_contains("status"); s && s->is_string())
      o.status = store::parseStatus(s->as_string()).value_or(store::TaskStatus::kFailed);
  }
}

Error outcomeError(const Outcome& o, const std::string& taskId) {
  Error e = o.error.value_or(
      o.status == store::TaskStatus::kCanceled
          ? Error(ErrorCode::kCanceled, "the request was canceled")
          : Error(ErrorCode::kInternal, "task ended " + std::string(store::statusName(o.status))));
  e.details["taskId"] = taskId;
  return e;
}

// The routes that failed before the one that answered: a fallback is
// never silent.
std::string fallbackHeader(const Outcome& o) {
  std::string out;
  for (auto& f : o.failed) {
    if (!out.empty()) out += ", ";
    out += f;
  }
  return out;
}

void setAionHeaders(Response& r, const std::string& taskId, const Outcome& o) {
  r.set("x-aion-task-id", taskId);
  if (!o.route.empty()) r.set("x-aion-route", o.route);
  if (!o.failed.empty()) r.set("x-aion-fallback-from", fallbackHeader(o));
  double cost = 0;
  if (o.result.is_object())
    if (auto* c = o.result.as_object().if_contains("costUsd"); c && c->is_number())
      cost = c->to_number<double>();
  r.set("x-aion-cost-usd", jsonText(json::value(cost)));
}

// The head of a streamed answer, written with its first frame: by then the
// route that answers is known, and a failure before it is a plain HTTP error.
std::string streamHead(const Exchange& ex, const std::string& taskId, const Outcome& o) {
  std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
      "Connection: close\r\nX-Request-Id: ";
  head += ex.requestId;
  head += "\r\nx-aion-task-id: ";
  head += taskId;
  head += "\r\nx-aion-route: ";
  head += o.route;
  if (!o.failed.empty()) {
    head += "\r\nx-aion-fallback-from: ";
    head += fallbackHeader(o);
  }
  head += "\r\nx-aion-trace-id: ";
  head += ex.traceId;
  head += "\r\n\r\n";
  return head;
}

// The task an OpenAI-compatible call becomes: the model picks the route,
// the caller waits for it (attached), written behind in async durability.
control::SubmitRequest taskFor(const Exchange& ex, const Principal& who, const char* intent,
                               json::object params, const control::ModelEntry& model,
                               const GatewayOptions& opts) {
  control::SubmitRequest req;
  req.traceId = ex.traceId;
  req.parentSpanId = ex.spanId;
  req.sampled = ex.sampled;
  req.traceState = ex.traceState;
  req.principal = who;
  req.intent = intent;
  req.params = std::move(params);
  req.surface = "openai";
  req.route = model.route;
  req.behind = opts.openAiBehind;
  req.attached = true;
  req.followFromAdmission = true;
  return req;
}

// Follows a task this request submitted to its end. nullopt: the client
// left first; the task is then canceled (what it used is billed).
asio::awaitable<Result<std::optional<Outcome>>> outcomeOf(const GatewayDeps& d, Exchange& ex,
                                                          const Principal& who,
                                                          const std::string& taskId,
                                                          events::Follower& follower) {
  Outcome out;
  bool left = false;
  http::ClientWatch watch(ex, [&follower, &left] {
    left = true;
    follower.interrupt();
  });
  while (!follower.finished() && !left) {
    auto evs = co_await follower.next(std::chrono::seconds(30));
    if (!evs) {
      co_await watch.stop();
      co_return std::unexpected(evs.error());
    }
    for (auto& e : *evs) absorb(out, e);
  }
  co_await watch.stop();
  if (left) {
    co_await d.control.cancel(who, taskId, kClientLeft);
    ex.closeAfter = true;
    co_return std::optional<Outcome>();
  }
  co_return std::optional<Outcome>(std::move(out));
}

// Waits for a task this request submitted and answers: its error when it did
// not succeed, else `ok(result)`, both with the aionOS headers; nullopt when
// the client left first (outcomeOf canceled the task).
template <typename Ok>
asio::awaitable<std::optional<Response>> answerWhenDone(const GatewayDeps& d, Exchange& ex,
                                                        const Principal& who, control::Attached& a,
                                                        Ok ok) {
  const std::string& taskId = a.task.id;
  auto o = co_await outcomeOf(d, ex, who, taskId, *a.follower);
  if (!o) co_return openAiErrorResponse(o.error(), ex);
  if (!*o) co_return std::nullopt;
  const Outcome& out = **o;
  Response r = out.status == store::TaskStatus::kSucceeded
                   ? http::jsonResponse(200, ok(out.result), ex.requestId)
                   : openAiErrorResponse(outcomeError(out, taskId), ex);
  setAionHeaders(r, taskId, out);
  co_return r;
}

// What a streamed answer writes at each step: chat.completion.chunk frames,
// or the Responses API's typed events. Each opens its stream with its first
// frames.
class StreamFramer {
 public:
  virtual ~StreamFramer() = default;
  virtual std::string delta(const json::value& deltaEvent) = 0;
  virtual std::string done(const json::value& result, bool streamed) = 0;
  virtual std::string failed(const json::object& openAiError) = 0;
};

class ChatFramer : public StreamFramer {
 public:
  ChatFramer(std::string id, int64_t created, const ChatRequest& c)
      : id_(std::move(id)), created_(created), chat_(c) {}
  std::string delta(const json::value& d) override {
    auto frame = deltaChunk(id_, created_, chat_.model, d);
    if (frame.empty()) return frame;
    auto& o = d.as_object();
    auto* text = o.if_contains("text");
    bool toolsFirst =
        o.contains("toolCalls") && (!text || !text->is_string() || text->as_string().empty());
    int64_t choice =
        o.contains("choice") && o.at("choice").is_int64() ? o.at("choice").as_int64() : 0;
    return open(choice, toolsFirst) + frame;
  }
  std::string done(const json::value& result, bool streamed) override {
    bool toolsFirst = !streamed && answerText(result).empty() && resultField(result, "toolCalls");
    return open(0, toolsFirst) + finalChunks(id_, created_, chat_.model, chat_, result, streamed);
  }
  std::string failed(const json::object& err) override {
    return open(0, false) + http::sseEvent({}, {}, jsonText(err));
  }

 private:
  // Each choice's role chunk, before its first delta; its content is null
  // when tool calls come first, as OpenAI's.
  std::string open(int64_t choice, bool toolsFirst) {
    if (!opened_.insert(choice).second) return {};
    json::object delta{{"role", "assistant"}};
    delta["content"] = toolsFirst ? json::value(nullptr) : json::value("");
    return http::sseEvent({}, {},
                          jsonText(chunkJson(id_, created_, chat_.model, delta, nullptr, choice)));
  }
  std::string id_;
  int64_t created_;
  const ChatRequest& chat_;
  std::set<int64_t> opened_;
};

class ResponsesFramer : public StreamFramer {
 public:
  explicit ResponsesFramer(ResponsesStream& s) : s_(s) {}
  std::string delta(const json::value& d) override { return open() + s_.delta(d); }
  std::string done(const json::value& result, bool streamed) override {
    return open() + s_.done(result, streamed);
  }
  std::string failed(const json::object& err) override { return open() + s_.failed(err); }

 private:
  std::string open() { return std::exchange(opened_, true) ? std::string() : s_.open(); }
  ResponsesStream& s_;
  bool opened_ = false;
};

// Streams a task this request submitted, the one way for every OpenAI
// stream: frames go out as events are published, the head with the first
// (by then the answering route is known, and a failure before it is a plain
// HTTP error); a failure after it ends with an error frame, never a clean
// finish. The task is canceled if the client leaves.
asio::awaitable<std::optional<Response>> streamTask(const GatewayDeps& d, Exchange& ex,
                                                    const Principal& who, control::Attached& a,
                                                    StreamFramer& framer) {
  const std::string& taskId = a.task.id;
  auto& follower = *a.follower;
  Outcome out;
  bool left = false;
  http::ClientWatch watch(ex, [&follower, &left] {
    left = true;
    follower.interrupt();
  });
  bool ok = true, headSent = false;
  while (ok && !follower.finished() && !left) {
    auto evs = co_await follower.next(std::chrono::seconds(15));
    if (!evs) break;
    std::string frames;
    for (auto& e : *evs) {
      absorb(out, e);
      if (e.type == "delta") frames += framer.delta(e.data);
    }
    if (frames.empty()) continue;
    if (!headSent) {
      frames = streamHead(ex, taskId, out) + frames;
      headSent = true;
    }
    ok = co_await writeAll(ex, std::move(frames));
  }
  if (ok && !left && follower.finished()) {
    bool succeeded = out.status == store::TaskStatus::kSucceeded;
    if (!headSent && !succeeded) {
      co_await watch.stop();
      Response r = openAiErrorResponse(outcomeError(out, taskId), ex);
      setAionHeaders(r, taskId, out);
      co_return r;
    }
    std::string tail = headSent ? std::string() : streamHead(ex, taskId, out);
    tail += succeeded ? framer.done(out.result, out.sawDelta)
                      : framer.failed(openAiError(outcomeError(out, taskId)));
    ok = co_await writeAll(ex, std::move(tail));
  }
  co_await watch.stop();
  if (left || !ok || !follower.finished()) co_await d.control.cancel(who, taskId, kClientLeft);
  co_return std::nullopt;
}

// Submits the chat task of an OpenAI request (chat or Responses) and follows
// it: the model picks the route, a local module refuses what it cannot
// honour, a stream takes a slot that lives as long as `slot`.
asio::awaitable<Result<control::Attached>> submitChat(const GatewayDeps& d,
                                                      const GatewayOptions& opts,
                                                      const Exchange& ex, const Principal& who,
                                                      const ChatRequest& chat,
                                                      std::unique_ptr<StreamSlots::Slot>& slot) {
  auto model = d.control.model(chat.model, kIntent);
  if (!model) co_return std::unexpected(model.error());
  if (model->route.starts_with("module:")) {
    providers::ChatCall probe;
    probe.messages = chat.messages;
    probe.options = chat.options;
    if (auto st = providers::checkChat(std::nullopt, probe); !st)
      co_return std::unexpected(st.error());
  }
  if (chat.stream) {
    auto s = d.admission.streamSlot();
    if (!s) co_return std::unexpected(s.error());
    slot = std::move(*s);
  }
  auto req = taskFor(ex, who, kIntent, chatParams(chat), *model, opts);
  co_return co_await d.control.submitAttached(std::move(req));
}

}  // namespace

unsigned openAiStatus(const Error& e) {
  switch (e.code) {
    case ErrorCode::kInvalidParams:
    case ErrorCode::kUnknownIntent:
      return 400;  // OpenAI answers bad parameters with 400, not 422
    case ErrorCode::kNoRoute:
      return 503;  // nothing configured can serve it: a server-side condition
    default:
      return static_cast<unsigned>(httpStatus(e.code));
  }
}

json::object openAiError(const Error& e) {
  std::string_view type = http::errorType(openAiStatus(e));
  json::value param = nullptr;
  if (auto* p = e.details.if_contains("param"); p && p->is_string()) {
    param = *p;
  } else if (e.code == ErrorCode::kInvalidParams && e.message.starts_with("params.")) {
    // The intent's schema names the field ("params.max_tokens: greater than
    // maximum 512"): its top-level name is the request's parameter.
    auto name = e.message.substr(7, e.message.find_first_of(".[: ", 7) - 7);
    // params.context came from the body's aion.context (openai_codec.h).
    if (name == "context") name = "aion";
    if (!name.empty()) param = json::string(name);
  }
  std::string code(errorCodeName(e.code));
  if (auto* c = e.details.if_contains("openaiCode"); c && c->is_string())
    code = std::string(c->as_string());
  return {{"error", {{"message", e.message}, {"type", type}, {"param", param}, {"code", code}}}};
}

void addOpenAiRoutes(http::Routes& routes, GatewayDeps d, GatewayOptions opts) {
  routes.add(bhttp::verb::get, "/v1/models", guarded(d, [d](Exchange& ex, Admitted&) -> Reply {
               json::array data;
               for (auto& m : d.control.models()) data.push_back(modelJson(m));
               co_return http::jsonResponse(200, json::object{{"object", "list"}, {"data", data}},
                                            ex.requestId);
             }));
  routes.add(bhttp::verb::get, "/v1/models/{id}", guarded(d, [d](Exchange& ex, Admitted&) -> Reply {
               auto m = d.control.model(ex.params["id"], "");
               if (!m) co_return openAiErrorResponse(m.error(), ex);
               co_return http::jsonResponse(200, modelJson(*m), ex.requestId);
             }));

  routes.add(bhttp::verb::post, "/v1/chat/completions",
             guarded(d, [d, opts](Exchange& ex, Admitted& a) -> Reply {
               auto body = http::parseJsonObject(ex.req);
               if (!body) co_return openAiErrorResponse(body.error(), ex);
               auto chat = parseChatRequest(*body);
               if (!chat) co_return openAiErrorResponse(chat.error(), ex);
               std::unique_ptr<StreamSlots::Slot> slot;
               auto t = co_await submitChat(d, opts, ex, a.who, *chat, slot);
               if (!t) co_return openAiErrorResponse(t.error(), ex);
               const std::string& taskId = t->task.id;
               std::string id = "chatcmpl-" + taskId;
               int64_t created = nowMs() / 1000;
               if (chat->stream) {
                 ChatFramer framer(id, created, *chat);
                 co_return co_await streamTask(d, ex, a.who, *t, framer);
               }
               // Named, not written in the co_await: GCC 12 (common/async.h).
               auto completion = [&](const json::value& result) {
                 return completionJson(id, created, chat->model, *chat, result, taskId);
               };
               co_return co_await answerWhenDone(d, ex, a.who, *t, completion);
             }));

  routes.add(bhttp::verb::post, "/v1/responses",
             guarded(d, [d, opts](Exchange& ex, Admitted& a) -> Reply {
               auto body = http::parseJsonObject(ex.req);
               if (!body) co_return openAiErrorResponse(body.error(), ex);
               auto rr = parseResponsesRequest(*body);
               if (!rr) co_return openAiErrorResponse(rr.error(), ex);
               std::unique_ptr<StreamSlots::Slot> slot;
               auto t = co_await submitChat(d, opts, ex, a.who, rr->chat, slot);
               if (!t) co_return openAiErrorResponse(t.error(), ex);
               const std::string& taskId = t->task.id;
               int64_t created = nowMs() / 1000;
               if (rr->chat.stream) {
                 ResponsesStream events(taskId, created, *rr);
                 ResponsesFramer framer(events);
                 co_return co_await streamTask(d, ex, a.who, *t, framer);
               }
               auto response = [&](const json::value& result) {
                 return responseJson(taskId, created, *rr, result);
               };
               co_return co_await answerWhenDone(d, ex, a.who, *t, response);
             }));

  routes.add(bhttp::verb::post, "/v1/embeddings",
             guarded(d, [d, opts](Exchange& ex, Admitted& a) -> Reply {
               auto body = http::parseJsonObject(ex.req);
               if (!body) co_return openAiErrorResponse(body.error(), ex);
               auto emb = parseEmbeddingRequest(*body);
               if (!emb) co_return openAiErrorResponse(emb.error(), ex);
               auto model = d.control.model(emb->model, kEmbedIntent);
               if (!model) co_return openAiErrorResponse(model.error(), ex);
               auto req = taskFor(ex, a.who, kEmbedIntent, embedParams(*emb), *model, opts);
               auto t = co_await d.control.submitAttached(std::move(req));
               if (!t) co_return openAiErrorResponse(t.error(), ex);
               auto list = [&](const json::value& result) { return embeddingsJson(*emb, result); };
               co_return co_await answerWhenDone(d, ex, a.who, *t, list);
             }));
}

}  // namespace aion::gateway
