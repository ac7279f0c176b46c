// The OpenAI wire shapes: request parsing, model names, completions, stream
// chunks and errors, as the official SDKs read them.
#include "gateway/openai_codec.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "control/model_catalog.h"
#include "gateway/openai_http.h"
#include "http/sse.h"

namespace aion::gateway {
namespace {
namespace json = boost::json;

json::object body(const char* text) {
  return json::parse(text).as_object();
}

TEST(OpenAiCodec, ParsesChatRequestsAndNamesTheBadParameter) {
  auto r = parseChatRequest(body(R"({"model":"gpt-4o-mini","stream":true,
      "stream_options":{"include_usage":true},"max_completion_tokens":7,"temperature":0.5,
      "messages":[{"role":"system","content":"be brief"},
                  {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]})"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->stream && r->includeUsage);
  EXPECT_EQ(*r->maxTokens, 7);
  EXPECT_EQ(r->lastUser, "a\nb");
  auto p = chatParams(*r);
  EXPECT_EQ(p.at("text"), "a\nb");
  EXPECT_EQ(p.at("max_tokens"), 7);
  EXPECT_EQ(p.at("messages").as_array().size(), 2u);

  struct Bad {
    const char* body;
    const char* param;
  };
  for (auto [text, param] : std::vector<Bad>{
           {R"({"messages":[{"role":"user","content":"x"}]})", "model"},
           {R"({"model":"m","messages":[]})", "messages"},
           {R"({"model":"m","messages":[{"role":"wizard","content":"x"}]})", "messages"},
           {R"({"model":"m","messages":[{"role":"system","content":"x"}]})", "messages"},
           {R"({"model":"m","messages":[{"role":"user","content":7}]})", "messages"},
           {R"({"model":"m","stream":"yes","messages":[{"role":"user","content":"x"}]})", "stream"},
           {R"({"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]})",
            "max_tokens"},
           {R"({"model":"m","temperature":3,"messages":[{"role":"user","content":"x"}]})",
            "temperature"}}) {
    auto e = parseChatRequest(body(text));
    ASSERT_FALSE(e) << text;
    EXPECT_EQ(e.error().code, ErrorCode::kInvalidRequest);
    EXPECT_EQ(e.error().details.at("param"), param) << text;
    EXPECT_EQ(openAiStatus(e.error()), 400u);
  }
}

TEST(OpenAiCodec, CarriesOptionsAndRefusesWhatNoRouteCarriesByName) {
  const std::string msgs = R"("messages":[{"role":"user","content":"x"}])";
  auto parse = [&](const std::string& extra) {
    return parseChatRequest(body(("{\"model\":\"m\"," + msgs + extra + "}").c_str()));
  };
  const std::string tools = R"(,"tools":[{"type":"function","function":{"name":"get_weather",
      "parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}])";
  // Carried to the route (which may still refuse them), or at their
  // defaults; null is as good as absent (SDKs send it).
  for (std::string ok :
       {std::string(), std::string(R"(,"n":1)"), std::string(R"(,"logprobs":false)"),
        std::string(R"(,"user":"u-1")"), std::string(R"(,"response_format":{"type":"text"})"),
        std::string(R"(,"tools":null)"), std::string(R"(,"seed":null,"stop":null)"),
        tools + R"(,"tool_choice":"auto","parallel_tool_calls":false)",
        tools + R"(,"tool_choice":{"type":"function","function":{"name":"get_weather"}})",
        std::string(R"(,"response_format":{"type":"json_object"})"),
        std::string(R"(,"response_format":{"type":"json_schema","json_schema":{"name":"w",
            "strict":true,"schema":{"type":"object"}}})"),
        std::string(R"(,"stop":["\n","END"],"seed":7,"top_p":0.5,"frequency_penalty":-1)"),
        std::string(R"(,"presence_penalty":2,"logprobs":true,"top_logprobs":3)"),
        std::string(R"(,"metadata":{"team":"search"},"safety_identifier":"h")"),
        std::string(R"(,"n":3)")}) {
    auto r = parse(ok);
    EXPECT_TRUE(r) << ok << ": " << r.error().message;
  }
  auto full = parse(tools + R"(,"stop":"END","seed":7,"metadata":{"team":"search"})");
  ASSERT_TRUE(full);
  auto p = chatParams(*full);
  EXPECT_EQ(p.at("stop"), "END");
  EXPECT_EQ(p.at("seed"), 7);
  EXPECT_EQ(p.at("tools").as_array().size(), 1u);
  EXPECT_EQ(p.at("metadata").at("team"), "search");

  struct Refused {
    std::string extra;
    const char* param;
    const char* code;
  };
  for (auto [extra, param, code] : std::vector<Refused>{
           {R"(,"tools":[{"type":"custom","custom":{"name":"f"}}])", "tools",
            "unsupported_parameter"},
           {R"(,"tools":[{"type":"function","function":{"name":"bad name"}}])", "tools",
            "invalid_request"},
           {R"(,"tools":{"type":"function"})", "tools", "invalid_request"},
           {R"(,"tool_choice":"always")", "tool_choice", "invalid_request"},
           {tools + R"(,"tool_choice":{"type":"function","function":{"name":"other"}})",
            "tool_choice", "invalid_request"},
           {R"(,"tool_choice":"required")", "tool_choice", "invalid_request"},
           {R"(,"parallel_tool_calls":"yes")", "parallel_tool_calls", "invalid_request"},
           {R"(,"response_format":"json")", "response_format", "invalid_request"},
           {R"(,"response_format":{"type":"json_schema","json_schema":{}})", "response_format",
            "invalid_request"},
           {R"(,"response_format":{"type":"yaml"})", "response_format", "invalid_request"},
           {R"(,"stop":["a","b","c","d","e"])", "stop", "invalid_request"},
           {R"(,"stop":[1])", "stop", "invalid_request"},
           {R"(,"seed":1.5)", "seed", "invalid_request"},
           {R"(,"top_p":1.5)", "top_p", "invalid_request"},
           {R"(,"presence_penalty":-3)", "presence_penalty", "invalid_request"},
           {R"(,"top_logprobs":2)", "top_logprobs", "invalid_request"},
           {R"(,"logprobs":true,"top_logprobs":21)", "top_logprobs", "invalid_request"},
           {R"(,"metadata":{"a":1})", "metadata", "invalid_request"},
           {R"(,"n":0)", "n", "invalid_request"},
           {R"(,"n":1.5)", "n", "invalid_request"},
           {R"(,"functions":[])", "functions", "unsupported_parameter"},
           {R"(,"user":5)", "user", "invalid_request"},
           {R"(,"frobnicate":true)", "frobnicate", "unknown_parameter"}}) {
    auto e = parse(extra);
    ASSERT_FALSE(e) << extra;
    EXPECT_EQ(e.error().details.at("param"), param) << extra;
    EXPECT_EQ(openAiStatus(e.error()), 400u);
    auto wire = openAiError(e.error()).at("error").as_object();
    EXPECT_EQ(wire.at("param"), param);
    EXPECT_EQ(wire.at("code"), code) << extra;
    EXPECT_EQ(wire.at("type"), "invalid_request_error");
  }
  // Audio parts are refused, not read as an empty text; image parts are the route's to judge.
  auto audio = parseChatRequest(body(R"({"model":"m","messages":[{"role":"user","content":[
      {"type":"text","text":"what is this?"},
      {"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]})"));
  ASSERT_FALSE(audio);
  EXPECT_EQ(audio.error().details.at("param"), "messages");
  EXPECT_NE(audio.error().message.find("input_audio"), std::string::npos);
  auto img = parseChatRequest(body(R"({"model":"m","messages":[{"role":"user","content":[
      {"type":"text","text":"what is this?"},
      {"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]})"));
  ASSERT_TRUE(img) << img.error().message;
  EXPECT_EQ(img->lastUser, "what is this?");
  EXPECT_TRUE(img->messages[0].at("content").is_array());
}

TEST(OpenAiCodec, TheAionExtensionNamesACollectionForContext) {
  auto r = parseChatRequest(body(R"({"model":"m","messages":[{"role":"user","content":"x"}],
      "aion":{"context":{"collection":"docs","top_k":3,"query":"tyres"}}})"));
  ASSERT_TRUE(r) << r.error().message;
  auto p = chatParams(*r);
  EXPECT_EQ(json::serialize(p.at("context")), R"({"collection":"docs","top_k":3,"query":"tyres"})");
  auto plain = parseChatRequest(body(R"({"model":"m","messages":[{"role":"user","content":"x"}],
      "aion":null})"));
  ASSERT_TRUE(plain);
  EXPECT_FALSE(chatParams(*plain).contains("context"));
  for (const char* ext :
       {R"("x")", R"({"context":"docs"})", R"({"other":{}})", R"({"context":{}})",
        R"({"context":{"collection":"Bad/Name"}})", R"({"context":{"collection":7}})",
        R"({"context":{"collection":"docs","top_k":0}})",
        R"({"context":{"collection":"docs","top_k":"3"}})",
        R"({"context":{"collection":"docs","query":""}})",
        R"({"context":{"collection":"docs","extra":1}})"}) {
    std::string text = R"({"model":"m","messages":[{"role":"user","content":"x"}],"aion":)";
    text += ext;
    text += "}";
    auto e = parseChatRequest(body(text.c_str()));
    ASSERT_FALSE(e) << ext;
    EXPECT_EQ(e.error().details.at("param"), "aion") << ext;
  }
  // The chat intent's schema checks the ranges; its error names the extension.
  auto wire = openAiError(
      Error(ErrorCode::kInvalidParams, "params.context.top_k: greater than maximum 20"));
  EXPECT_EQ(wire.at("error").at("param"), "aion");
  // The answer says which documents the context came from.
  json::value result = json::parse(
      R"({"text":"hi","context":{"collection":"docs","matches":[{"docId":"a","chunk":0}]}})");
  auto done = completionJson("chatcmpl-1", 0, "m", *r, result, "tsk_1");
  EXPECT_EQ(done.at("aion").at("context").at("collection"), "docs");
  EXPECT_EQ(done.at("aion").at("taskId"), "tsk_1");
}

TEST(OpenAiCodec, ASchemaErrorNamesTheRequestParameter) {
  auto wire =
      openAiError(Error(ErrorCode::kInvalidParams, "params.max_tokens: greater than maximum 512"))
          .at("error")
          .as_object();
  EXPECT_EQ(wire.at("param"), "max_tokens");
  EXPECT_EQ(openAiStatus(Error(ErrorCode::kInvalidParams, "x")), 400u);
  auto nested = openAiError(Error(ErrorCode::kInvalidParams, "params.messages[3].role: bad"));
  EXPECT_EQ(nested.at("error").at("param"), "messages");
  EXPECT_TRUE(openAiError(Error(ErrorCode::kInvalidParams, "params must be a JSON object"))
                  .at("error")
                  .at("param")
                  .is_null());
}

TEST(OpenAiCodec, ToolConversationsKeepTheirCallsAndIds) {
  auto r = parseChatRequest(body(R"({"model":"m","messages":[
      {"role":"user","content":"weather in Paris?","extra":"dropped"},
      {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
          "function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
      {"role":"tool","tool_call_id":"call_1","content":"18C"}]})"));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->messages.size(), 3u);
  EXPECT_FALSE(r->messages[0].as_object().contains("extra"));
  EXPECT_TRUE(r->messages[1].at("content").is_null());
  EXPECT_EQ(r->messages[1].at("tool_calls").at(0).at("id"), "call_1");
  EXPECT_EQ(r->messages[2].at("tool_call_id"), "call_1");
  EXPECT_EQ(r->lastUser, "weather in Paris?");
  for (
      const char* bad :
      {R"({"model":"m","messages":[{"role":"user","content":"x"},{"role":"tool","content":"y"}]})",
       R"({"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null}]})",
       R"({"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant",
               "content":null,"tool_calls":[{"id":"c","function":{"name":"f"}}]}]})"}) {
    auto e = parseChatRequest(body(bad));
    ASSERT_FALSE(e) << bad;
    EXPECT_EQ(e.error().details.at("param"), "messages") << bad;
  }
}

TEST(OpenAiCodec, SeveralChoicesEachWithItsIndexAndFinish) {
  auto c =
      parseChatRequest(body(R"({"model":"m","n":2,"messages":[{"role":"user","content":"x"}]})"));
  ASSERT_TRUE(c);
  json::value result = json::parse(R"({"text":"a","finishReason":"stop","choices":[
      {"index":0,"message":{"role":"assistant","content":"a"},"finish_reason":"stop"},
      {"index":1,"message":{"role":"assistant","content":"b"},"finish_reason":"length"}]})");
  auto done = completionJson("chatcmpl-1", 1, "m", *c, result, "tsk_1");
  auto& choices = done.at("choices").as_array();
  ASSERT_EQ(choices.size(), 2u);
  EXPECT_EQ(choices[1].at("index"), 1);
  EXPECT_EQ(choices[1].at("message").at("content"), "b");
  EXPECT_EQ(choices[1].at("finish_reason"), "length");
  auto frame = deltaChunk("i", 1, "m", json::parse(R"({"text":"b","choice":1})"));
  EXPECT_EQ(json::parse(frame.substr(6)).at("choices").at(0).at("index"), 1);
  auto tail = finalChunks("i", 1, "m", *c, result, true);
  EXPECT_NE(tail.find("\"index\":1,\"delta\":{},\"finish_reason\":\"length\""), std::string::npos)
      << tail;
}

TEST(OpenAiCodec, ToolCallsAndLogprobsInCompletionsAndChunks) {
  auto c = parseChatRequest(body(R"({"model":"m","messages":[{"role":"user","content":"x"}]})"));
  ASSERT_TRUE(c);
  json::value result = json::parse(R"({"text":"","finishReason":"tool_calls",
      "toolCalls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}],
      "logprobs":{"content":[{"token":"a","logprob":-0.5,"bytes":[97],"top_logprobs":[]}]},
      "usage":{"promptTokens":3,"completionTokens":1}})");
  auto done = completionJson("chatcmpl-1", 1, "m", *c, result, "tsk_1");
  auto& choice = done.at("choices").at(0).as_object();
  EXPECT_TRUE(choice.at("message").at("content").is_null());  // null beside tool calls
  EXPECT_EQ(choice.at("message").at("tool_calls").at(0).at("function").at("name"), "f");
  EXPECT_EQ(choice.at("finish_reason"), "tool_calls");
  EXPECT_EQ(choice.at("logprobs").at("content").at(0).at("token"), "a");
  // A delta event carrying a tool-call fragment and logprobs becomes one chunk.
  auto frame = deltaChunk("chatcmpl-1", 1, "m", json::parse(R"({"route":"model:x","index":0,
      "text":"","toolCalls":[{"index":0,"function":{"arguments":"{\"ci"}}],
      "logprobs":{"content":[]}})"));
  ASSERT_TRUE(frame.starts_with("data: ")) << frame;
  auto chunk = json::parse(frame.substr(6)).as_object();
  auto& ch = chunk.at("choices").at(0).as_object();
  EXPECT_FALSE(ch.at("delta").as_object().contains("content"));
  EXPECT_EQ(ch.at("delta").at("tool_calls").at(0).at("function").at("arguments"), "{\"ci");
  EXPECT_TRUE(ch.at("logprobs").is_object());
  EXPECT_TRUE(deltaChunk("i", 1, "m", json::parse(R"({"route":"r","text":""})")).empty());
  // An answer that arrived whole (not streamed) still streams its tool calls, indexed.
  auto tail = finalChunks("chatcmpl-1", 1, "m", *c, result, false);
  EXPECT_NE(tail.find("\"tool_calls\":[{\"id\":\"call_1\""), std::string::npos) << tail;
  EXPECT_NE(tail.find("\"index\":0"), std::string::npos);
  EXPECT_NE(tail.find("\"finish_reason\":\"tool_calls\""), std::string::npos);
}

TEST(OpenAiCodec, EmbeddingRequestsAndTheirListInFloatOrBase64) {
  auto r = parseEmbeddingRequest(body(R"({"model":"e","input":["a b","c"],"user":"u"})"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->base64);
  EXPECT_EQ(embedParams(*r).at("input").as_array().size(), 2u);
  json::value result = json::parse(
      R"({"embeddings":[[0.5,-1.0],[0.25,2.0]],"usage":{"promptTokens":3,"completionTokens":0}})");
  auto list = embeddingsJson(*r, result);
  EXPECT_EQ(list.at("object"), "list");
  EXPECT_EQ(list.at("model"), "e");
  EXPECT_EQ(list.at("usage").at("prompt_tokens"), 3);
  EXPECT_EQ(list.at("usage").at("total_tokens"), 3);
  auto& data = list.at("data").as_array();
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(data[1].at("index"), 1);
  EXPECT_EQ(data[1].at("embedding"), (json::array{0.25, 2.0}));
  // base64: little-endian float32, as the SDKs decode it (0.5f, -1.0f).
  auto b = parseEmbeddingRequest(body(R"({"model":"e","input":"x","encoding_format":"base64"})"));
  ASSERT_TRUE(b);
  EXPECT_EQ(embeddingsJson(*b, result).at("data").at(0).at("embedding"), "AAAAPwAAgL8=");

  struct Bad {
    const char* body;
    const char* param;
    const char* code;
  };
  for (auto [text, param, code] : std::vector<Bad>{
           {R"({"input":"x"})", "model", "invalid_request"},
           {R"({"model":"e"})", "input", "invalid_request"},
           {R"({"model":"e","input":""})", "input", "invalid_request"},
           {R"({"model":"e","input":[]})", "input", "invalid_request"},
           {R"({"model":"e","input":["a",7]})", "input", "unsupported_parameter"},
           {R"({"model":"e","input":[[1,2]]})", "input", "unsupported_parameter"},
           {R"({"model":"e","input":{"a":1}})", "input", "invalid_request"},
           {R"({"model":"e","input":"x","encoding_format":"hex"})", "encoding_format",
            "invalid_request"},
           {R"({"model":"e","input":"x","dimensions":4})", "dimensions", "unsupported_parameter"},
           {R"({"model":"e","input":"x","extra":1})", "extra", "unknown_parameter"}}) {
    auto e = parseEmbeddingRequest(body(text));
    ASSERT_FALSE(e) << text;
    auto wire = openAiError(e.error()).at("error").as_object();
    EXPECT_EQ(wire.at("param"), param) << text;
    EXPECT_EQ(wire.at("code"), code) << text;
    EXPECT_EQ(openAiStatus(e.error()), 400u);
  }
  json::array many(257, json::value("x"));
  EXPECT_FALSE(parseEmbeddingRequest(json::object{{"model", "e"}, {"input", many}}));
}

TEST(OpenAiCodec, ModelsByIdAliasOrNotFound) {
  std::vector<control::ModelEntry> models{{.id = "auto", .intent = "chat", .ownedBy = "aionos"},
                                          {.id = "gpt-4o-mini",
                                           .intent = "chat",
                                           .route = "model:gpt-4o-mini",
                                           .ownedBy = "openai",
                                           .aliases = {"openai/gpt-4o-mini"}},
                                          {.id = "text-embedding-3-small",
                                           .intent = "embed",
                                           .route = "model:text-embedding-3-small",
                                           .ownedBy = "openai"}};
  using control::findModel;
  EXPECT_EQ(findModel(models, "auto", "chat")->route, "");
  EXPECT_EQ(findModel(models, "openai/gpt-4o-mini", "chat")->id, "gpt-4o-mini");
  auto missing = findModel(models, "gpt-5", "chat");
  ASSERT_FALSE(missing);
  EXPECT_EQ(openAiStatus(missing.error()), 404u);
  auto err = openAiError(missing.error()).at("error").as_object();
  EXPECT_EQ(err.at("code"), "model_not_found");
  EXPECT_EQ(err.at("param"), "model");
  EXPECT_EQ(err.at("type"), "invalid_request_error");
  auto wrongKind = findModel(models, "text-embedding-3-small", "chat");
  ASSERT_FALSE(wrongKind);
  EXPECT_EQ(openAiStatus(wrongKind.error()), 400u);
  auto j = modelJson(models[1]);
  EXPECT_EQ(j.at("object"), "model");
  EXPECT_EQ(j.at("owned_by"), "openai");
}

TEST(OpenAiCodec, CompletionUsesProviderUsageElseEstimates) {
  ChatRequest c;
  c.model = "gpt-4o-mini";
  c.lastUser = "hello big world";
  auto provider = json::parse(R"({"text":"hi there","finishReason":"length",
      "usage":{"promptTokens":3,"completionTokens":2,"estimated":false}})");
  auto out = completionJson("chatcmpl-1", 5, "gpt-4o-mini", c, provider, "tsk_1");
  EXPECT_EQ(out.at("object"), "chat.completion");
  EXPECT_EQ(out.at("choices").at(0).at("message").at("content"), "hi there");
  EXPECT_EQ(out.at("choices").at(0).at("finish_reason"), "length");
  EXPECT_EQ(out.at("usage").at("total_tokens"), 5);
  EXPECT_EQ(out.at("aion").at("usageEstimated"), false);
  auto module = json::parse(R"({"summary":"Short."})");  // a local module's answer
  auto est = completionJson("chatcmpl-2", 5, "module:summarize", c, module, "tsk_2");
  EXPECT_EQ(est.at("choices").at(0).at("message").at("content"), "Short.");
  EXPECT_EQ(est.at("usage").at("prompt_tokens"), 4);  // ceil(15 bytes / 4)
  EXPECT_EQ(est.at("aion").at("usageEstimated"), true);
}

TEST(OpenAiCodec, StreamEndsWithFinishUsageAndDone) {
  ChatRequest c;
  c.includeUsage = true;
  c.lastUser = "x";
  auto result =
      json::parse(R"({"text":"one two","usage":{"promptTokens":1,"completionTokens":2}})");
  auto tail = finalChunks("id", 1, "m", c, result, /*streamed=*/true);
  std::vector<std::string> datas;
  size_t at = 0;
  while ((at = tail.find("data: ", at)) != std::string::npos) {
    auto end = tail.find("\n", at);
    datas.push_back(tail.substr(at + 6, end - at - 6));
    at = end;
  }
  ASSERT_EQ(datas.size(), 3u);  // finish, usage, [DONE]: deltas were already streamed
  EXPECT_EQ(json::parse(datas[0]).at("choices").at(0).at("finish_reason"), "stop");
  auto usage = json::parse(datas[1]);
  EXPECT_TRUE(usage.at("choices").as_array().empty());
  EXPECT_EQ(usage.at("usage").at("completion_tokens"), 2);
  EXPECT_EQ(datas[2], "[DONE]");
  // nothing streamed (a local module): the answer goes out in word-sized deltas first
  auto whole = finalChunks("id", 1, "m", c, json::parse(R"({"summary":"a b c"})"), false);
  EXPECT_NE(whole.find(R"("delta":{"content":"a"})"), std::string::npos);
  EXPECT_NE(whole.find(R"("delta":{"content":" c"})"), std::string::npos);
}

TEST(OpenAiCodec, TaskErrorsMapToTheStatusesTheSdksExpect) {
  auto e = errorFromJson(body(R"({"code":"timeout","message":"provider did not finish"})"));
  EXPECT_EQ(e.code, ErrorCode::kTimeout);
  EXPECT_EQ(openAiStatus(e), 504u);
  EXPECT_EQ(openAiStatus(errorFromJson(body(R"({"code":"provider_error","message":"x"})"))), 502u);
  EXPECT_EQ(openAiStatus(errorFromJson(body(R"({"code":"canceled","message":"x"})"))), 499u);
  EXPECT_EQ(openAiStatus(errorFromJson(body(R"({"code":"no_route","message":"x"})"))), 503u);
  EXPECT_EQ(openAiStatus(errorFromJson(body(R"({"code":"invalid_params","message":"x"})"))), 400u);
  auto limited = errorFromJson(
      body(R"({"code":"rate_limited","message":"429","details":{"retryAfterSeconds":2}})"));
  EXPECT_EQ(openAiStatus(limited), 429u);
  EXPECT_EQ(openAiError(limited).at("error").at("type"), "rate_limit_error");
  EXPECT_EQ(errorFromJson(body(R"({"code":"??"})")).code, ErrorCode::kInternal);
}

}  // namespace
}  // namespace aion::gateway
