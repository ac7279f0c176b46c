#include "providers/wire.h"

#include <boost/json.hpp>
#include <cmath>
#include <map>

#include "common/ids.h"
#include "common/json_text.h"

namespace aion::providers {
namespace json = boost::json;

namespace {

constexpr size_t kMaxLine = 4 << 20;  // one SSE/NDJSON line

Error malformed(const std::string& what) {
  return Error(ErrorCode::kProviderError, "malformed provider response: " + what);
}

std::string str(const json::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::optional<int64_t> integer(const json::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
  return std::nullopt;
}

std::optional<json::object> parseObject(std::string_view text) {
  boost::system::error_code ec;
  json::parse_options opts;
  opts.max_depth = 64;
  auto v = json::parse(text, ec, {}, opts);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

// Fills usage from the provider's figures, estimating only what is missing.
void settleUsage(Usage& u, std::optional<int64_t> prompt, std::optional<int64_t> completion,
                 const ChatCall& c, const std::string& text) {
  if (prompt) {
    u.promptTokens = *prompt;
  } else {
    u.promptTokens = estimateTokens(c.messages);
    u.promptEstimated = true;
  }
  if (completion) {
    u.completionTokens = *completion;
  } else {
    u.completionTokens = estimateTokens(text);
    u.completionEstimated = true;
  }
}

// The text of a message's content: a string, or its text parts joined.
std::string contentText(const json::value* c) {
  if (!c) return {};
  if (c->is_string()) return std::string(c->as_string());
  std::string out;
  if (c->is_array())
    for (auto& part : c->as_array())
      if (part.is_object())
        if (auto* t = part.as_object().if_contains("text"); t && t->is_string()) {
          if (!out.empty()) out += '\n';
          out.append(t->as_string());
        }
  return out;
}

// The stop sequences a call asks for.
std::vector<std::string> stopStrings(const ChatCall& c) {
  std::vector<std::string> out;
  auto* v = c.options.if_contains("stop");
  if (!v) return out;
  if (v->is_string()) out.emplace_back(v->as_string());
  if (v->is_array())
    for (auto& x : v->as_array())
      if (x.is_string() && !x.as_string().empty()) out.emplace_back(x.as_string());
  return out;
}

// TGI ends text that hit a stop sequence with the sequence itself (finish
// reason "stop_sequence"); OpenAI's clients expect it cut.
std::string cutStop(std::string text, const std::vector<std::string>& stops) {
  for (auto& s : stops)
    if (text.ends_with(s)) return text.substr(0, text.size() - s.size());
  return text;
}

// TGI takes one prompt string: a plain role-tagged transcript.
std::string transcript(const json::array& messages) {
  std::string out;
  for (auto& m : messages) {
    if (!m.is_object()) continue;
    auto role = str(m.as_object(), "role");
    auto content = contentText(m.as_object().if_contains("content"));
    out += (role.empty() ? "user" : role) + ": " + content + "\n";
  }
  out += "assistant:";
  return out;
}

void openAiUsage(const json::object& o, std::optional<int64_t>& prompt,
                 std::optional<int64_t>& completion) {
  auto* u = o.if_contains("usage");
  if (!u || !u->is_object()) return;
  if (auto p = integer(u->as_object(), "prompt_tokens")) prompt = p;
  if (auto c = integer(u->as_object(), "completion_tokens")) completion = c;
}

// Error carried inside a 200 stream: {"error": {...}} or {"error": "..."}.
std::optional<Error> inlineError(const json::object& o) {
  auto* e = o.if_contains("error");
  if (!e || e->is_null()) return std::nullopt;
  std::string msg = e->is_string()   ? std::string(e->as_string())
                    : e->is_object() ? str(e->as_object(), "message")
                                     : "error";
  return Error(ErrorCode::kProviderError, "provider stream error: " + msg);
}

bool hasOption(const ChatCall& c, std::string_view k) {
  auto* v = c.options.if_contains(k);
  return v && !v->is_null();
}

// An option at the value that asks for nothing, which any route honours.
bool atDefault(std::string_view k, const json::value& v) {
  if (k == "logprobs") return v.is_bool() && !v.as_bool();
  if (k == "n") return v.is_int64() && v.as_int64() == 1;
  if (k == "parallel_tool_calls") return v.is_bool() && v.as_bool();
  if (k == "tools") return v.is_array() && v.as_array().empty();
  if (k == "tool_choice") return v.is_string() && v.as_string() == "none";
  if (k == "response_format")
    return v.is_object() && v.as_object().contains("type") && v.as_object().at("type") == "text";
  return false;
}

const char* protocolName(std::optional<Protocol> p) {
  if (!p) return "a local module";
  switch (*p) {
    case Protocol::kOpenAi:
      return "the OpenAI protocol";
    case Protocol::kAzure:
      return "Azure OpenAI";
    case Protocol::kTgi:
      return "Hugging Face TGI";
    case Protocol::kOllama:
      return "Ollama";
  }
  return "this route";
}

std::unexpected<Error> cannot(std::optional<Protocol> p, const std::string& param,
                              const std::string& what = {}) {
  std::string msg = "'";
  msg += param;
  msg += "'";
  msg += what;
  msg += " is not supported by ";
  msg += protocolName(p);
  msg += ", the route that serves this model";
  return fail(ErrorCode::kInvalidRequest, std::move(msg),
              {{"param", param}, {"openaiCode", "unsupported_parameter"}});
}

// OpenAI tool calls as Ollama takes them back: arguments as an object.
json::array ollamaToolCalls(const json::array& calls) {
  json::array out;
  for (auto& tc : calls) {
    if (!tc.is_object()) continue;
    auto* f = tc.as_object().if_contains("function");
    if (!f || !f->is_object()) continue;
    json::value args = json::object();
    if (auto a = parseObject(str(f->as_object(), "arguments"))) args = std::move(*a);
    out.push_back(json::object{
        {"function", {{"name", str(f->as_object(), "name")}, {"arguments", std::move(args)}}}});
  }
  return out;
}

// Ollama's tool calls (arguments as an object) in OpenAI's shape, numbered
// from `first` as stream indexes.
json::array openAiToolCalls(const json::array& calls, size_t first) {
  json::array out;
  for (auto& tc : calls) {
    if (!tc.is_object()) continue;
    auto* f = tc.as_object().if_contains("function");
    if (!f || !f->is_object()) continue;
    auto* a = f->as_object().if_contains("arguments");
    std::string args = !a ? "{}" : a->is_string() ? std::string(a->as_string()) : jsonText(*a);
    std::string id = newRequestId();
    out.push_back(json::object{
        {"index", first + out.size()},
        {"id", "call_" + id},
        {"type", "function"},
        {"function", {{"name", str(f->as_object(), "name")}, {"arguments", std::move(args)}}}});
  }
  return out;
}

// Accumulates OpenAI tool-call fragments ({index, id?, function{name?,
// arguments}}) into whole calls.
void mergeToolCalls(json::array& into, const json::array& fragments) {
  for (auto& fr : fragments) {
    if (!fr.is_object()) continue;
    auto& f = fr.as_object();
    auto idx = integer(f, "index").value_or(static_cast<int64_t>(into.size()));
    if (idx < 0 || idx > 127) continue;
    while (into.size() <= static_cast<size_t>(idx))
      into.push_back(json::object{
          {"id", ""}, {"type", "function"}, {"function", {{"name", ""}, {"arguments", ""}}}});
    auto& call = into[static_cast<size_t>(idx)].as_object();
    if (auto id = str(f, "id"); !id.empty()) call["id"] = id;
    if (auto* fn = f.if_contains("function"); fn && fn->is_object()) {
      auto& cf = call["function"].as_object();
      if (auto n = str(fn->as_object(), "name"); !n.empty()) cf["name"] = n;
      if (auto a = str(fn->as_object(), "arguments"); !a.empty())
        cf["arguments"].as_string().append(a);
    }
  }
}

// Appends a chunk's logprobs.content entries to the answer's.
void mergeLogprobs(json::value& into, const json::value& lp) {
  if (!lp.is_object()) return;
  auto* c = lp.as_object().if_contains("content");
  if (!c || !c->is_array()) return;
  if (!into.is_object()) into = json::object{{"content", json::array()}, {"refusal", nullptr}};
  auto& dst = into.as_object()["content"].as_array();
  for (auto& e : c->as_array()) dst.push_back(e);
}

// Splits a byte stream into lines (SSE and NDJSON are both line-based).
class LineSplitter {
 public:
  template <typename F>
  Status feed(std::string_view bytes, F&& onLine) {
    buf_.append(bytes);
    size_t start = 0;
    for (;;) {
      auto nl = buf_.find('\n', start);
      if (nl == std::string::npos) break;
      std::string_view line(buf_.data() + start, nl - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (auto s = onLine(line); !s) {
        buf_.erase(0, nl + 1);
        return s;
      }
      start = nl + 1;
    }
    buf_.erase(0, start);
    if (buf_.size() > kMaxLine) return std::unexpected(malformed("line longer than 4 MiB"));
    return {};
  }
  bool pending() const { return !buf_.empty(); }
  std::string takeRest() { return std::exchange(buf_, {}); }

 private:
  std::string buf_;
};

// One choice of an OpenAI answer as it accumulates.
struct ChoiceState {
  std::string text, finish;
  json::array tools;
  json::value logprobs;
};

// Every choice in OpenAI's shape, for n > 1.
json::array choicesJson(const std::map<int64_t, ChoiceState>& states) {
  json::array out;
  for (auto& [index, c] : states) {
    json::object message{{"role", "assistant"}};
    message["content"] =
        c.text.empty() && !c.tools.empty() ? json::value(nullptr) : json::value(c.text);
    if (!c.tools.empty()) message["tool_calls"] = c.tools;
    out.push_back(json::object{{"index", index},
                               {"message", std::move(message)},
                               {"logprobs", c.logprobs},
                               {"finish_reason", c.finish.empty() ? "stop" : c.finish}});
  }
  return out;
}

class OpenAiDecoder : public StreamDecoder {
 public:
  Status feed(std::string_view bytes, const DeltaSink& onDelta) override {
    return lines_.feed(bytes, [&](std::string_view line) -> Status {
      if (!line.starts_with("data:")) return {};  // comments, event:, id:, blank lines
      auto data = line.substr(5);
      if (data.starts_with(' ')) data.remove_prefix(1);
      if (data == "[DONE]") {
        done_ = true;
        return {};
      }
      auto o = parseObject(data);
      if (!o) return std::unexpected(malformed("chunk is not a JSON object"));
      if (auto e = inlineError(*o)) return std::unexpected(*e);
      if (model_.empty()) model_ = str(*o, "model");
      openAiUsage(*o, prompt_, completion_);
      auto* ch = o->if_contains("choices");
      if (!ch || !ch->is_array()) return {};
      for (auto& cv : ch->as_array()) {
        if (!cv.is_object()) continue;
        auto& c = cv.as_object();
        int64_t index = integer(c, "index").value_or(0);
        if (index < 0 || index > 127) return std::unexpected(malformed("choice index"));
        auto& st = choices_[index];
        if (auto fr = str(c, "finish_reason"); !fr.empty()) st.finish = fr;
        Delta d;
        d.choice = index;
        std::string t;
        if (auto* dl = c.if_contains("delta"); dl && dl->is_object()) {
          t = str(dl->as_object(), "content");
          d.text = t;
          if (auto* tc = dl->as_object().if_contains("tool_calls");
              tc && tc->is_array() && !tc->as_array().empty()) {
            mergeToolCalls(st.tools, tc->as_array());
            d.toolCalls = &tc->as_array();
          }
        }
        if (auto* lp = c.if_contains("logprobs"); lp && lp->is_object()) {
          mergeLogprobs(st.logprobs, *lp);
          d.logprobs = lp;
        }
        st.text += t;
        if (!d.empty()) onDelta(d);
      }
      return {};
    });
  }
  Result<ChatResult> finish(const ChatCall& call) override {
    if (!done_)
      return fail(ErrorCode::kProviderError, "provider stream ended before [DONE] (cut upstream)");
    auto& c0 = choices_[0];
    ChatResult r{c0.text, c0.finish.empty() ? "stop" : c0.finish, model_, {}, c0.tools, c0.logprobs,
                 {}};
    std::string all;
    for (auto& [i, c] : choices_) all += c.text;
    if (choices_.size() > 1) r.choices = choicesJson(choices_);
    settleUsage(r.usage, prompt_, completion_, call, all);
    return r;
  }

 private:
  LineSplitter lines_;
  std::string model_;
  std::map<int64_t, ChoiceState> choices_;
  std::optional<int64_t> prompt_, completion_;
  bool done_ = false;
};

class TgiDecoder : public StreamDecoder {
 public:
  explicit TgiDecoder(std::vector<std::string> stops) : stops_(std::move(stops)) {
    for (auto& s : stops_) hold_ = std::max(hold_, s.size());
  }
  Status feed(std::string_view bytes, const DeltaSink& onDelta) override {
    return lines_.feed(bytes, [&](std::string_view line) -> Status {
      if (!line.starts_with("data:")) return {};
      auto data = line.substr(5);
      if (data.starts_with(' ')) data.remove_prefix(1);
      auto o = parseObject(data);
      if (!o) return std::unexpected(malformed("chunk is not a JSON object"));
      if (auto e = inlineError(*o)) return std::unexpected(*e);
      if (auto* tok = o->if_contains("token"); tok && tok->is_object()) {
        auto& t = tok->as_object();
        bool special =
            t.if_contains("special") && t.at("special").is_bool() && t.at("special").as_bool();
        auto text = str(t, "text");
        if (!special && !text.empty()) {
          // The tail that may turn out to be a stop sequence waits for the end.
          held_ += text;
          size_t cut = held_.size() > hold_ ? held_.size() - hold_ : 0;
          while (cut > 0 && (static_cast<unsigned char>(held_[cut]) & 0xC0) == 0x80) --cut;
          if (cut > 0) {  // never inside a UTF-8 sequence
            std::string out = held_.substr(0, cut);
            held_.erase(0, cut);
            text_ += out;
            onDelta(Delta{.text = out});
          }
        }
      }
      if (auto* g = o->if_contains("generated_text"); g && g->is_string()) {
        done_ = true;
        if (auto* d = o->if_contains("details"); d && d->is_object()) {
          completion_ = integer(d->as_object(), "generated_tokens");
          finish_ = str(d->as_object(), "finish_reason");
        }
        std::string rest = finish_ == "stop_sequence" ? cutStop(held_, stops_) : held_;
        held_.clear();
        if (!rest.empty()) {
          text_ += rest;
          onDelta(Delta{.text = rest});
        }
      }
      return {};
    });
  }
  Result<ChatResult> finish(const ChatCall& call) override {
    if (!done_)
      return fail(ErrorCode::kProviderError,
                  "provider stream ended before its final event (cut upstream)");
    ChatResult r{text_, finish_ == "length" ? "length" : "stop", "", {}, {}, nullptr, {}};
    settleUsage(r.usage, std::nullopt, completion_, call, text_);
    return r;
  }

 private:
  LineSplitter lines_;
  std::vector<std::string> stops_;
  size_t hold_ = 0;
  std::string text_, finish_, held_;
  std::optional<int64_t> completion_;
  bool done_ = false;
};

class OllamaDecoder : public StreamDecoder {
 public:
  Status feed(std::string_view bytes, const DeltaSink& onDelta) override {
    return lines_.feed(bytes, [&](std::string_view line) -> Status {
      if (line.empty()) return {};
      auto o = parseObject(line);
      if (!o) return std::unexpected(malformed("NDJSON line is not a JSON object"));
      if (auto e = inlineError(*o)) return std::unexpected(*e);
      if (model_.empty()) model_ = str(*o, "model");
      if (auto* m = o->if_contains("message"); m && m->is_object()) {
        Delta d;
        auto t = str(m->as_object(), "content");
        d.text = t;
        json::array calls;
        if (auto* tc = m->as_object().if_contains("tool_calls"); tc && tc->is_array()) {
          calls = openAiToolCalls(tc->as_array(), tools_.size());
          if (!calls.empty()) {
            for (auto& c : calls) tools_.push_back(c);
            d.toolCalls = &calls;
          }
        }
        text_ += t;
        if (!d.empty()) onDelta(d);
      }
      if (auto* d = o->if_contains("done"); d && d->is_bool() && d->as_bool()) {
        done_ = true;
        prompt_ = integer(*o, "prompt_eval_count");
        completion_ = integer(*o, "eval_count");
        finish_ = str(*o, "done_reason");
      }
      return {};
    });
  }
  Result<ChatResult> finish(const ChatCall& call) override {
    if (lines_.pending()) {
      // A last line without its newline is still a line.
      auto rest = lines_.takeRest();
      rest += "\n";
      if (auto s = feed(rest, [](const Delta&) {}); !s) return std::unexpected(s.error());
    }
    if (!done_)
      return fail(ErrorCode::kProviderError,
                  "provider stream ended before \"done\": true (cut upstream)");
    for (auto& c : tools_) c.as_object().erase("index");
    ChatResult r{text_, finishReason(finish_, tools_), model_, {}, tools_, nullptr, {}};
    settleUsage(r.usage, prompt_, completion_, call, text_);
    return r;
  }
  // Ollama says "stop" when it called tools; OpenAI's clients look for "tool_calls".
  static std::string finishReason(const std::string& done, const json::array& tools) {
    if (!tools.empty() && (done.empty() || done == "stop")) return "tool_calls";
    return done.empty() ? "stop" : done;
  }

 private:
  LineSplitter lines_;
  std::string text_, finish_, model_;
  json::array tools_;
  std::optional<int64_t> prompt_, completion_;
  bool done_ = false;
};

std::string pathJoin(const Url& base, std::string_view rest) {
  return base.path + std::string(rest);
}

}  // namespace

int64_t estimateTokens(std::string_view text) {
  return static_cast<int64_t>(std::ceil(static_cast<double>(text.size()) / 4.0));
}

int64_t estimateTokens(const json::array& messages) {
  int64_t n = 0;
  for (auto& m : messages)
    if (m.is_object()) n += 4 + estimateTokens(contentText(m.as_object().if_contains("content")));
  return std::max<int64_t>(n, 1);
}

Status checkChat(std::optional<Protocol> p, const ChatCall& c) {
  bool remoteOpenAi = p && (*p == Protocol::kOpenAi || *p == Protocol::kAzure);
  if (!remoteOpenAi) {
    for (auto& m : c.messages) {
      auto* content = m.is_object() ? m.as_object().if_contains("content") : nullptr;
      if (!content || !content->is_array()) continue;
      for (auto& part : content->as_array()) {
        auto type = part.is_object() ? str(part.as_object(), "type") : std::string();
        if (!type.empty() && type != "text")
          return cannot(p, "messages", " with content parts of type '" + type + "'");
      }
    }
  }
  auto refuse = [&](std::initializer_list<std::string_view> names) -> Status {
    for (auto k : names)
      if (hasOption(c, k) && !atDefault(k, c.options.at(k))) return cannot(p, std::string(k));
    return {};
  };
  if (!p)
    return refuse({"tools", "tool_choice", "parallel_tool_calls", "response_format", "stop",
                   "top_p", "frequency_penalty", "presence_penalty", "logprobs", "top_logprobs",
                   "n"});
  switch (*p) {
    case Protocol::kOpenAi:
    case Protocol::kAzure:
      return {};
    case Protocol::kOllama: {
      if (hasOption(c, "tool_choice")) {
        auto& tc = c.options.at("tool_choice");
        if (!tc.is_string() || (tc.as_string() != "auto" && tc.as_string() != "none"))
          return cannot(p, "tool_choice", " other than \"auto\" or \"none\"");
      }
      return refuse({"parallel_tool_calls", "logprobs", "top_logprobs", "n"});
    }
    case Protocol::kTgi:
      return refuse({"tools", "tool_choice", "parallel_tool_calls", "frequency_penalty",
                     "presence_penalty", "logprobs", "top_logprobs", "n"});
  }
  return {};
}

namespace {

json::array stopList(const json::value& v) {
  if (v.is_string()) return json::array{v};
  return v.is_array() ? v.as_array() : json::array();
}

// The JSON schema a response_format asks for; nullopt: free text.
std::optional<json::value> wantedSchema(const json::object& options) {
  auto* rf = options.if_contains("response_format");
  if (!rf || !rf->is_object()) return std::nullopt;
  auto type = str(rf->as_object(), "type");
  if (type == "json_object") return json::value(json::object{{"type", "object"}});
  if (type == "json_schema")
    if (auto* js = rf->as_object().if_contains("json_schema"); js && js->is_object())
      if (auto* sc = js->as_object().if_contains("schema")) return *sc;
  return std::nullopt;
}

// OpenAI messages as Ollama takes them: text content, tool calls with
// object arguments, tool results named after the call they answer.
json::array ollamaMessages(const json::array& messages) {
  std::map<std::string, std::string> toolNames;  // call id → function name
  json::array out;
  for (auto& v : messages) {
    if (!v.is_object()) continue;
    auto& m = v.as_object();
    json::object o{{"role", str(m, "role")}, {"content", contentText(m.if_contains("content"))}};
    if (auto* tc = m.if_contains("tool_calls"); tc && tc->is_array()) {
      for (auto& call : tc->as_array())
        if (call.is_object())
          if (auto* f = call.as_object().if_contains("function"); f && f->is_object())
            toolNames[str(call.as_object(), "id")] = str(f->as_object(), "name");
      o["tool_calls"] = ollamaToolCalls(tc->as_array());
    }
    if (auto id = str(m, "tool_call_id"); !id.empty())
      if (auto it = toolNames.find(id); it != toolNames.end()) o["tool_name"] = it->second;
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace

Result<HttpRequest> chatRequest(const Endpoint& e, const ChatCall& c) {
  if (auto st = checkChat(e.protocol, c); !st) return std::unexpected(st.error());
  HttpRequest r;
  r.url = e.base;
  r.headers.push_back({"Content-Type", "application/json"});
  json::object body;
  const auto& opt = c.options;
  auto has = [&](std::string_view k) { return hasOption(c, k); };
  switch (e.protocol) {
    case Protocol::kOpenAi:
    case Protocol::kAzure: {
      if (e.protocol == Protocol::kOpenAi) {
        r.target = pathJoin(e.base, "/chat/completions");
        body["model"] = e.model;
        if (!e.credential.empty()) r.headers.push_back({"Authorization", "Bearer " + e.credential});
      } else {
        r.target = pathJoin(e.base, "/openai/deployments/" + e.model +
                                        "/chat/completions?api-version=" + e.apiVersion);
        if (!e.credential.empty()) r.headers.push_back({"api-key", e.credential});
      }
      body["messages"] = c.messages;
      body["max_tokens"] = c.maxTokens;
      if (c.temperature) body["temperature"] = *c.temperature;
      for (auto k : kChatOptions)
        if (has(k)) body[k] = opt.at(k);
      body["stream"] = c.stream;
      if (c.stream) body["stream_options"] = {{"include_usage", true}};
      break;
    }
    case Protocol::kTgi: {
      r.target = pathJoin(e.base, c.stream ? "/generate_stream" : "/generate");
      if (!e.credential.empty()) r.headers.push_back({"Authorization", "Bearer " + e.credential});
      json::object params{{"max_new_tokens", c.maxTokens}, {"details", true}};
      if (c.temperature && *c.temperature > 0) params["temperature"] = *c.temperature;
      if (has("stop")) params["stop"] = stopList(opt.at("stop"));
      if (has("seed")) params["seed"] = opt.at("seed");
      // TGI takes top_p only inside (0, 1); 1 means no nucleus cut anyway.
      if (has("top_p") && opt.at("top_p").is_number() && opt.at("top_p").to_number<double>() < 1)
        params["top_p"] = opt.at("top_p");
      if (auto schema = wantedSchema(opt))
        params["grammar"] = {{"type", "json"}, {"value", std::move(*schema)}};
      body["inputs"] = transcript(c.messages);
      body["parameters"] = std::move(params);
      break;
    }
    case Protocol::kOllama: {
      r.target = pathJoin(e.base, "/api/chat");
      if (!e.credential.empty()) r.headers.push_back({"Authorization", "Bearer " + e.credential});
      json::object opts{{"num_predict", c.maxTokens}};
      if (c.temperature) opts["temperature"] = *c.temperature;
      if (has("stop")) opts["stop"] = stopList(opt.at("stop"));
      for (const char* k : {"seed", "top_p", "frequency_penalty", "presence_penalty"})
        if (has(k)) opts[k] = opt.at(k);
      body["model"] = e.model;
      body["messages"] = ollamaMessages(c.messages);
      bool toolsOff = has("tool_choice") && opt.at("tool_choice") == "none";
      if (has("tools") && !toolsOff) body["tools"] = opt.at("tools");
      if (auto schema = wantedSchema(opt)) {
        auto& rf = opt.at("response_format").as_object();
        body["format"] = str(rf, "type") == "json_object" ? json::value("json") : *schema;
      }
      body["stream"] = c.stream;  // Ollama streams unless told not to
      body["options"] = std::move(opts);
      break;
    }
  }
  if (c.stream)
    r.headers.push_back(
        {"Accept", e.protocol == Protocol::kOllama ? "application/x-ndjson" : "text/event-stream"});
  r.body = jsonText(body);
  return r;
}

Result<ChatResult> parseChat(Protocol p, std::string_view body, const ChatCall& c) {
  auto o = parseObject(body);
  if (!o) return std::unexpected(malformed("body is not a JSON object"));
  if (auto e = inlineError(*o)) return std::unexpected(*e);
  ChatResult r;
  std::optional<int64_t> prompt, completion;
  switch (p) {
    case Protocol::kOpenAi:
    case Protocol::kAzure: {
      auto* ch = o->if_contains("choices");
      if (!ch || !ch->is_array() || ch->as_array().empty() || !ch->as_array()[0].is_object())
        return std::unexpected(malformed("no choices"));
      auto& c0 = ch->as_array()[0].as_object();
      auto* m = c0.if_contains("message");
      if (!m || !m->is_object()) return std::unexpected(malformed("choice has no message"));
      r.text = str(m->as_object(), "content");
      if (auto* tc = m->as_object().if_contains("tool_calls"); tc && tc->is_array())
        r.toolCalls = tc->as_array();
      if (auto* lp = c0.if_contains("logprobs"); lp && lp->is_object()) r.logprobs = *lp;
      r.finishReason = str(c0, "finish_reason");
      r.model = str(*o, "model");
      if (ch->as_array().size() > 1) r.choices = ch->as_array();
      openAiUsage(*o, prompt, completion);
      break;
    }
    case Protocol::kTgi: {
      auto* g = o->if_contains("generated_text");
      if (!g || !g->is_string()) return std::unexpected(malformed("no generated_text"));
      r.text = std::string(g->as_string());
      if (auto* d = o->if_contains("details"); d && d->is_object()) {
        completion = integer(d->as_object(), "generated_tokens");
        auto fr = str(d->as_object(), "finish_reason");
        r.finishReason = fr == "length" ? "length" : "stop";
        if (fr == "stop_sequence") r.text = cutStop(std::move(r.text), stopStrings(c));
      }
      break;
    }
    case Protocol::kOllama: {
      auto* m = o->if_contains("message");
      if (!m || !m->is_object()) return std::unexpected(malformed("no message"));
      r.text = str(m->as_object(), "content");
      if (auto* tc = m->as_object().if_contains("tool_calls"); tc && tc->is_array()) {
        r.toolCalls = openAiToolCalls(tc->as_array(), 0);
        for (auto& c : r.toolCalls) c.as_object().erase("index");
      }
      r.model = str(*o, "model");
      r.finishReason = OllamaDecoder::finishReason(str(*o, "done_reason"), r.toolCalls);
      prompt = integer(*o, "prompt_eval_count");
      completion = integer(*o, "eval_count");
      break;
    }
  }
  if (r.finishReason.empty()) r.finishReason = "stop";
  settleUsage(r.usage, prompt, completion, c, r.text);
  return r;
}

std::unique_ptr<StreamDecoder> streamDecoder(Protocol p, const ChatCall& c) {
  switch (p) {
    case Protocol::kTgi:
      return std::make_unique<TgiDecoder>(stopStrings(c));
    case Protocol::kOllama:
      return std::make_unique<OllamaDecoder>();
    default:
      return std::make_unique<OpenAiDecoder>();
  }
}

Result<HttpRequest> embedRequest(const Endpoint& e, const std::vector<std::string>& inputs) {
  HttpRequest r;
  r.url = e.base;
  r.headers.push_back({"Content-Type", "application/json"});
  json::array in;
  for (auto& s : inputs) in.push_back(json::string(s));
  json::object body{{"input", std::move(in)}};
  if (e.protocol == Protocol::kOpenAi) {
    r.target = pathJoin(e.base, "/embeddings");
    body["model"] = e.model;
    if (!e.credential.empty()) r.headers.push_back({"Authorization", "Bearer " + e.credential});
  } else if (e.protocol == Protocol::kAzure) {
    r.target = pathJoin(
        e.base, "/openai/deployments/" + e.model + "/embeddings?api-version=" + e.apiVersion);
    if (!e.credential.empty()) r.headers.push_back({"api-key", e.credential});
  } else {
    return fail(ErrorCode::kInvalidRequest, "this provider kind does not serve embeddings");
  }
  r.body = jsonText(body);
  return r;
}

Result<EmbedResult> parseEmbed(std::string_view body, const std::vector<std::string>& inputs) {
  auto o = parseObject(body);
  if (!o) return std::unexpected(malformed("body is not a JSON object"));
  if (auto e = inlineError(*o)) return std::unexpected(*e);
  auto* data = o->if_contains("data");
  if (!data || !data->is_array()) return std::unexpected(malformed("no data"));
  EmbedResult r;
  r.model = str(*o, "model");
  std::vector<const json::value*> byIndex(inputs.size(), nullptr);
  for (auto& d : data->as_array()) {
    if (!d.is_object()) return std::unexpected(malformed("data item is not an object"));
    auto idx = integer(d.as_object(), "index");
    auto* emb = d.as_object().if_contains("embedding");
    if (!idx || *idx < 0 || static_cast<size_t>(*idx) >= inputs.size() || !emb || !emb->is_array())
      return std::unexpected(malformed("data item without index or embedding"));
    byIndex[static_cast<size_t>(*idx)] = emb;
  }
  for (auto* v : byIndex) {
    if (!v) return std::unexpected(malformed("an input has no embedding"));
    r.vectors.push_back(*v);
  }
  std::optional<int64_t> prompt;
  if (auto* u = o->if_contains("usage"); u && u->is_object())
    prompt = integer(u->as_object(), "prompt_tokens");
  if (prompt) {
    r.usage.promptTokens = *prompt;
  } else {
    for (auto& s : inputs) r.usage.promptTokens += estimateTokens(s);
    r.usage.promptEstimated = true;
  }
  return r;
}

std::string errorParam(std::string_view body) {
  if (auto o = parseObject(body))
    if (auto* e = o->if_contains("error"); e && e->is_object()) return str(e->as_object(), "param");
  return {};
}

std::string errorMessage(std::string_view body) {
  if (auto o = parseObject(body)) {
    if (auto* e = o->if_contains("error")) {
      if (e->is_string()) return std::string(e->as_string());
      if (e->is_object()) {
        auto m = str(e->as_object(), "message");
        if (!m.empty()) return m;
      }
    }
    if (auto m = str(*o, "message"); !m.empty()) return m;
  }
  std::string s(body.substr(0, 200));
  for (auto& c : s)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  return s.empty() ? "(empty body)" : s;
}

}  // namespace aion::providers
