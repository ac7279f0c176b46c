// The OpenAI-compatible request mapping: one JSON body read the way
// /v1/chat/completions, /v1/embeddings and /v1/responses read theirs
// (http::parseJsonObject, then each endpoint's parser), and what an accepted
// request becomes: the chat or embed task's params, and for the Responses
// API the response object and its stream events over a fixed answer.
#include <boost/json.hpp>
#include <cstdint>

#include "common/json_text.h"
#include "fuzz_util.h"
#include "gateway/openai_codec.h"
#include "gateway/responses_codec.h"
#include "http/handler_util.h"

namespace {
using namespace aion;
namespace json = boost::json;

const json::value& answer() {
  static const json::value v = json::parse(
      R"({"text":"Hello there.","finish_reason":"stop","usage":{"prompt_tokens":3,"completion_tokens":2},)"
      R"("tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]})");
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  http::Request req{boost::beast::http::verb::post, "/v1/chat/completions", 11};
  req.set(boost::beast::http::field::content_type, "application/json");
  req.body().assign(reinterpret_cast<const char*>(data), size);
  auto body = http::parseJsonObject(req);
  if (!body) return 0;

  if (auto chat = gateway::parseChatRequest(*body)) {
    (void)jsonText(gateway::chatParams(*chat));
    (void)gateway::completionJson("chatcmpl-1", 0, chat->model, *chat, answer(), "tsk_1");
    (void)gateway::finalChunks("chatcmpl-1", 0, chat->model, *chat, answer(), false);
  } else if (chat.error().code != ErrorCode::kInvalidRequest ||
             !chat.error().details.contains("param")) {
    // The contract: a 400 whose details.param names the field (SDKs show it).
    fuzz::violated("a chat refusal that is not a 400 naming its param");
  }

  if (auto emb = gateway::parseEmbeddingRequest(*body)) (void)jsonText(gateway::embedParams(*emb));

  if (auto rr = gateway::parseResponsesRequest(*body)) {
    (void)jsonText(gateway::chatParams(rr->chat));
    (void)gateway::responseJson("tsk_1", 0, *rr, answer());
    gateway::ResponsesStream stream("tsk_1", 0, *rr);
    (void)stream.open();
    (void)stream.delta(json::parse(R"({"text":"Hel"})"));
    (void)stream.done(answer(), true);
  }
  return 0;
}
