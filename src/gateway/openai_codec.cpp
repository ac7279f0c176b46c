#include "gateway/openai_codec.h"

#include <algorithm>
#include <array>
#include <bit>
#include <boost/json.hpp>
#include <cmath>
#include <cstring>
#include <regex>
#include <set>

#include "common/json_text.h"
#include "http/sse.h"
#include "providers/wire.h"
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

bool isString(const json::value* v) {
  return v && v->is_string();
}

// One message's content: a string, null beside tool calls, or text and
// image_url parts (which routes carry images is the route's to say).
// Returns the text for `lastUser`.
Result<std::string> checkContent(const json::value* c, bool mayBeNull) {
  auto bad = [] {
    return badParam("messages", "message content must be a string or an array of content parts");
  };
  if (!c || c->is_null()) {
    if (mayBeNull) return std::string();
    return bad();
  }
  if (c->is_string()) return std::string(c->as_string());
  if (!c->is_array()) return bad();
  std::string out;
  for (auto& part : c->as_array()) {
    if (!part.is_object()) return bad();
    auto& po = part.as_object();
    auto* type = po.if_contains("type");
    std::string_view t = isString(type) ? std::string_view(type->as_string()) : "text";
    if (t == "text") {
      auto* tx = po.if_contains("text");
      if (!isString(tx)) return bad();
      if (!out.empty()) out += '\n';
      out.append(tx->as_string());
    } else if (t == "image_url") {
      auto* iu = po.if_contains("image_url");
      if (!iu || !iu->is_object() || !isString(iu->as_object().if_contains("url")))
        return badParam("messages", "an image_url part needs image_url.url");
    } else {
      return unsupported("messages", "content parts of type '" + std::string(t) +
                                         "' are not supported by aionOS yet");
    }
  }
  return out;
}

Status checkToolCalls(const json::value& v) {
  auto bad = [] {
    return badParam("messages",
                    "tool_calls must be [{id, type: \"function\", function: {name, arguments}}]");
  };
  if (!v.is_array()) return bad();
  for (auto& tc : v.as_array()) {
    if (!tc.is_object()) return bad();
    auto& o = tc.as_object();
    auto* f = o.if_contains("function");
    if (!isString(o.if_contains("id")) || !f || !f->is_object() ||
        !isString(f->as_object().if_contains("name")) ||
        !isString(f->as_object().if_contains("arguments")))
      return bad();
  }
  return {};
}

// Validates and copies one message, keeping only the fields of its role.
Result<json::object> checkMessage(const json::value& m, std::string& text) {
  static const std::set<std::string> kRoles{"system", "developer", "user", "assistant", "tool"};
  if (!m.is_object()) return badParam("messages", "each message must be an object");
  auto& mo = m.as_object();
  auto* role = mo.if_contains("role");
  if (!isString(role) || !kRoles.count(std::string(role->as_string())))
    return badParam("messages", "message role must be system, developer, user, assistant or tool");
  std::string_view r = role->as_string();
  json::object out{{"role", *role}};
  auto* calls = mo.if_contains("tool_calls");
  bool hasCalls = r == "assistant" && calls && !calls->is_null();
  auto content = checkContent(mo.if_contains("content"), hasCalls);
  if (!content) return std::unexpected(content.error());
  text = std::move(*content);
  auto* c = mo.if_contains("content");
  out["content"] = c ? *c : json::value(nullptr);
  if (hasCalls) {
    if (auto st = checkToolCalls(*calls); !st) return std::unexpected(st.error());
    out["tool_calls"] = *calls;
  }
  if (r == "tool") {
    auto* id = mo.if_contains("tool_call_id");
    if (!isString(id)) return badParam("messages", "a tool message needs tool_call_id");
    out["tool_call_id"] = *id;
  }
  if (auto* n = mo.if_contains("name"); n && !n->is_null()) {
    if (!n->is_string()) return badParam("messages", "message name must be a string");
    out["name"] = *n;
  }
  return out;
}

// What a Chat Completions body may carry. Parameters aionOS does not carry
// to any route yet are refused by name, never dropped. Checked in this
// order, so the error names the same parameter whatever the body's key order.
constexpr std::array<std::string_view, 12> kNotYet{
    "functions",    "function_call",      "logit_bias", "modalities",
    "audio",        "prediction",         "store",      "reasoning_effort",
    "service_tier", "web_search_options", "verbosity",  "prompt_cache_key"};
constexpr std::array<std::string_view, 11> kHonoured{"model",       "messages",
                                                     "stream",      "stream_options",
                                                     "max_tokens",  "max_completion_tokens",
                                                     "temperature", "safety_identifier",
                                                     "metadata",    "logprobs",
                                                     "aion"};

// aionOS's own extension of the body (the OpenAI SDKs send it with
// extra_body): {"context": {"collection", "top_k"?, "query"?}} becomes the
// chat task's params.context (docs/retrieval.md). The shapes are checked
// here; the ranges (top_k, query length) by the chat intent's schema.
Result<json::object> contextOf(const json::value& ext) {
  auto bad = [](std::string msg) { return badParam("aion", std::move(msg)); };
  if (!ext.is_object()) return bad("aion must be an object ({\"context\": {...}})");
  json::object ctx;
  for (auto& [k, v] : ext.as_object()) {
    if (k != "context") return bad("aion." + std::string(k) + " is unknown (use aion.context)");
    if (!v.is_object())
      return bad("aion.context must be an object: {\"collection\", \"top_k\"?, \"query\"?}");
    ctx = v.as_object();
  }
  for (auto& [k, v] : ctx) {
    if (k == "collection") {
      if (!v.is_string()) return bad("aion.context.collection must be a string");
      if (auto st = control::checkCollectionName(std::string(v.as_string())); !st)
        return bad("aion.context.collection: " + st.error().message);
    } else if (k == "top_k") {
      if (!v.is_int64() || v.as_int64() < 1)
        return bad("aion.context.top_k must be a positive integer");
    } else if (k == "query") {
      if (!v.is_string() || v.as_string().empty())
        return bad("aion.context.query must be a non-empty string");
    } else {
      return bad("aion.context." + std::string(k) + " is unknown (use collection, top_k, query)");
    }
  }
  if (!ext.as_object().empty() && !ctx.contains("collection"))
    return bad("aion.context.collection is required");
  return ctx;
}

Status checkTools(const json::value& v) {
  static const std::regex kName("^[a-zA-Z0-9_-]{1,64}$");
  if (!v.is_array() || v.as_array().size() > 128)
    return badParam("tools", "tools must be an array of at most 128 function tools");
  for (auto& t : v.as_array()) {
    auto* type = t.is_object() ? t.as_object().if_contains("type") : nullptr;
    if (!isString(type)) return badParam("tools", "each tool needs a type");
    if (type->as_string() != "function")
      return unsupported("tools", "tools of type '" + std::string(type->as_string()) +
                                      "' are not supported by aionOS yet; use function tools");
    auto* f = t.as_object().if_contains("function");
    if (!f || !f->is_object()) return badParam("tools", "a function tool needs function");
    auto& fo = f->as_object();
    auto* name = fo.if_contains("name");
    if (!isString(name) || !std::regex_match(std::string(name->as_string()), kName))
      return badParam("tools", "function.name must be 1-64 letters, digits, _ or -");
    if (auto* p = fo.if_contains("parameters"); p && !p->is_null() && !p->is_object())
      return badParam("tools", "function.parameters must be a JSON schema object");
  }
  return {};
}

bool hasToolNamed(const json::object& body, std::string_view name) {
  auto* tools = body.if_contains("tools");
  if (!tools || !tools->is_array()) return false;
  for (auto& t : tools->as_array())
    if (t.as_object().at("function").as_object().at("name").as_string() == name) return true;
  return false;
}

Status checkToolChoice(const json::object& body, const json::value& v) {
  if (v.is_string()) {
    std::string_view s = v.as_string();
    if (s != "none" && s != "auto" && s != "required")
      return badParam("tool_choice", "tool_choice must be none, auto, required or a function");
    if (s == "required" && !body.contains("tools"))
      return badParam("tool_choice", "tool_choice 'required' needs tools");
    return {};
  }
  auto* type = v.is_object() ? v.as_object().if_contains("type") : nullptr;
  auto* f = v.is_object() ? v.as_object().if_contains("function") : nullptr;
  auto* name = f && f->is_object() ? f->as_object().if_contains("name") : nullptr;
  if (!isString(name) || !isString(type) || type->as_string() != "function")
    return badParam(
        "tool_choice",
        "tool_choice must be none, auto, required or {type: function, function: {name}}");
  if (!hasToolNamed(body, name->as_string()))
    return badParam("tool_choice", "tool_choice names a function that is not in tools");
  return {};
}

Status checkResponseFormat(const json::value& rf) {
  auto* type = rf.is_object() ? rf.as_object().if_contains("type") : nullptr;
  if (!isString(type))
    return badParam("response_format", "response_format must be an object with a type");
  std::string_view t = type->as_string();
  if (t == "text" || t == "json_object") return {};
  if (t != "json_schema")
    return badParam("response_format",
                    "response_format type must be text, json_object or json_schema");
  auto* js = rf.as_object().if_contains("json_schema");
  if (!js || !js->is_object() || !isString(js->as_object().if_contains("name")))
    return badParam("response_format", "json_schema needs a name");
  if (auto* sc = js->as_object().if_contains("schema"); sc && !sc->is_object())
    return badParam("response_format", "json_schema.schema must be an object");
  return {};
}

Status checkNumber(const json::object& body, std::string_view k, double lo, double hi) {
  auto* v = body.if_contains(k);
  if (!v || v->is_null()) return {};
  if (!v->is_number() || v->to_number<double>() < lo || v->to_number<double>() > hi) {
    std::string msg(k);
    msg += " must be a number from ";
    msg += jsonText(json::value(lo));
    msg += " to ";
    msg += jsonText(json::value(hi));
    return badParam(std::string(k), std::move(msg));
  }
  return {};
}

Status checkParameters(const json::object& body) {
  if (auto st = screenParameters(body, kNotYet, {kHonoured, providers::kChatOptions}); !st)
    return st;
  auto get = [&](std::string_view k) -> const json::value* {
    auto* v = body.if_contains(k);
    return v && !v->is_null() ? v : nullptr;
  };
  if (auto* n = get("n"); n && !(n->is_int64() && n->as_int64() >= 1 && n->as_int64() <= 128))
    return badParam("n", "n must be an integer from 1 to 128");
  if (auto* t = get("tools"))
    if (auto st = checkTools(*t); !st) return st;
  if (auto* tc = get("tool_choice"))
    if (auto st = checkToolChoice(body, *tc); !st) return st;
  if (auto* p = get("parallel_tool_calls"); p && !p->is_bool())
    return badParam("parallel_tool_calls", "parallel_tool_calls must be true or false");
  if (auto* rf = get("response_format"))
    if (auto st = checkResponseFormat(*rf); !st) return st;
  if (auto* stop = get("stop")) {
    bool ok = stop->is_string() ||
              (stop->is_array() && !stop->as_array().empty() && stop->as_array().size() <= 4 &&
               std::all_of(stop->as_array().begin(), stop->as_array().end(),
                           [](const json::value& x) { return x.is_string(); }));
    if (!ok) return badParam("stop", "stop must be a string or an array of 1 to 4 strings");
  }
  if (auto* seed = get("seed"); seed && !seed->is_int64() && !seed->is_uint64())
    return badParam("seed", "seed must be an integer");
  if (auto st = checkNumber(body, "top_p", 0, 1); !st) return st;
  if (auto st = checkNumber(body, "frequency_penalty", -2, 2); !st) return st;
  if (auto st = checkNumber(body, "presence_penalty", -2, 2); !st) return st;
  auto* lp = get("logprobs");
  if (lp && !lp->is_bool()) return badParam("logprobs", "logprobs must be true or false");
  if (auto* tl = get("top_logprobs")) {
    if (!tl->is_int64() || tl->as_int64() < 0 || tl->as_int64() > 20)
      return badParam("top_logprobs", "top_logprobs must be an integer from 0 to 20");
    if (!lp || !lp->as_bool())
      return badParam("top_logprobs", "top_logprobs needs logprobs set to true");
  }
  for (const char* k : {"user", "safety_identifier"})
    if (auto* u = get(k); u && !u->is_string())
      return badParam(k, std::string(k) + " must be a string");
  if (auto* md = get("metadata")) {
    bool ok = md->is_object() && md->as_object().size() <= 16;
    if (ok)
      for (auto& [mk, mv] : md->as_object())
        ok = ok && mk.size() <= 64 && mv.is_string() && mv.as_string().size() <= 512;
    if (!ok)
      return badParam("metadata",
                      "metadata must be an object of at most 16 string values (keys up to 64 "
                      "characters, values up to 512)");
  }
  return {};
}

int64_t estimateTokens(size_t bytes) {
  return static_cast<int64_t>(std::ceil(static_cast<double>(bytes) / 4.0));
}

}  // namespace

// The answer text from whatever served the intent: a provider's "text", or
// a local module's "summary".
std::string answerText(const json::value& result) {
  if (result.is_object()) {
    for (const char* k : {"text", "content", "summary"})
      if (auto* v = result.as_object().if_contains(k); v && v->is_string())
        return std::string(v->as_string());
  }
  return jsonText(result);
}

// A field of a task result object, when present and not null.
const json::value* resultField(const json::value& result, std::string_view k) {
  if (!result.is_object()) return nullptr;
  auto* v = result.as_object().if_contains(k);
  return v && !v->is_null() ? v : nullptr;
}

json::object usageJson(const json::value& result, const ChatRequest& chat,
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

std::string finishReasonOf(const json::value& result) {
  if (result.is_object())
    if (auto* f = result.as_object().if_contains("finishReason");
        f && f->is_string() && !f->as_string().empty())
      return std::string(f->as_string());
  return "stop";
}

Status screenParameters(const json::object& body, std::span<const std::string_view> refused,
                        std::initializer_list<std::span<const std::string_view>> known) {
  auto among = [](std::span<const std::string_view> names, std::string_view k) {
    return std::find(names.begin(), names.end(), k) != names.end();
  };
  for (std::string_view k : refused)
    if (auto* v = body.if_contains(k); v && !v->is_null()) return notYet(std::string(k));
  for (auto& [k, v] : body) {
    if (v.is_null() || among(refused, k) ||
        std::any_of(known.begin(), known.end(), [&](auto names) { return among(names, k); }))
      continue;
    std::string name(k);
    return fail(ErrorCode::kInvalidRequest, "Unrecognized request argument supplied: " + name,
                {{"param", name}, {"openaiCode", "unknown_parameter"}});
  }
  return {};
}

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
  for (auto& m : msgs->as_array()) {
    std::string text;
    auto msg = checkMessage(m, text);
    if (!msg) return std::unexpected(msg.error());
    if (msg->at("role").as_string() == "user") r.lastUser = std::move(text);
    r.messages.push_back(std::move(*msg));
  }
  if (r.lastUser.empty())
    return badParam("messages", "messages need at least one non-empty user message");
  for (auto k : providers::kChatOptions)
    if (auto* v = body.if_contains(k); v && !v->is_null()) r.options[k] = *v;
  if (auto* md = body.if_contains("metadata"); md && !md->is_null()) r.metadata = *md;
  if (auto* ext = body.if_contains("aion"); ext && !ext->is_null()) {
    auto ctx = contextOf(*ext);
    if (!ctx) return std::unexpected(ctx.error());
    r.context = std::move(*ctx);
  }
  return r;
}

json::object chatParams(const ChatRequest& c) {
  // `text` too: a local module named as the model reads the last user message.
  json::object p{{"messages", c.messages}, {"text", c.lastUser}, {"stream", c.stream}};
  if (c.maxTokens) p["max_tokens"] = *c.maxTokens;
  if (c.temperature) p["temperature"] = *c.temperature;
  for (auto& [k, v] : c.options) p[k] = v;
  if (!c.metadata.is_null()) p["metadata"] = c.metadata;
  if (!c.context.empty()) p["context"] = c.context;
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
                       json::object delta, json::value finish, int64_t index) {
  return {
      {"id", id},
      {"object", "chat.completion.chunk"},
      {"created", created},
      {"model", model},
      {"choices", json::array{json::object{
                      {"index", index}, {"delta", std::move(delta)}, {"finish_reason", finish}}}}};
}

namespace {

std::string finishOfChoice(const json::value& choice) {
  auto* fr = choice.is_object() ? choice.as_object().if_contains("finish_reason") : nullptr;
  return fr && fr->is_string() && !fr->as_string().empty() ? std::string(fr->as_string()) : "stop";
}

// One choice of a completion: null content beside tool calls, as OpenAI's.
json::object choiceJson(int64_t index, const std::string& answer, const json::value* calls,
                        const json::value* logprobs, std::string finish) {
  json::object message{{"role", "assistant"}};
  message["content"] = answer.empty() && calls ? json::value(nullptr) : json::value(answer);
  message["refusal"] = nullptr;
  if (calls) message["tool_calls"] = *calls;
  return {{"index", index},
          {"message", std::move(message)},
          {"logprobs", logprobs ? *logprobs : json::value(nullptr)},
          {"finish_reason", std::move(finish)}};
}

}  // namespace

json::object completionJson(const std::string& id, int64_t created, const std::string& model,
                            const ChatRequest& c, const json::value& result,
                            const std::string& taskId) {
  std::string answer = answerText(result);
  json::array choices;
  if (auto* all = resultField(result, "choices"); all && all->is_array()) {
    for (auto& ch : all->as_array()) {
      auto& co = ch.as_object();
      const json::value& msg = co.contains("message") ? co.at("message") : json::value();
      std::string text = resultField(msg, "content") && msg.at("content").is_string()
                             ? std::string(msg.at("content").as_string())
                             : std::string();
      choices.push_back(choiceJson(static_cast<int64_t>(choices.size()), text,
                                   resultField(msg, "tool_calls"), resultField(ch, "logprobs"),
                                   finishOfChoice(ch)));
    }
  } else {
    choices.push_back(choiceJson(0, answer, resultField(result, "toolCalls"),
                                 resultField(result, "logprobs"), finishReasonOf(result)));
  }
  return {{"id", id},
          {"object", "chat.completion"},
          {"created", created},
          {"model", model},
          {"choices", std::move(choices)},
          {"usage", usageJson(result, c, answer)},
          {"aion", aionJson(result, taskId)}};
}

json::object aionJson(const json::value& result, const std::string& taskId) {
  json::object o;
  if (!taskId.empty()) o["taskId"] = taskId;
  o["usageEstimated"] = usageEstimated(result);
  if (auto* ctx = resultField(result, "context")) o["context"] = *ctx;
  return o;
}

std::string deltaChunk(const std::string& id, int64_t created, const std::string& model,
                       const json::value& delta) {
  if (!delta.is_object()) return {};
  auto& d = delta.as_object();
  json::object out;
  if (auto* t = d.if_contains("text"); t && t->is_string() && !t->as_string().empty())
    out["content"] = *t;
  if (auto* tc = d.if_contains("toolCalls"); tc && tc->is_array()) out["tool_calls"] = *tc;
  auto* lp = d.if_contains("logprobs");
  if (out.empty() && !lp) return {};
  int64_t index = d.contains("choice") && d.at("choice").is_int64() ? d.at("choice").as_int64() : 0;
  auto chunk = chunkJson(id, created, model, std::move(out), nullptr, index);
  if (lp) chunk["choices"].as_array()[0].as_object()["logprobs"] = *lp;
  return http::sseEvent({}, {}, jsonText(chunk));
}

std::string finalChunks(const std::string& id, int64_t created, const std::string& model,
                        const ChatRequest& c, const json::value& result, bool streamed) {
  std::string out;
  std::string answer = answerText(result);
  if (const json::value* calls = resultField(result, "toolCalls"); calls && !streamed) {
    json::array indexed;
    for (auto& tc : calls->as_array()) {
      json::object o = tc.as_object();
      o["index"] = indexed.size();
      indexed.push_back(std::move(o));
    }
    out += http::sseEvent(
        {}, {},
        jsonText(chunkJson(id, created, model, {{"tool_calls", std::move(indexed)}}, nullptr)));
  }
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
  if (auto* all = resultField(result, "choices"); all && all->is_array()) {
    int64_t index = 0;
    for (auto& ch : all->as_array())
      out += http::sseEvent(
          {}, {},
          jsonText(chunkJson(id, created, model, {}, json::string(finishOfChoice(ch)), index++)));
  } else {
    out += http::sseEvent(
        {}, {},
        jsonText(chunkJson(id, created, model, {}, json::string(finishReasonOf(result)), 0)));
  }
  if (c.includeUsage) {
    auto u = chunkJson(id, created, model, {}, nullptr);
    u["choices"] = json::array();
    u["usage"] = usageJson(result, c, answer);
    out += http::sseEvent({}, {}, jsonText(u));
  }
  out += http::sseEvent({}, {}, "[DONE]");
  return out;
}

Result<EmbeddingRequest> parseEmbeddingRequest(const json::object& body) {
  static constexpr std::array<std::string_view, 4> kKnown{"model", "input", "encoding_format",
                                                          "user"};
  static constexpr std::array<std::string_view, 1> kNotYet{"dimensions"};
  if (auto st = screenParameters(body, kNotYet, {kKnown}); !st) return std::unexpected(st.error());
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
