#include "providers/wire.h"

#include <boost/json.hpp>
#include <cmath>

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

// TGI takes one prompt string: a plain role-tagged transcript.
std::string transcript(const json::array& messages) {
  std::string out;
  for (auto& m : messages) {
    if (!m.is_object()) continue;
    auto role = str(m.as_object(), "role");
    auto content = str(m.as_object(), "content");
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

class OpenAiDecoder : public StreamDecoder {
 public:
  Status feed(std::string_view bytes,
              const std::function<void(std::string_view)>& onDelta) override {
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
      if (ch && ch->is_array() && !ch->as_array().empty() && ch->as_array()[0].is_object()) {
        auto& c0 = ch->as_array()[0].as_object();
        if (auto fr = str(c0, "finish_reason"); !fr.empty()) finish_ = fr;
        if (auto* d = c0.if_contains("delta"); d && d->is_object()) {
          auto t = str(d->as_object(), "content");
          if (!t.empty()) {
            text_ += t;
            onDelta(t);
          }
        }
      }
      return {};
    });
  }
  Result<ChatResult> finish(const ChatCall& call) override {
    if (!done_)
      return fail(ErrorCode::kProviderError, "provider stream ended before [DONE] (cut upstream)");
    ChatResult r{text_, finish_.empty() ? "stop" : finish_, model_, {}};
    settleUsage(r.usage, prompt_, completion_, call, text_);
    return r;
  }

 private:
  LineSplitter lines_;
  std::string text_, finish_, model_;
  std::optional<int64_t> prompt_, completion_;
  bool done_ = false;
};

class TgiDecoder : public StreamDecoder {
 public:
  Status feed(std::string_view bytes,
              const std::function<void(std::string_view)>& onDelta) override {
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
          text_ += text;
          onDelta(text);
        }
      }
      if (auto* g = o->if_contains("generated_text"); g && g->is_string()) {
        done_ = true;
        if (auto* d = o->if_contains("details"); d && d->is_object()) {
          completion_ = integer(d->as_object(), "generated_tokens");
          finish_ = str(d->as_object(), "finish_reason");
        }
      }
      return {};
    });
  }
  Result<ChatResult> finish(const ChatCall& call) override {
    if (!done_)
      return fail(ErrorCode::kProviderError,
                  "provider stream ended before its final event (cut upstream)");
    ChatResult r{text_, finish_ == "length" ? "length" : "stop", "", {}};
    settleUsage(r.usage, std::nullopt, completion_, call, text_);
    return r;
  }

 private:
  LineSplitter lines_;
  std::string text_, finish_;
  std::optional<int64_t> completion_;
  bool done_ = false;
};

class OllamaDecoder : public StreamDecoder {
 public:
  Status feed(std::string_view bytes,
              const std::function<void(std::string_view)>& onDelta) override {
    return lines_.feed(bytes, [&](std::string_view line) -> Status {
      if (line.empty()) return {};
      auto o = parseObject(line);
      if (!o) return std::unexpected(malformed("NDJSON line is not a JSON object"));
      if (auto e = inlineError(*o)) return std::unexpected(*e);
      if (model_.empty()) model_ = str(*o, "model");
      if (auto* m = o->if_contains("message"); m && m->is_object()) {
        auto t = str(m->as_object(), "content");
        if (!t.empty()) {
          text_ += t;
          onDelta(t);
        }
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
      if (auto s = feed(rest, [](std::string_view) {}); !s) return std::unexpected(s.error());
    }
    if (!done_)
      return fail(ErrorCode::kProviderError,
                  "provider stream ended before \"done\": true (cut upstream)");
    ChatResult r{text_, finish_.empty() ? "stop" : finish_, model_, {}};
    settleUsage(r.usage, prompt_, completion_, call, text_);
    return r;
  }

 private:
  LineSplitter lines_;
  std::string text_, finish_, model_;
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
    if (m.is_object()) n += 4 + estimateTokens(str(m.as_object(), "content"));
  return std::max<int64_t>(n, 1);
}

HttpRequest chatRequest(const Endpoint& e, const ChatCall& c) {
  HttpRequest r;
  r.url = e.base;
  r.headers.push_back({"Content-Type", "application/json"});
  json::object body;
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
      body["stream"] = c.stream;
      if (c.stream) body["stream_options"] = {{"include_usage", true}};
      break;
    }
    case Protocol::kTgi: {
      r.target = pathJoin(e.base, c.stream ? "/generate_stream" : "/generate");
      if (!e.credential.empty()) r.headers.push_back({"Authorization", "Bearer " + e.credential});
      json::object params{{"max_new_tokens", c.maxTokens}, {"details", true}};
      if (c.temperature && *c.temperature > 0) params["temperature"] = *c.temperature;
      body["inputs"] = transcript(c.messages);
      body["parameters"] = std::move(params);
      break;
    }
    case Protocol::kOllama: {
      r.target = pathJoin(e.base, "/api/chat");
      if (!e.credential.empty()) r.headers.push_back({"Authorization", "Bearer " + e.credential});
      json::object opts{{"num_predict", c.maxTokens}};
      if (c.temperature) opts["temperature"] = *c.temperature;
      body["model"] = e.model;
      body["messages"] = c.messages;
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
      r.finishReason = str(c0, "finish_reason");
      r.model = str(*o, "model");
      openAiUsage(*o, prompt, completion);
      break;
    }
    case Protocol::kTgi: {
      auto* g = o->if_contains("generated_text");
      if (!g || !g->is_string()) return std::unexpected(malformed("no generated_text"));
      r.text = std::string(g->as_string());
      if (auto* d = o->if_contains("details"); d && d->is_object()) {
        completion = integer(d->as_object(), "generated_tokens");
        r.finishReason = str(d->as_object(), "finish_reason") == "length" ? "length" : "stop";
      }
      break;
    }
    case Protocol::kOllama: {
      auto* m = o->if_contains("message");
      if (!m || !m->is_object()) return std::unexpected(malformed("no message"));
      r.text = str(m->as_object(), "content");
      r.model = str(*o, "model");
      r.finishReason = str(*o, "done_reason");
      prompt = integer(*o, "prompt_eval_count");
      completion = integer(*o, "eval_count");
      break;
    }
  }
  if (r.finishReason.empty()) r.finishReason = "stop";
  settleUsage(r.usage, prompt, completion, c, r.text);
  return r;
}

std::unique_ptr<StreamDecoder> streamDecoder(Protocol p) {
  switch (p) {
    case Protocol::kTgi:
      return std::make_unique<TgiDecoder>();
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
