#include "gateway/openai_codec.h"

#include <boost/json.hpp>
#include <cmath>
#include <set>

#include "common/json_text.h"
#include "http/sse.h"

namespace aion::gateway {
namespace json = boost::json;

namespace {

std::unexpected<Error> badParam(const std::string& param, std::string msg) {
  return fail(ErrorCode::kInvalidRequest, std::move(msg), {{"param", param}});
}

// Text of one message: a string, or the text parts of a content array.
std::optional<std::string> contentText(const json::value& c) {
  if (c.is_string()) return std::string(c.as_string());
  if (!c.is_array()) return std::nullopt;
  std::string out;
  for (auto& part : c.as_array()) {
    if (!part.is_object()) return std::nullopt;
    auto* t = part.as_object().if_contains("text");
    if (!t || !t->is_string()) continue;
    if (!out.empty()) out += '\n';
    out.append(t->as_string());
  }
  return out;
}

// The answer text from whatever served the intent: a provider's "text", or
// a local module's "summary".
std::string answerOf(const json::value& result) {
  if (result.is_object()) {
    for (const char* k : {"text", "content", "summary"})
      if (auto* v = result.as_object().if_contains(k); v && v->is_string())
        return std::string(v->as_string());
  }
  return jsonText(result);
}

int64_t estimateTokens(size_t bytes) {
  return static_cast<int64_t>(std::ceil(static_cast<double>(bytes) / 4.0));
}

json::object usageOf(const json::value& result, const ChatRequest& chat,
                     const std::string& answer) {
  int64_t pt = estimateTokens(chat.lastUser.size()), ct = estimateTokens(answer.size());
  if (result.is_object())
    if (auto* u = result.as_object().if_contains("usage"); u && u->is_object()) {
      auto& uo = u->as_object();
      if (uo.contains("promptTokens") && uo.at("promptTokens").is_int64()) {
        pt = uo.at("promptTokens").as_int64();
        ct = uo.at("completionTokens").as_int64();
      }
    }
  return {{"prompt_tokens", pt}, {"completion_tokens", ct}, {"total_tokens", pt + ct}};
}

bool usageEstimated(const json::value& result) {
  if (result.is_object())
    if (auto* u = result.as_object().if_contains("usage"); u && u->is_object())
      if (auto* e = u->as_object().if_contains("estimated"); e && e->is_bool()) return e->as_bool();
  return true;
}

std::string finishOf(const json::value& result) {
  if (result.is_object())
    if (auto* f = result.as_object().if_contains("finishReason");
        f && f->is_string() && !f->as_string().empty())
      return std::string(f->as_string());
  return "stop";
}

}  // namespace

Result<ChatRequest> parseChatRequest(const json::object& body) {
  ChatRequest r;
  auto* model = body.if_contains("model");
  if (!model || !model->is_string() || model->as_string().empty())
    return badParam("model", "model is required");
  r.model = std::string(model->as_string());
  if (auto* s = body.if_contains("stream"); s && !s->is_null()) {
    if (!s->is_bool()) return badParam("stream", "stream must be true or false");
    r.stream = s->as_bool();
  }
  if (auto* so = body.if_contains("stream_options"); so && !so->is_null()) {
    if (!so->is_object()) return badParam("stream_options", "stream_options must be an object");
    if (auto* iu = so->as_object().if_contains("include_usage"); iu && iu->is_bool())
      r.includeUsage = iu->as_bool();
  }
  for (const char* k : {"max_tokens", "max_completion_tokens"}) {
    if (auto* mt = body.if_contains(k); mt && !mt->is_null()) {
      if (!mt->is_int64() || mt->as_int64() < 1)
        return badParam(k, std::string(k) + " must be a positive integer");
      r.maxTokens = mt->as_int64();
    }
  }
  if (auto* t = body.if_contains("temperature"); t && !t->is_null()) {
    if (!t->is_number() || t->to_number<double>() < 0 || t->to_number<double>() > 2)
      return badParam("temperature", "temperature must be a number from 0 to 2");
    r.temperature = t->to_number<double>();
  }
  auto* msgs = body.if_contains("messages");
  if (!msgs || !msgs->is_array() || msgs->as_array().empty())
    return badParam("messages", "messages must be a non-empty array");
  static const std::set<std::string> kRoles{"system", "developer", "user", "assistant", "tool"};
  for (auto& m : msgs->as_array()) {
    if (!m.is_object()) return badParam("messages", "each message must be an object");
    auto* role = m.as_object().if_contains("role");
    if (!role || !role->is_string() || !kRoles.count(std::string(role->as_string())))
      return badParam("messages",
                      "message role must be system, developer, user, assistant or tool");
    auto* content = m.as_object().if_contains("content");
    auto text = content ? contentText(*content) : std::nullopt;
    if (!text)
      return badParam("messages", "message content must be a string or an array of text parts");
    r.messages.push_back(json::object{{"role", role->as_string()}, {"content", *text}});
    if (role->as_string() == "user") r.lastUser = *text;
  }
  if (r.lastUser.empty())
    return badParam("messages", "messages need at least one non-empty user message");
  return r;
}

json::object chatParams(const ChatRequest& c) {
  // `text` too: a local module named as the model reads the last user message.
  json::object p{{"messages", c.messages}, {"text", c.lastUser}, {"stream", c.stream}};
  if (c.maxTokens) p["max_tokens"] = *c.maxTokens;
  if (c.temperature) p["temperature"] = *c.temperature;
  return p;
}

json::object modelJson(const control::ModelEntry& m) {
  json::object o{{"id", m.id}, {"object", "model"}, {"created", 0}, {"owned_by", m.ownedBy}};
  o["aion"] = {{"intent", m.intent},
               {"route", m.route.empty() ? json::value("policy") : json::value(m.route)},
               {"available", m.unavailable.empty()}};
  if (!m.unavailable.empty()) o["aion"].as_object()["unavailable"] = m.unavailable;
  return o;
}

json::object chunkJson(const std::string& id, int64_t created, const std::string& model,
                       json::object delta, json::value finish) {
  return {{"id", id},
          {"object", "chat.completion.chunk"},
          {"created", created},
          {"model", model},
          {"choices", json::array{json::object{
                          {"index", 0}, {"delta", std::move(delta)}, {"finish_reason", finish}}}}};
}

json::object completionJson(const std::string& id, int64_t created, const std::string& model,
                            const ChatRequest& c, const json::value& result,
                            const std::string& taskId) {
  std::string answer = answerOf(result);
  return {{"id", id},
          {"object", "chat.completion"},
          {"created", created},
          {"model", model},
          {"choices",
           json::array{json::object{{"index", 0},
                                    {"message", {{"role", "assistant"}, {"content", answer}}},
                                    {"finish_reason", finishOf(result)}}}},
          {"usage", usageOf(result, c, answer)},
          {"aion", {{"taskId", taskId}, {"usageEstimated", usageEstimated(result)}}}};
}

std::string finalChunks(const std::string& id, int64_t created, const std::string& model,
                        const ChatRequest& c, const json::value& result, bool streamed) {
  std::string out;
  std::string answer = answerOf(result);
  // Local modules answer whole; send it in word-sized pieces as clients expect deltas.
  for (size_t pos = 0; !streamed && pos < answer.size();) {
    size_t next = answer.find(' ', pos + 1);
    if (next == std::string::npos) next = answer.size();
    out +=
        http::sseEvent({}, {},
                       jsonText(chunkJson(id, created, model,
                                          {{"content", answer.substr(pos, next - pos)}}, nullptr)));
    pos = next;
  }
  out += http::sseEvent(
      {}, {}, jsonText(chunkJson(id, created, model, {}, json::string(finishOf(result)))));
  if (c.includeUsage) {
    auto u = chunkJson(id, created, model, {}, nullptr);
    u["choices"] = json::array();
    u["usage"] = usageOf(result, c, answer);
    out += http::sseEvent({}, {}, jsonText(u));
  }
  out += http::sseEvent({}, {}, "[DONE]");
  return out;
}

Error errorFromJson(const json::object& e) {
  std::string msg = e.contains("message") && e.at("message").is_string()
                        ? std::string(e.at("message").as_string())
                        : "task failed";
  ErrorCode code = ErrorCode::kInternal;
  if (auto* c = e.if_contains("code"); c && c->is_string())
    code = parseErrorCode(c->as_string()).value_or(ErrorCode::kInternal);
  json::object details;
  if (auto* d = e.if_contains("details"); d && d->is_object()) details = d->as_object();
  return Error(code, msg, std::move(details));
}

}  // namespace aion::gateway
