// Provider wire protocols, URLs, retry timing and the circuit breaker. The
// HTTP exchanges themselves are tested end to end against the loopback fake
// provider (tests/e2e/test_providers.py).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "providers/resilience.h"
#include "providers/url.h"
#include "providers/wire.h"

namespace aion::providers {
namespace {
namespace json = boost::json;

ChatCall call(bool stream = true) {
  ChatCall c;
  c.messages = {json::object{{"role", "user"}, {"content", "hello there"}}};
  c.maxTokens = 64;
  c.stream = stream;
  return c;
}

struct Collected {
  std::string text;
  int deltas = 0;
  size_t toolFragments = 0;
  int logprobChunks = 0;
};

Result<ChatResult> decodeAll(Protocol p, const std::vector<std::string>& pieces, Collected& got) {
  auto d = streamDecoder(p, call());
  for (auto& piece : pieces) {
    auto s = d->feed(piece, [&](const Delta& t) {
      got.text += t.text;
      ++got.deltas;
      if (t.toolCalls) got.toolFragments += t.toolCalls->size();
      if (t.logprobs) ++got.logprobChunks;
    });
    if (!s) return std::unexpected(s.error());
  }
  return d->finish(call());
}

TEST(Url, ParsesSchemesPortsAndPaths) {
  auto u = parseUrl("https://api.openai.com/v1/");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->path, "/v1");
  EXPECT_EQ(u->hostHeader(), "api.openai.com");
  auto o = parseUrl("127.0.0.1:11434", true);
  ASSERT_TRUE(o);
  EXPECT_FALSE(o->tls);
  EXPECT_EQ(o->port, 11434);
  EXPECT_EQ(o->hostHeader(), "127.0.0.1:11434");
  EXPECT_TRUE(parseUrl("http://[::1]:8000"));
  for (auto bad : {"ftp://x", "http://", "http://h:0", "http://h:99999", "http://u:p@h",
                   "http://h/p?q=1", "http://h h", "127.0.0.1:11434"})
    EXPECT_FALSE(parseUrl(bad)) << bad;
}

TEST(Wire, OpenAiRequestCarriesModelStreamingAndKey) {
  Endpoint e{Protocol::kOpenAi, *parseUrl("https://api.openai.com/v1"), "sk-x", "gpt-4o-mini", ""};
  auto r = *chatRequest(e, call());
  EXPECT_EQ(r.target, "/v1/chat/completions");
  auto body = json::parse(r.body).as_object();
  EXPECT_EQ(body.at("model").as_string(), "gpt-4o-mini");
  EXPECT_TRUE(body.at("stream").as_bool());
  EXPECT_TRUE(body.at("stream_options").at("include_usage").as_bool());
  EXPECT_EQ(body.at("max_tokens").as_int64(), 64);
  bool auth = false;
  for (auto& [k, v] : r.headers) auth = auth || (k == "Authorization" && v == "Bearer sk-x");
  EXPECT_TRUE(auth);
}

TEST(Wire, AzureUsesDeploymentPathApiVersionAndApiKeyHeader) {
  Endpoint e{Protocol::kAzure, *parseUrl("https://r.openai.azure.com"), "k", "dep1", "2024-10-21"};
  auto r = *chatRequest(e, call(false));
  EXPECT_EQ(r.target, "/openai/deployments/dep1/chat/completions?api-version=2024-10-21");
  auto body = json::parse(r.body).as_object();
  EXPECT_FALSE(body.contains("model"));
  bool key = false;
  for (auto& [k, v] : r.headers) key = key || (k == "api-key" && v == "k");
  EXPECT_TRUE(key);
}

TEST(Wire, TgiAndOllamaRequests) {
  Endpoint t{Protocol::kTgi, *parseUrl("http://tgi:8080"), "", "tgi", ""};
  auto r = *chatRequest(t, call());
  EXPECT_EQ(r.target, "/generate_stream");
  auto body = json::parse(r.body).as_object();
  EXPECT_EQ(body.at("parameters").at("max_new_tokens").as_int64(), 64);
  EXPECT_NE(std::string(body.at("inputs").as_string()).find("user: hello there"),
            std::string::npos);
  Endpoint o{Protocol::kOllama, *parseUrl("http://o:11434"), "", "llama3.2", ""};
  auto ro = *chatRequest(o, call(false));
  EXPECT_EQ(ro.target, "/api/chat");
  EXPECT_FALSE(json::parse(ro.body).at("stream").as_bool());  // Ollama streams unless told
}

ChatCall withOptions(const char* options) {
  ChatCall c = call(false);
  c.options = json::parse(options).as_object();
  return c;
}

TEST(Wire, EachProtocolHonoursOrRefusesOptionsByName) {
  struct Case {
    std::optional<Protocol> protocol;
    const char* options;
    const char* refused;  // nullptr: honoured
  };
  const char* tools = R"({"tools":[{"type":"function","function":{"name":"f"}}]})";
  for (auto [p, options, refused] : std::vector<Case>{
           {Protocol::kOpenAi, tools, nullptr},
           {Protocol::kAzure, R"({"logprobs":true,"top_logprobs":2,"n":1})", nullptr},
           {Protocol::kOllama, tools, nullptr},
           {Protocol::kOllama, R"({"tool_choice":"required"})", "tool_choice"},
           {Protocol::kOllama, R"({"parallel_tool_calls":false})", "parallel_tool_calls"},
           {Protocol::kOllama, R"({"parallel_tool_calls":true,"stop":"x"})", nullptr},
           {Protocol::kOllama, R"({"logprobs":true})", "logprobs"},
           {Protocol::kTgi, tools, "tools"},
           {Protocol::kTgi, R"({"response_format":{"type":"json_object"},"seed":1})", nullptr},
           {Protocol::kTgi, R"({"presence_penalty":1})", "presence_penalty"},
           {std::nullopt, R"({"seed":1,"user":"u","logprobs":false})", nullptr},
           {std::nullopt, R"({"stop":"x"})", "stop"},
           {Protocol::kOpenAi, R"({"n":3})", nullptr},
           {Protocol::kTgi, R"({"n":2})", "n"},
           {Protocol::kOllama, R"({"n":2})", "n"},
           {Protocol::kOllama, R"({"n":1})", nullptr},
           {std::nullopt, R"({"response_format":{"type":"json_object"}})", "response_format"}}) {
    auto st = checkChat(p, withOptions(options));
    if (!refused) {
      EXPECT_TRUE(st) << options << ": " << st.error().message;
      continue;
    }
    ASSERT_FALSE(st) << options;
    EXPECT_EQ(st.error().code, ErrorCode::kInvalidRequest);
    EXPECT_EQ(st.error().details.at("param"), refused) << options;
    EXPECT_EQ(st.error().details.at("openaiCode"), "unsupported_parameter");
  }
  // Images travel only where the protocol carries them.
  ChatCall img = call(false);
  img.messages = {json::parse(R"({"role":"user","content":[{"type":"text","text":"what?"},
      {"type":"image_url","image_url":{"url":"https://x/a.png"}}]})")};
  EXPECT_TRUE(checkChat(Protocol::kOpenAi, img));
  auto e = checkChat(Protocol::kOllama, img);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().details.at("param"), "messages");
}

TEST(Wire, OptionsMapToEachProtocolsOwnFields) {
  Endpoint oa{Protocol::kOpenAi, *parseUrl("http://x/v1"), "", "m", ""};
  auto c = withOptions(R"({"tools":[{"type":"function","function":{"name":"f"}}],
      "tool_choice":"auto","stop":"END","seed":7,"logprobs":true,"top_logprobs":2,"user":"u"})");
  auto body = json::parse(chatRequest(oa, c)->body).as_object();
  for (auto k : {"tools", "tool_choice", "stop", "seed", "logprobs", "top_logprobs", "user"})
    EXPECT_TRUE(body.contains(k)) << k;

  Endpoint ol{Protocol::kOllama, *parseUrl("http://o:11434"), "", "llama3.2", ""};
  auto oc = withOptions(R"({"tools":[{"type":"function","function":{"name":"get_weather"}}],
      "stop":"END","seed":7,"top_p":0.5,"response_format":{"type":"json_schema",
      "json_schema":{"name":"w","schema":{"type":"object","properties":{"t":{"type":"number"}}}}}})");
  oc.messages = json::parse(R"([{"role":"user","content":"weather?"},
      {"role":"assistant","content":null,"tool_calls":[{"id":"call_9","type":"function",
          "function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
      {"role":"tool","tool_call_id":"call_9","content":"18C"}])")
                    .as_array();
  auto ob = json::parse(chatRequest(ol, oc)->body).as_object();
  EXPECT_EQ(ob.at("tools").at(0).at("function").at("name"), "get_weather");
  EXPECT_EQ(ob.at("options").at("stop"), (json::array{"END"}));
  EXPECT_EQ(ob.at("options").at("seed"), 7);
  EXPECT_EQ(ob.at("format").at("properties").at("t").at("type"), "number");
  auto& msgs = ob.at("messages").as_array();
  EXPECT_EQ(msgs[1].at("content"), "");  // Ollama takes text, never null
  EXPECT_EQ(msgs[1].at("tool_calls").at(0).at("function").at("arguments").at("city"), "Paris");
  EXPECT_EQ(msgs[2].at("tool_name"), "get_weather");
  auto json = withOptions(R"({"response_format":{"type":"json_object"}})");
  EXPECT_EQ(json::parse(chatRequest(ol, json)->body).at("format"), "json");

  Endpoint tg{Protocol::kTgi, *parseUrl("http://tgi:8080"), "", "tgi", ""};
  auto tc = withOptions(R"({"stop":["a","b"],"seed":3,"top_p":1,"response_format":
      {"type":"json_schema","json_schema":{"name":"w","schema":{"type":"object"}}}})");
  auto params = json::parse(chatRequest(tg, tc)->body).at("parameters").as_object();
  EXPECT_EQ(params.at("stop"), (json::array{"a", "b"}));
  EXPECT_EQ(params.at("seed"), 3);
  EXPECT_FALSE(params.contains("top_p"));  // TGI refuses 1; it means no cut anyway
  EXPECT_EQ(params.at("grammar").at("type"), "json");
  EXPECT_TRUE(chatRequest(tg, withOptions(R"({"tools":[]})")));  // asks for nothing
  EXPECT_FALSE(chatRequest(tg, withOptions(R"({"logprobs":true})")));
}

TEST(Wire, ToolCallFragmentsAndLogprobsAccumulateAcrossChunks) {
  std::string s =
      "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":"
      "[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
      "\"arguments\":\"\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
      "{\"arguments\":\"{\\\"a\\\":\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
      "{\"arguments\":\"1}\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_2\","
      "\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{},\"logprobs\":{\"content\":[{\"token\":\"x\","
      "\"logprob\":-1}]},\"finish_reason\":\"tool_calls\"}]}\n\n"
      "data: [DONE]\n\n";
  Collected got;
  auto r = decodeAll(Protocol::kOpenAi, {s}, got);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(got.toolFragments, 4u);
  EXPECT_EQ(got.logprobChunks, 1);
  ASSERT_EQ(r->toolCalls.size(), 2u);
  EXPECT_EQ(r->toolCalls[0].at("id"), "call_1");
  EXPECT_EQ(r->toolCalls[0].at("function").at("arguments"), "{\"a\":1}");
  EXPECT_EQ(r->toolCalls[1].at("function").at("name"), "g");
  EXPECT_EQ(r->finishReason, "tool_calls");
  EXPECT_EQ(r->logprobs.at("content").at(0).at("token"), "x");

  // TGI keeps a stop sequence in its text; it is cut, however the tokens split it.
  for (std::string tokens : {"ab|cE|ND", "abcEND", "a|b|c|E|N|D"}) {
    auto c = withOptions(R"({"stop":["END","XY"]})");
    auto d = streamDecoder(Protocol::kTgi, c);
    std::string got;
    for (size_t at = 0; at <= tokens.size();) {
      size_t bar = std::min(tokens.find('|', at), tokens.size());
      std::string frame = "data:{\"token\":{\"text\":\"" + tokens.substr(at, bar - at) + "\"}}\n\n";
      ASSERT_TRUE(d->feed(frame, [&](const Delta& x) { got += x.text; }));
      at = bar + 1;
    }
    ASSERT_TRUE(
        d->feed("data:{\"generated_text\":\"abcEND\",\"details\":{\"finish_reason\":"
                "\"stop_sequence\",\"generated_tokens\":3}}\n\n",
                [&](const Delta& x) { got += x.text; }));
    auto r = d->finish(c);
    ASSERT_TRUE(r);
    EXPECT_EQ(got, "abc") << tokens;
    EXPECT_EQ(r->text, "abc");
    EXPECT_EQ(r->finishReason, "stop");
  }
  auto whole = parseChat(
      Protocol::kTgi, R"({"generated_text":"abcXY","details":{"finish_reason":"stop_sequence"}})",
      withOptions(R"({"stop":["END","XY"]})"));
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->text, "abc");

  // Several choices (n > 1) accumulate apart.
  Collected nc;
  auto n = decodeAll(Protocol::kOpenAi,
                     {"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}},"
                      "{\"index\":1,\"delta\":{\"content\":\"b\"}}]}\n\n"
                      "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"c\"},"
                      "\"finish_reason\":\"length\"},{\"index\":0,\"delta\":{},"
                      "\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"},
                     nc);
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->text, "a");
  ASSERT_EQ(n->choices.size(), 2u);
  EXPECT_EQ(n->choices[1].at("message").at("content"), "bc");
  EXPECT_EQ(n->choices[1].at("finish_reason"), "length");

  // Ollama sends whole calls with object arguments, and says "stop".
  Collected og;
  auto o = decodeAll(Protocol::kOllama,
                     {"{\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{"
                      "\"function\":{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}}"
                      "]},\"done\":false}\n",
                      "{\"message\":{\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\"}\n"},
                     og);
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(og.toolFragments, 1u);
  ASSERT_EQ(o->toolCalls.size(), 1u);
  EXPECT_TRUE(std::string(o->toolCalls[0].at("id").as_string()).starts_with("call_"));
  EXPECT_EQ(o->toolCalls[0].at("function").at("arguments"), "{\"city\":\"Paris\"}");
  EXPECT_FALSE(o->toolCalls[0].as_object().contains("index"));
  EXPECT_EQ(o->finishReason, "tool_calls");
}

TEST(Wire, OpenAiStreamSplitAnywhereDecodesDeltasAndUsage) {
  std::string s =
      "data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"
      ": keep-alive\n\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\r\n\r\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}\n\n"
      "data: [DONE]\n\n";
  for (size_t cut = 1; cut < s.size(); cut += 7) {
    Collected got;
    auto r = decodeAll(Protocol::kOpenAi, {s.substr(0, cut), s.substr(cut)}, got);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(got.text, "Hello");
    EXPECT_EQ(r->text, "Hello");
    EXPECT_EQ(r->usage.promptTokens, 7);
    EXPECT_EQ(r->usage.completionTokens, 2);
    EXPECT_FALSE(r->usage.estimated());
    EXPECT_EQ(r->model, "m");
  }
}

TEST(Wire, StreamCutBeforeTheEndIsAnError) {
  Collected got;
  auto r = decodeAll(Protocol::kOpenAi,
                     {"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"}, got);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kProviderError);
  EXPECT_EQ(got.text, "a");
  Collected g2;
  EXPECT_FALSE(
      decodeAll(Protocol::kOllama, {"{\"message\":{\"content\":\"x\"},\"done\":false}\n"}, g2));
  Collected g3;
  EXPECT_FALSE(decodeAll(Protocol::kTgi, {"data:{\"token\":{\"text\":\"x\"}}\n\n"}, g3));
}

TEST(Wire, MalformedChunksAndInlineErrorsFail) {
  Collected got;
  auto r = decodeAll(Protocol::kOpenAi, {"data: {not json}\n\n"}, got);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("malformed"), std::string::npos);
  auto e =
      decodeAll(Protocol::kOpenAi, {"data: {\"error\":{\"message\":\"overloaded\"}}\n\n"}, got);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("overloaded"), std::string::npos);
  auto huge = decodeAll(Protocol::kOllama, {std::string(5 << 20, 'x')}, got);
  EXPECT_FALSE(huge);
}

TEST(Wire, MissingUsageIsEstimatedAndMarked) {
  Collected got;
  auto r = decodeAll(Protocol::kOpenAi,
                     {"data: {\"choices\":[{\"delta\":{\"content\":\"four words are here\"}}]}\n\n"
                      "data: [DONE]\n\n"},
                     got);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->usage.promptEstimated);
  EXPECT_TRUE(r->usage.completionEstimated);
  EXPECT_EQ(r->usage.completionTokens, estimateTokens("four words are here"));
}

TEST(Wire, TgiStreamSkipsSpecialTokensAndTakesGeneratedTokens) {
  Collected got;
  auto r = decodeAll(
      Protocol::kTgi,
      {"data:{\"token\":{\"id\":1,\"text\":\"Hi\",\"special\":false},\"generated_text\":null}\n\n",
       "data:{\"token\":{\"id\":2,\"text\":\"</s>\",\"special\":true},\"generated_text\":\"Hi\","
       "\"details\":{\"finish_reason\":\"eos_token\",\"generated_tokens\":2}}\n\n"},
      got);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->text, "Hi");
  EXPECT_EQ(r->usage.completionTokens, 2);
  EXPECT_FALSE(r->usage.completionEstimated);
  EXPECT_TRUE(r->usage.promptEstimated);  // TGI does not report prompt tokens
}

TEST(Wire, OllamaNdjsonWithCountsAndNoTrailingNewline) {
  Collected got;
  auto r =
      decodeAll(Protocol::kOllama,
                {"{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"A\"},"
                 "\"done\":false}\n{\"message\":{\"content\":\"B\"},\"done\":false}\n",
                 "{\"message\":{\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\","
                 "\"prompt_eval_count\":11,\"eval_count\":2}"},
                got);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->text, "AB");
  EXPECT_EQ(got.deltas, 2);
  EXPECT_EQ(r->usage.promptTokens, 11);
  EXPECT_EQ(r->usage.completionTokens, 2);
}

TEST(Wire, NonStreamedBodies) {
  auto c = call(false);
  auto o = parseChat(Protocol::kOpenAi,
                     R"({"model":"m","choices":[{"message":{"role":"assistant","content":"yo"},
                        "finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":1}})",
                     c);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->text, "yo");
  EXPECT_EQ(o->finishReason, "length");
  EXPECT_EQ(o->usage.promptTokens, 3);
  EXPECT_FALSE(parseChat(Protocol::kOpenAi, R"({"choices":[]})", c));
  EXPECT_FALSE(parseChat(Protocol::kOpenAi, "[1,2]", c));
  auto t = parseChat(Protocol::kTgi, R"([{"generated_text":"x"}])", c);
  EXPECT_FALSE(t);  // TGI /generate answers an object
  EXPECT_TRUE(parseChat(Protocol::kTgi, R"({"generated_text":"x"})", c));
}

TEST(Wire, EmbeddingsInInputOrder) {
  std::vector<std::string> in{"a", "b"};
  auto r = parseEmbed(R"({"data":[{"index":1,"embedding":[2]},{"index":0,"embedding":[1]}],
                          "model":"e","usage":{"prompt_tokens":2}})",
                      in);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->vectors[0].as_array()[0].as_int64(), 1);
  EXPECT_EQ(r->usage.promptTokens, 2);
  EXPECT_FALSE(parseEmbed(R"({"data":[{"index":5,"embedding":[1]}]})", in));
  EXPECT_FALSE(parseEmbed(R"({"data":[{"index":0,"embedding":[1]}]})", in));  // one missing
}

TEST(Wire, ErrorMessagesFromEveryShape) {
  EXPECT_EQ(errorMessage(R"({"error":{"message":"bad key","type":"x"}})"), "bad key");
  EXPECT_EQ(errorMessage(R"({"error":"model not found"})"), "model not found");
  EXPECT_EQ(errorMessage(R"({"message":"nope"})"), "nope");
  EXPECT_EQ(errorMessage("<html>\n502</html>"), "<html> 502</html>");
  EXPECT_EQ(errorMessage(""), "(empty body)");
}

TEST(Resilience, RetryAfterSecondsAndDates) {
  auto now = std::chrono::system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(parseRetryAfter("2", now)->count(), 2000);
  EXPECT_EQ(parseRetryAfter(" 0.5 ", now)->count(), 500);
  EXPECT_EQ(parseRetryAfter("Sun, 06 Nov 1994 08:49:47 GMT", now)->count(), 10000);
  EXPECT_FALSE(parseRetryAfter("-1", now));
  EXPECT_FALSE(parseRetryAfter("soon", now));
  EXPECT_FALSE(parseRetryAfter("", now));
}

TEST(Resilience, BackoffIsJitteredAndCapped) {
  std::mt19937_64 rng(1);
  policy::RetryPolicy p{.max = 5, .baseMs = 100, .maxMs = 1000};
  for (int retry = 0; retry < 10; ++retry) {
    auto d = backoff(retry, p, rng).count();
    EXPECT_GE(d, 0);
    EXPECT_LE(d, std::min(1000, 100 << std::min(retry, 10)));
  }
}

TEST(Resilience, BreakerOpensHalfOpensAndCloses) {
  CircuitBreaker b({.failures = 2, .openMs = 1000});
  auto t0 = Clock::now();
  EXPECT_TRUE(b.allow(t0));
  b.failure(t0);
  EXPECT_TRUE(b.allow(t0));
  b.failure(t0);
  EXPECT_FALSE(b.allow(t0));
  EXPECT_TRUE(b.openReason(t0).has_value());
  auto later = t0 + std::chrono::milliseconds(1500);
  EXPECT_TRUE(b.allow(later));   // the trial
  EXPECT_FALSE(b.allow(later));  // only one at a time
  b.failure(later);              // trial failed: open again
  EXPECT_FALSE(b.allow(later + std::chrono::milliseconds(10)));
  auto again = later + std::chrono::milliseconds(1100);
  EXPECT_TRUE(b.allow(again));
  b.success();
  EXPECT_TRUE(b.allow(again));
  EXPECT_FALSE(b.openReason(again).has_value());
}

}  // namespace
}  // namespace aion::providers
