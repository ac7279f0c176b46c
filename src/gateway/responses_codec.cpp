#include "gateway/responses_codec.h"

#include <array>
#include <boost/json.hpp>

#include "common/json_text.h"
#include "http/sse.h"

namespace aion::gateway {
namespace json = boost::json;

namespace {

std::unexpected<Error> badParam(const std::string& param, std::string msg) {
  return fail(ErrorCode::kInvalidRequest, std::move(msg), {{"param", param}});
}

std::unexpected<Error> notYet(const std::string& param, const std::string& what = {}) {
  std::string msg = "'";
  msg += param;
  msg += "'";
  msg += what;
  msg += " is not supported by aionOS yet";
  return fail(ErrorCode::kInvalidRequest, std::move(msg),
              {{"param", param}, {"openaiCode", "unsupported_parameter"}});
}

bool isString(const json::value* v) {
  return v && v->is_string();
}

std::string str(const json::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  return isString(v) ? std::string(v->as_string()) : std::string();
}

constexpr std::array<std::string_view, 17> kKnown{"model",
                                                  "aion",
                                                  "input",
                                                  "instructions",
                                                  "tools",
                                                  "tool_choice",
                                                  "parallel_tool_calls",
                                                  "stream",
                                                  "text",
                                                  "max_output_tokens",
                                                  "temperature",
                                                  "top_p",
                                                  "user",
                                                  "metadata",
                                                  "safety_identifier",
                                                  "store",
                                                  "truncation"};
constexpr std::array<std::string_view, 11> kNotYet{
    "previous_response_id", "conversation",   "include",       "reasoning",
    "background",           "prompt",         "top_logprobs",  "service_tier",
    "prompt_cache_key",     "max_tool_calls", "stream_options"};

// Content parts of a Responses message as chat content parts.
Result<json::value> chatContent(const json::value& c) {
  if (c.is_string()) return c;
  auto bad = [] {
    return badParam("input", "message content must be a string or an array of content parts");
  };
  if (!c.is_array()) return bad();
  json::array parts;
  for (auto& p : c.as_array()) {
    if (!p.is_object()) return bad();
    auto& po = p.as_object();
    auto type = str(po, "type");
    if (type == "input_text" || type == "output_text") {
      if (!isString(po.if_contains("text"))) return bad();
      parts.push_back(json::object{{"type", "text"}, {"text", po.at("text")}});
    } else if (type == "input_image") {
      if (!isString(po.if_contains("image_url")))
        return notYet("input", " with images other than by image_url");
      json::object iu{{"url", po.at("image_url")}};
      if (auto d = str(po, "detail"); !d.empty()) iu["detail"] = d;
      parts.push_back(json::object{{"type", "image_url"}, {"image_url", std::move(iu)}});
    } else {
      return notYet("input", " with content parts of type '" + type + "'");
    }
  }
  return json::value(std::move(parts));
}

// `input` (and `instructions`) as chat messages.
Result<json::array> chatMessages(const json::object& body) {
  json::array out;
  if (auto* ins = body.if_contains("instructions"); ins && !ins->is_null()) {
    if (!ins->is_string()) return badParam("instructions", "instructions must be a string");
    out.push_back(json::object{{"role", "system"}, {"content", *ins}});
  }
  auto* input = body.if_contains("input");
  if (!input || input->is_null()) return badParam("input", "input is required");
  if (input->is_string()) {
    out.push_back(json::object{{"role", "user"}, {"content", *input}});
    return out;
  }
  if (!input->is_array() || input->as_array().empty())
    return badParam("input", "input must be a string or a non-empty array of items");
  for (auto& item : input->as_array()) {
    if (!item.is_object()) return badParam("input", "each input item must be an object");
    auto& it = item.as_object();
    auto type = str(it, "type");
    if (type.empty() || type == "message") {
      auto* content = it.if_contains("content");
      if (!content) return badParam("input", "a message item needs content");
      auto c = chatContent(*content);
      if (!c) return std::unexpected(c.error());
      out.push_back(json::object{{"role", it.contains("role") ? it.at("role") : json::value()},
                                 {"content", std::move(*c)}});
    } else if (type == "function_call") {
      if (!isString(it.if_contains("call_id")) || !isString(it.if_contains("name")) ||
          !isString(it.if_contains("arguments")))
        return badParam("input", "a function_call item needs call_id, name and arguments");
      json::object call{{"id", it.at("call_id")},
                        {"type", "function"},
                        {"function", {{"name", it.at("name")}, {"arguments", it.at("arguments")}}}};
      // Calls in a row are one assistant turn, as Chat Completions has them.
      bool joins = !out.empty() && out.back().as_object().contains("tool_calls");
      if (joins)
        out.back().as_object()["tool_calls"].as_array().push_back(std::move(call));
      else
        out.push_back(json::object{
            {"role", "assistant"}, {"content", nullptr}, {"tool_calls", json::array{call}}});
    } else if (type == "function_call_output") {
      auto* output = it.if_contains("output");
      if (!isString(it.if_contains("call_id")) || !isString(output))
        return badParam("input", "a function_call_output item needs call_id and output text");
      out.push_back(
          json::object{{"role", "tool"}, {"tool_call_id", it.at("call_id")}, {"content", *output}});
    } else {
      return notYet("input", " items of type '" + type + "'");
    }
  }
  return out;
}

Result<json::array> chatTools(const json::value& tools) {
  if (!tools.is_array()) return badParam("tools", "tools must be an array");
  json::array out;
  for (auto& t : tools.as_array()) {
    if (!t.is_object()) return badParam("tools", "each tool must be an object");
    auto& to = t.as_object();
    auto type = str(to, "type");
    if (type != "function") return notYet("tools", " of type '" + type + "' (built-in tools)");
    json::object fn{{"name", to.contains("name") ? to.at("name") : json::value()}};
    for (const char* k : {"description", "parameters", "strict"})
      if (auto* v = to.if_contains(k); v && !v->is_null()) fn[k] = *v;
    out.push_back(json::object{{"type", "function"}, {"function", std::move(fn)}});
  }
  return out;
}

// Chat's parameter names in an error, as the Responses caller wrote them.
Error renamed(Error e) {
  static const std::map<std::string, std::string> kNames{
      {"messages", "input"}, {"max_tokens", "max_output_tokens"}, {"response_format", "text"}};
  if (auto* p = e.details.if_contains("param"); p && p->is_string())
    if (auto it = kNames.find(std::string(p->as_string())); it != kNames.end()) {
      e.details["param"] = it->second;
      auto at = e.message.find(it->first);
      if (at != std::string::npos) e.message.replace(at, it->first.size(), it->second);
    }
  return e;
}

std::string messageId(const std::string& taskId) {
  return "msg_" + taskId;
}

std::string callItemId(const std::string& taskId, size_t index) {
  return "fc_" + taskId + "_" + std::to_string(index);
}

json::object textPart(std::string text) {
  return {{"type", "output_text"},
          {"text", std::move(text)},
          {"annotations", json::array()},
          {"logprobs", json::array()}};
}

json::object messageItem(const std::string& taskId, std::string text, const char* status) {
  json::array content;
  if (std::string_view(status) == "completed") content.push_back(textPart(std::move(text)));
  return {{"type", "message"},
          {"id", messageId(taskId)},
          {"status", status},
          {"role", "assistant"},
          {"content", std::move(content)}};
}

json::object callItem(const std::string& id, const std::string& callId, const std::string& name,
                      const std::string& arguments, const char* status) {
  return {{"type", "function_call"}, {"id", id},        {"call_id", callId}, {"name", name},
          {"arguments", arguments},  {"status", status}};
}

// The response object around `output`; `result` null while in progress.
json::object responseShell(const std::string& taskId, int64_t createdAt, const ResponsesRequest& r,
                           const char* status, json::array output) {
  json::object o{{"id", "resp_" + taskId},
                 {"object", "response"},
                 {"created_at", createdAt},
                 {"status", status},
                 {"error", nullptr},
                 {"incomplete_details", nullptr},
                 {"model", r.chat.model},
                 {"output", std::move(output)},
                 {"parallel_tool_calls", true},
                 {"tool_choice", "auto"},
                 {"tools", json::array()},
                 {"text", {{"format", {{"type", "text"}}}}},
                 {"metadata", json::object()},
                 {"instructions", nullptr},
                 {"max_output_tokens", nullptr},
                 {"temperature", nullptr},
                 {"top_p", nullptr},
                 {"previous_response_id", nullptr},
                 {"reasoning", {{"effort", nullptr}, {"summary", nullptr}}},
                 {"store", false},
                 {"truncation", "disabled"},
                 {"usage", nullptr},
                 {"user", nullptr}};
  for (auto& [k, v] : r.echo) o[k] = v;
  return o;
}

json::object responsesUsage(const json::value& result, const ResponsesRequest& r,
                            const std::string& answer) {
  auto u = usageJson(result, r.chat, answer);
  return {{"input_tokens", u.at("prompt_tokens")},
          {"input_tokens_details", {{"cached_tokens", 0}}},
          {"output_tokens", u.at("completion_tokens")},
          {"output_tokens_details", {{"reasoning_tokens", 0}}},
          {"total_tokens", u.at("total_tokens")}};
}

// Completed, or incomplete when the answer hit its token limit.
void settle(json::object& resp, const json::value& result, const ResponsesRequest& r,
            const std::string& answer) {
  bool cut = finishReasonOf(result) == "length";
  resp["status"] = cut ? "incomplete" : "completed";
  if (cut) resp["incomplete_details"] = {{"reason", "max_output_tokens"}};
  resp["usage"] = responsesUsage(result, r, answer);
  resp["aion"] = aionJson(result, {});
}

}  // namespace

Result<ResponsesRequest> parseResponsesRequest(const json::object& body) {
  if (auto st = screenParameters(body, kNotYet, {kKnown}); !st) return std::unexpected(st.error());
  auto get = [&](std::string_view k) -> const json::value* {
    auto* v = body.if_contains(k);
    return v && !v->is_null() ? v : nullptr;
  };
  ResponsesRequest r;
  json::object chat;
  auto messages = chatMessages(body);
  if (!messages) return std::unexpected(messages.error());
  chat["messages"] = std::move(*messages);
  for (const char* k : {"model", "stream", "temperature", "top_p", "parallel_tool_calls", "user",
                        "metadata", "safety_identifier", "aion"})
    if (auto* v = get(k)) chat[k] = *v;
  if (auto* v = get("max_output_tokens")) chat["max_tokens"] = *v;
  if (auto* t = get("tools")) {
    auto tools = chatTools(*t);
    if (!tools) return std::unexpected(tools.error());
    chat["tools"] = std::move(*tools);
  }
  if (auto* tc = get("tool_choice")) {
    if (tc->is_object()) {
      auto& o = tc->as_object();
      if (str(o, "type") != "function" || !isString(o.if_contains("name")))
        return notYet("tool_choice", " other than none, auto, required or a function");
      chat["tool_choice"] = {{"type", "function"}, {"function", {{"name", o.at("name")}}}};
    } else {
      chat["tool_choice"] = *tc;
    }
  }
  if (auto* text = get("text")) {
    auto* fmt = text->is_object() ? text->as_object().if_contains("format") : nullptr;
    if (text->is_object())
      if (auto* vb = text->as_object().if_contains("verbosity"); vb && !vb->is_null())
        return notYet("text.verbosity");
    if (fmt && fmt->is_object()) {
      auto& f = fmt->as_object();
      auto type = str(f, "type");
      if (type == "json_schema") {
        json::object js{{"name", f.contains("name") ? f.at("name") : json::value()}};
        for (const char* k : {"schema", "strict", "description"})
          if (auto* v = f.if_contains(k); v && !v->is_null()) js[k] = *v;
        chat["response_format"] = {{"type", "json_schema"}, {"json_schema", std::move(js)}};
      } else {
        chat["response_format"] = {{"type", type}};
      }
    } else if (fmt || !text->is_object()) {
      return badParam("text", "text must be an object with a format object");
    }
  }
  if (auto* st = get("store"); st && !st->is_bool())
    return badParam("store", "store must be true or false");
  if (auto* tr = get("truncation"); tr && !(tr->is_string() && tr->as_string() == "disabled"))
    return notYet("truncation", " other than \"disabled\"");
  auto parsed = parseChatRequest(chat);
  if (!parsed) return std::unexpected(renamed(parsed.error()));
  r.chat = std::move(*parsed);
  for (const char* k : {"instructions", "tools", "tool_choice", "parallel_tool_calls", "text",
                        "metadata", "max_output_tokens", "temperature", "top_p", "user"})
    if (auto* v = get(k)) r.echo[k] = *v;
  return r;
}

json::object responseJson(const std::string& taskId, int64_t createdAt, const ResponsesRequest& r,
                          const json::value& result) {
  std::string answer = answerText(result);
  json::array output;
  const json::value* calls = resultField(result, "toolCalls");
  if (!answer.empty() || !calls) output.push_back(messageItem(taskId, answer, "completed"));
  if (calls)
    for (auto& tc : calls->as_array()) {
      auto& o = tc.as_object();
      auto& fn = o.at("function").as_object();
      output.push_back(callItem(callItemId(taskId, output.size()), str(o, "id"), str(fn, "name"),
                                str(fn, "arguments"), "completed"));
    }
  auto resp = responseShell(taskId, createdAt, r, "completed", std::move(output));
  settle(resp, result, r, answer);
  return resp;
}

ResponsesStream::ResponsesStream(std::string taskId, int64_t createdAt, const ResponsesRequest& r)
    : taskId_(std::move(taskId)), createdAt_(createdAt), req_(r) {}

std::string ResponsesStream::event(const char* type, json::object data) {
  data["type"] = type;
  data["sequence_number"] = seq_++;
  return http::sseEvent({}, type, jsonText(data));
}

std::string ResponsesStream::open() {
  std::string out =
      event("response.created",
            {{"response", responseShell(taskId_, createdAt_, req_, "in_progress", {})}});
  out += event("response.in_progress",
               {{"response", responseShell(taskId_, createdAt_, req_, "in_progress", {})}});
  return out;
}

std::string ResponsesStream::openText() {
  if (textIndex_) return {};
  textIndex_ = outputs_++;
  std::string out =
      event("response.output_item.added",
            {{"output_index", *textIndex_}, {"item", messageItem(taskId_, {}, "in_progress")}});
  out += event("response.content_part.added", {{"item_id", messageId(taskId_)},
                                               {"output_index", *textIndex_},
                                               {"content_index", 0},
                                               {"part", textPart({})}});
  return out;
}

std::string ResponsesStream::delta(const json::value& d) {
  if (!d.is_object()) return {};
  auto& o = d.as_object();
  std::string out;
  if (auto text = str(o, "text"); !text.empty()) {
    out += openText();
    text_ += text;
    out += event("response.output_text.delta", {{"item_id", messageId(taskId_)},
                                                {"output_index", *textIndex_},
                                                {"content_index", 0},
                                                {"delta", text},
                                                {"logprobs", json::array()}});
  }
  if (auto* tcs = o.if_contains("toolCalls"); tcs && tcs->is_array()) {
    for (auto& f : tcs->as_array()) {
      if (!f.is_object()) continue;
      auto& fo = f.as_object();
      int64_t index = fo.contains("index") && fo.at("index").is_int64()
                          ? fo.at("index").as_int64()
                          : static_cast<int64_t>(calls_.size());
      auto* fn = fo.if_contains("function");
      std::string name = fn && fn->is_object() ? str(fn->as_object(), "name") : std::string();
      std::string args = fn && fn->is_object() ? str(fn->as_object(), "arguments") : std::string();
      auto [it, fresh] = calls_.try_emplace(index);
      Call& c = it->second;
      if (fresh) {
        c.outputIndex = outputs_++;
        c.callId = str(fo, "id");
        c.name = name;
        out += event("response.output_item.added",
                     {{"output_index", c.outputIndex},
                      {"item", callItem(callItemId(taskId_, c.outputIndex), c.callId, c.name, "",
                                        "in_progress")}});
      }
      if (!args.empty()) {
        c.arguments += args;
        out += event("response.function_call_arguments.delta",
                     {{"item_id", callItemId(taskId_, c.outputIndex)},
                      {"output_index", c.outputIndex},
                      {"delta", args}});
      }
    }
  }
  return out;
}

std::string ResponsesStream::done(const json::value& result, bool streamed) {
  std::string out;
  if (!streamed) {
    // Answered whole (a local module, or a provider that did not stream).
    json::object whole{{"text", answerText(result)}};
    if (auto* calls = resultField(result, "toolCalls")) {
      json::array indexed;
      for (auto& tc : calls->as_array()) {
        json::object f = tc.as_object();
        f["index"] = indexed.size();
        indexed.push_back(std::move(f));
      }
      whole["toolCalls"] = std::move(indexed);
    }
    out += delta(whole);
  }
  if (!textIndex_ && calls_.empty()) out += openText();  // an empty answer is still a message
  // Items close in output order, then the whole response.
  std::vector<json::value> items(outputs_);
  if (textIndex_) {
    auto part = textPart(text_);
    out += event("response.output_text.done", {{"item_id", messageId(taskId_)},
                                               {"output_index", *textIndex_},
                                               {"content_index", 0},
                                               {"text", text_},
                                               {"logprobs", json::array()}});
    out += event("response.content_part.done", {{"item_id", messageId(taskId_)},
                                                {"output_index", *textIndex_},
                                                {"content_index", 0},
                                                {"part", part}});
    items[*textIndex_] = messageItem(taskId_, text_, "completed");
    out += event("response.output_item.done",
                 {{"output_index", *textIndex_}, {"item", items[*textIndex_]}});
  }
  for (auto& [index, c] : calls_) {
    std::string id = callItemId(taskId_, c.outputIndex);
    out += event("response.function_call_arguments.done", {{"item_id", id},
                                                           {"output_index", c.outputIndex},
                                                           {"name", c.name},
                                                           {"arguments", c.arguments}});
    items[c.outputIndex] = callItem(id, c.callId, c.name, c.arguments, "completed");
    out += event("response.output_item.done",
                 {{"output_index", c.outputIndex}, {"item", items[c.outputIndex]}});
  }
  json::array output(items.begin(), items.end());
  auto resp = responseShell(taskId_, createdAt_, req_, "completed", std::move(output));
  settle(resp, result, req_, text_);
  const char* type =
      resp.at("status").as_string() == "incomplete" ? "response.incomplete" : "response.completed";
  out += event(type, {{"response", std::move(resp)}});
  return out;
}

std::string ResponsesStream::failed(const json::object& openAiError) {
  auto resp = responseShell(taskId_, createdAt_, req_, "failed", {});
  auto& e = openAiError.at("error").as_object();
  resp["error"] = {{"code", e.at("code")}, {"message", e.at("message")}};
  return event("response.failed", {{"response", std::move(resp)}});
}

}  // namespace aion::gateway
