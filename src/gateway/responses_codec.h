#pragma once
// OpenAI's Responses API (POST /v1/responses) as a chat task: the request
// becomes a Chat Completions body (validated by parseChatRequest), and the
// chat task's result and deltas become a response object and its typed
// stream events. Pure functions and one stream state machine.
#include <boost/json/object.hpp>
#include <map>
#include <string>

#include "common/error.h"
#include "gateway/openai_codec.h"

namespace aion::gateway {

struct ResponsesRequest {
  ChatRequest chat;
  boost::json::object echo;  // request fields the response repeats (instructions, tools, ...)
};

//! Validates a Responses body and maps it onto a chat request: `input`
//! (text, messages, function_call and function_call_output items),
//! `instructions`, function `tools`, `tool_choice`, `text.format`,
//! `max_output_tokens`. What has no chat equivalent is refused by name.
Result<ResponsesRequest> parseResponsesRequest(const boost::json::object& body);

//! The response object for a chat task's result (status completed, or
//! incomplete when the answer hit its token limit).
boost::json::object responseJson(const std::string& taskId, int64_t createdAt,
                                 const ResponsesRequest& r, const boost::json::value& result);

//! The typed SSE events of one streamed response, in order, each with its
//! sequence_number: created and in_progress, then items as deltas arrive,
//! then their done events and response.completed (or response.failed).
class ResponsesStream {
 public:
  ResponsesStream(std::string taskId, int64_t createdAt, const ResponsesRequest& r);
  std::string open();
  std::string delta(const boost::json::value& deltaEvent);
  //! `streamed`: whether deltas carried the answer (else it is sent whole).
  std::string done(const boost::json::value& result, bool streamed);
  std::string failed(const boost::json::object& openAiError);

 private:
  struct Call {
    size_t outputIndex = 0;
    std::string callId, name, arguments;
  };
  std::string event(const char* type, boost::json::object data);
  std::string openText();
  std::string closeAll();

  std::string taskId_;
  int64_t createdAt_;
  const ResponsesRequest& req_;
  int64_t seq_ = 0;
  size_t outputs_ = 0;
  std::optional<size_t> textIndex_;
  std::string text_;
  std::map<int64_t, Call> calls_;  // by tool-call index
};

}  // namespace aion::gateway
