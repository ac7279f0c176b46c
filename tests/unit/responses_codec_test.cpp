// The Responses API over a chat task: request mapping, the response
// object, and the order of the typed stream events the SDKs accumulate.
#include "gateway/responses_codec.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace aion::gateway {
namespace {
namespace json = boost::json;

json::object body(const char* text) {
  return json::parse(text).as_object();
}

std::vector<std::string> eventTypes(const std::string& sse) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = sse.find("event: ", pos)) != std::string::npos) {
    auto end = sse.find('\n', pos);
    out.push_back(sse.substr(pos + 7, end - pos - 7));
    pos = end;
  }
  return out;
}

TEST(ResponsesCodec, MapsInputItemsToolsAndFormatOntoChat) {
  auto r = parseResponsesRequest(body(R"({"model":"gpt-4o-mini","instructions":"be brief",
      "input":[{"role":"user","content":[{"type":"input_text","text":"weather?"}]},
               {"type":"function_call","call_id":"call_1","name":"get_weather","arguments":"{}"},
               {"type":"function_call","call_id":"call_2","name":"get_time","arguments":"{}"},
               {"type":"function_call_output","call_id":"call_1","output":"18C"},
               {"type":"function_call_output","call_id":"call_2","output":"noon"}],
      "tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"}},
               {"type":"function","name":"get_time"}],
      "tool_choice":{"type":"function","name":"get_weather"},"max_output_tokens":50,
      "text":{"format":{"type":"json_schema","name":"w","schema":{"type":"object"},"strict":true}},
      "metadata":{"team":"a"},"store":false})"));
  ASSERT_TRUE(r) << r.error().message;
  auto& m = r->chat.messages;
  ASSERT_EQ(m.size(), 5u);  // system, user, one assistant turn with both calls, two tool results
  EXPECT_EQ(m[0].at("role"), "system");
  EXPECT_EQ(m[1].at("content").at(0).at("text"), "weather?");
  EXPECT_EQ(m[2].at("tool_calls").as_array().size(), 2u);
  EXPECT_EQ(m[4].at("tool_call_id"), "call_2");
  EXPECT_EQ(r->chat.options.at("tools").at(0).at("function").at("name"), "get_weather");
  EXPECT_EQ(r->chat.options.at("tool_choice").at("function").at("name"), "get_weather");
  EXPECT_EQ(r->chat.options.at("response_format").at("json_schema").at("name"), "w");
  EXPECT_EQ(*r->chat.maxTokens, 50);
  EXPECT_EQ(r->echo.at("instructions"), "be brief");

  struct Bad {
    const char* body;
    const char* param;
    const char* code;
  };
  for (auto [text, param, code] : std::vector<Bad>{
           {R"({"model":"m"})", "input", "invalid_request"},
           {R"({"model":"m","input":[]})", "input", "invalid_request"},
           {R"({"model":"m","input":"x","previous_response_id":"resp_1"})", "previous_response_id",
            "unsupported_parameter"},
           {R"({"model":"m","input":"x","tools":[{"type":"web_search"}]})", "tools",
            "unsupported_parameter"},
           {R"({"model":"m","input":[{"type":"reasoning","summary":[]}]})", "input",
            "unsupported_parameter"},
           {R"({"model":"m","input":"x","max_output_tokens":0})", "max_output_tokens",
            "invalid_request"},
           {R"({"model":"m","input":[{"role":"wizard","content":"x"}]})", "input",
            "invalid_request"},
           {R"({"model":"m","input":"x","frobnicate":1})", "frobnicate", "unknown_parameter"}}) {
    auto e = parseResponsesRequest(body(text));
    ASSERT_FALSE(e) << text;
    EXPECT_EQ(e.error().details.at("param"), param) << text << ": " << e.error().message;
    auto* c = e.error().details.if_contains("openaiCode");
    EXPECT_EQ(c ? std::string(c->as_string()) : "invalid_request", code) << text;
  }
}

TEST(ResponsesCodec, ResponseObjectAndStreamEventsAgree) {
  auto r = parseResponsesRequest(body(R"({"model":"m","input":"hi","stream":true})"));
  ASSERT_TRUE(r);
  json::value result = json::parse(
      R"({"text":"hello world","finishReason":"stop","usage":{"promptTokens":2,"completionTokens":2}})");
  auto resp = responseJson("tsk_1", 5, *r, result);
  EXPECT_EQ(resp.at("id"), "resp_tsk_1");
  EXPECT_EQ(resp.at("status"), "completed");
  EXPECT_EQ(resp.at("output").at(0).at("content").at(0).at("text"), "hello world");
  EXPECT_EQ(resp.at("usage").at("total_tokens"), 4);

  ResponsesStream s("tsk_1", 5, *r);
  std::string sse = s.open();
  sse += s.delta(json::parse(R"({"text":"hello "})"));
  sse += s.delta(json::parse(R"({"text":"world"})"));
  sse += s.done(result, true);
  EXPECT_EQ(eventTypes(sse),
            (std::vector<std::string>{"response.created", "response.in_progress",
                                      "response.output_item.added", "response.content_part.added",
                                      "response.output_text.delta", "response.output_text.delta",
                                      "response.output_text.done", "response.content_part.done",
                                      "response.output_item.done", "response.completed"}));
  EXPECT_NE(sse.find("\"sequence_number\":9"), std::string::npos);
  EXPECT_NE(sse.find("\"text\":\"hello world\""), std::string::npos);

  // Tool calls streamed as fragments become function_call items.
  ResponsesStream t("tsk_2", 5, *r);
  std::string calls = t.open();
  calls += t.delta(json::parse(
      R"({"text":"","toolCalls":[{"index":0,"id":"call_1","function":{"name":"f","arguments":""}}]})"));
  calls += t.delta(
      json::parse(R"({"text":"","toolCalls":[{"index":0,"function":{"arguments":"{}"}}]})"));
  json::value callResult = json::parse(R"({"text":"","finishReason":"tool_calls",
      "toolCalls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]})");
  calls += t.done(callResult, true);
  auto types = eventTypes(calls);
  EXPECT_EQ(types[2], "response.output_item.added");
  EXPECT_EQ(types[3], "response.function_call_arguments.delta");
  EXPECT_EQ(types[4], "response.function_call_arguments.done");
  EXPECT_NE(calls.find("\"type\":\"function_call\",\"id\":\"fc_tsk_2_0\",\"call_id\":\"call_1\""),
            std::string::npos);
  auto whole = responseJson("tsk_2", 5, *r, callResult);
  EXPECT_EQ(whole.at("output").as_array().size(), 1u);
  EXPECT_EQ(whole.at("output").at(0).at("arguments"), "{}");

  // Cut at the token limit: incomplete, with the reason.
  json::value cut = json::parse(R"({"text":"a","finishReason":"length"})");
  EXPECT_EQ(responseJson("tsk_3", 5, *r, cut).at("status"), "incomplete");
  ResponsesStream u("tsk_3", 5, *r);
  EXPECT_EQ(eventTypes(u.done(cut, false)).back(), "response.incomplete");
}

}  // namespace
}  // namespace aion::gateway
