#include "gateway/openai_codec.h"

#include <algorithm>
#include <array>
#include <bit>
#include <boost/json.hpp>
#include <cmath>
#include <cstring>
#include <set>

#include "common/json_text.h"
#include "http/sse.h"
#include "trust/signing.h"

namespace aion::gateway {
namespace json = boost::json;

namespace {

std::unexpected<Error> badParam(const std::string& param, std::string msg) {
  return fail(ErrorCode::kInvalidRequest, std::move(msg), {{"param", param}});
}

std::unexpected<Error> unsupported(const std::string& param, std::string msg) {
  return fail(ErrorCode::kInvalidRequest, std::move(msg),
              {{"param", param}, {"openaiCode", "unsupported_parameter"}});
}

std::unexpected<Error> notYet(const std::string& param) {
  std::string msg = "'";  // appended, not `"'" + param`: GCC 12 warns falsely (-Wrestrict)
  msg += param;
  msg += "' is not supported by aionOS yet";
  return unsupported(param, std::move(msg));
}

// Text of one message: a string, or the text parts of a content array.
// Other parts (images, audio, files) are refused, not dropped: no route
// carries them yet.
Result<std::string> contentText(const json::value& c) {
  auto bad = [] {
    return badParam("messages", "message content must be a string or an array of text parts");
  };
  if (c.is_string()) return std::string(c.as_string());
  if (!c.is_array()) return bad();
  std::string out;
  for (auto& part : c.as_array()) {
    if (!part.is_object()) return bad();
    auto* type = part.as_object().if_contains("type");
    if (type && type->is_string() && type->as_string() != "text")
      return unsupported("messages", "content parts of type '" + std::string(type->as_string()) +
                                         "' are not supported by aionOS yet; send text parts");
    auto* t = part.as_object().if_contains("text");
    if (!t || !t->is_string()) return bad();
    if (!out.empty()) out += '\n';
    out.append(t->as_string());
  }
  return out;
}

// What a Chat Completions body may carry. Parameters aionOS does not carry
// to any route yet are refused by name, never dropped: an agent that sends
// `tools` must not get a plain answer back as if it had sent none. Checked
// in this order, so the error names the same parameter whatever the body's
// key order.
constexpr std::array<std::string_view, 22> kNotYet{"tools",
                                                   "tool_choice",
                                                   "parallel_tool_calls",
                                                   "functions",
                                                   "function_call",
                                                   "stop",
                                                   "seed",
                                                   "top_logprobs",
                                                   "top_p",
                                                   "frequency_penalty",
                                                   "presence_penalty",
                                                   "logit_bias",
                                                   "modalities",
                                                   "audio",
                                                   "prediction",
                                                   "store",
                                                   "metadata",
                                                   "reasoning_effort",
                                                   "service_tier",
                                                   "web_search_options",
                                                   "verbosity",
                                                   "prompt_cache_key"};
constexpr std::array<std::string_view, 12> kHonoured{
    "model",       "messages", "stream", "stream_options",    "max_tokens", "max_completion_tokens",
    "temperature", "n",        "user",   "safety_identifier", "logprobs",   "response_format"};

template <size_t N>
bool among(const std::array<std::string_view, N>& names, std::string_view k) {
  return std::find(names.begin(), names.end(), k) != names.end();
}

Status checkParameters(const json::object& body) {
  for (std::string_view k : kNotYet)
    if (auto* v = body.if_contains(k); v && !v->is_null()) return notYet(std::string(k));
  for (auto& [k, v] : body) {
    if (v.is_null() || among(kHonoured, k) || among(kNotYet, k)) continue;
    std::string name(k);
    return fail(ErrorCode::kInvalidRequest, "Unrecognized request argument supplied: " + name,
                {{"param", name}, {"openaiCode", "unknown_parameter"}});
  }
  // Honoured only at their defaults.
  if (auto* n = body.if_contains("n"); n && !n->is_null() && !(n->is_int64() && n->as_int64() == 1))
    return unsupported("n", "only n=1 is supported: one choice per request");
  if (auto* l = body.if_contains("logprobs");
      l && !l->is_null() && !(l->is_bool() && !l->as_bool()))
    return unsupported("logprobs", "logprobs are not supported by aionOS yet");
  if (auto* rf = body.if_contains("response_format"); rf && !rf->is_null()) {
    auto* type = rf->is_object() ? rf->as_object().if_contains("type") : nullptr;
    if (!type || !type->is_string())
      return badParam("response_format", "response_format must be an object with a type");
    if (type->as_string() != "text")
      return unsupported("response_format", "response_format of type '" +
                                                std::string(type->as_string()) +
                                                "' is not supported by aionOS yet");
  }
  if (auto* u = body.if_contains("user"); u && !u->is_null() && !u->is_string())
    return badParam("user", "user must be a string");
  return {};
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
  if (auto st = checkParameters(body); !st) return std::unexpected(st.error());
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
    if (!content)
      return badParam("messages", "message content must be a string or an array of text parts");
    auto text = contentText(*content);
    if (!text) return std::unexpected(text.error());
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

Result<EmbeddingRequest> parseEmbeddingRequest(const json::object& body) {
  static constexpr std::array<std::string_view, 4> kKnown{"model", "input", "encoding_format",
                                                          "user"};
  if (auto* dim = body.if_contains("dimensions"); dim && !dim->is_null())
    return notYet("dimensions");
  for (auto& [k, v] : body) {
    if (v.is_null() || among(kKnown, k) || k == "dimensions") continue;
    std::string name(k);
    return fail(ErrorCode::kInvalidRequest, "Unrecognized request argument supplied: " + name,
                {{"param", name}, {"openaiCode", "unknown_parameter"}});
  }
  EmbeddingRequest r;
  auto* model = body.if_contains("model");
  if (!model || !model->is_string() || model->as_string().empty())
    return badParam("model", "model is required");
  r.model = std::string(model->as_string());
  auto* input = body.if_contains("input");
  auto badInput = [] {
    return badParam("input", "input must be a non-empty string or an array of 1 to 256 of them");
  };
  if (!input) return badInput();
  if (input->is_string()) {
    if (input->as_string().empty()) return badInput();
  } else if (input->is_array()) {
    auto& a = input->as_array();
    if (a.empty() || a.size() > 256) return badInput();
    for (auto& v : a) {
      if (v.is_int64() || v.is_array())
        return unsupported("input", "token arrays as input are not supported by aionOS yet");
      if (!v.is_string() || v.as_string().empty()) return badInput();
    }
  } else {
    return badInput();
  }
  r.input = *input;
  if (auto* f = body.if_contains("encoding_format"); f && !f->is_null()) {
    if (!f->is_string() || (f->as_string() != "float" && f->as_string() != "base64"))
      return badParam("encoding_format", "encoding_format must be 'float' or 'base64'");
    r.base64 = f->as_string() == "base64";
  }
  if (auto* u = body.if_contains("user"); u && !u->is_null() && !u->is_string())
    return badParam("user", "user must be a string");
  return r;
}

json::object embedParams(const EmbeddingRequest& e) {
  return {{"input", e.input}};
}

json::object embeddingsJson(const EmbeddingRequest& e, const json::value& result) {
  static_assert(std::endian::native == std::endian::little, "base64 embeddings are little-endian");
  json::array data;
  int64_t tokens = 0;
  if (result.is_object()) {
    auto& r = result.as_object();
    if (auto* vs = r.if_contains("embeddings"); vs && vs->is_array()) {
      for (auto& v : vs->as_array()) {
        json::value emb = v;
        if (e.base64 && v.is_array()) {
          std::string bytes;
          bytes.reserve(v.as_array().size() * 4);
          for (auto& x : v.as_array()) {
            auto f = static_cast<float>(x.is_number() ? x.to_number<double>() : 0.0);
            char b[4];
            std::memcpy(b, &f, 4);
            bytes.append(b, 4);
          }
          emb = json::string(trust::base64Encode(bytes));
        }
        data.push_back(json::object{
            {"object", "embedding"}, {"index", data.size()}, {"embedding", std::move(emb)}});
      }
    }
    if (auto* u = r.if_contains("usage"); u && u->is_object())
      if (auto* pt = u->as_object().if_contains("promptTokens"); pt && pt->is_int64())
        tokens = pt->as_int64();
  }
  return {{"object", "list"},
          {"data", std::move(data)},
          {"model", e.model},
          {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}};
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
