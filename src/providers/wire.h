#pragma once
// Provider wire protocols: how a chat or embedding call becomes an HTTP
// request, and how the answer (whole or streamed) becomes text and usage.
// OpenAI's protocol also serves vLLM and Hugging Face's OpenAI-compatible
// routes; Azure OpenAI, TGI and Ollama have their own.
#include <array>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "providers/http_client.h"

namespace aion::providers {

enum class Protocol { kOpenAi, kAzure, kTgi, kOllama };

//! One provider model as the wire needs it (resolved from models.yml + env).
struct Endpoint {
  Protocol protocol = Protocol::kOpenAi;
  Url base;
  std::string credential;  // empty: none sent
  std::string model;       // model name at the provider (Azure: deployment)
  std::string apiVersion;  // Azure
};

struct ChatCall {
  //! OpenAI's message shape: {role, content (text, or text/image_url parts;
  //! null beside tool_calls), name, tool_calls, tool_call_id}.
  boost::json::array messages;
  int maxTokens = 256;
  std::optional<double> temperature;
  bool stream = true;
  //! Options by their OpenAI names (kChatOptions), as the caller gave them.
  //! Each protocol maps what it can honour and refuses the rest by name.
  boost::json::object options;
};

//! The Chat Completions options a provider route may honour, beyond
//! messages, max tokens, temperature and stream.
inline constexpr std::array<std::string_view, 13> kChatOptions{
    "tools", "tool_choice",       "parallel_tool_calls", "response_format", "stop",         "seed",
    "top_p", "frequency_penalty", "presence_penalty",    "logprobs",        "top_logprobs", "user",
    "n"};

//! Whether `p` (nullopt: a local module) can honour `c`'s options and
//! messages; kInvalidRequest naming the first parameter it cannot.
Status checkChat(std::optional<Protocol> p, const ChatCall& c);

struct Usage {
  int64_t promptTokens = 0;
  int64_t completionTokens = 0;
  bool promptEstimated = false;      // the provider did not report it
  bool completionEstimated = false;  // the provider did not report it
  bool estimated() const { return promptEstimated || completionEstimated; }
};

struct ChatResult {
  std::string text;
  std::string finishReason;
  std::string model;
  Usage usage;
  boost::json::array toolCalls;  // OpenAI shape: [{id, type, function: {name, arguments}}]
  boost::json::value logprobs;   // OpenAI's choice logprobs ({content: [...]}), or null
  //! With n > 1, every choice in OpenAI's shape ({index, message, logprobs,
  //! finish_reason}); the fields above are then choice 0's.
  boost::json::array choices;
};

//! One streamed piece of an answer: text, tool-call fragments and log
//! probabilities, in the shapes of OpenAI's stream chunks.
struct Delta {
  std::string_view text;
  const boost::json::array* toolCalls = nullptr;  // [{index, id?, type?, function}]
  const boost::json::value* logprobs = nullptr;   // {content: [...]}
  int64_t choice = 0;                             // which of n choices
  bool empty() const { return text.empty() && !toolCalls && !logprobs; }
};
using DeltaSink = std::function<void(const Delta&)>;

struct EmbedResult {
  boost::json::array vectors;
  std::string model;
  Usage usage;
};

//! Rough token count for text a provider did not count (~4 bytes a token).
int64_t estimateTokens(std::string_view text);
int64_t estimateTokens(const boost::json::array& messages);

//! Incremental decoder of a streamed answer (SSE or NDJSON by protocol).
class StreamDecoder {
 public:
  virtual ~StreamDecoder() = default;
  //! Feeds body bytes; calls `onDelta` per fragment. An error means the
  //! stream is malformed or carried an error event.
  virtual Status feed(std::string_view bytes, const DeltaSink& onDelta) = 0;
  //! After the body ended: the result, or an error if the stream never
  //! reached its terminal event (cut upstream).
  virtual Result<ChatResult> finish(const ChatCall& call) = 0;
};

//! The request for `c`, or checkChat's refusal.
Result<HttpRequest> chatRequest(const Endpoint& e, const ChatCall& c);
Result<ChatResult> parseChat(Protocol p, std::string_view body, const ChatCall& c);
//! `c`'s stop sequences are cut from TGI's text, which keeps them.
std::unique_ptr<StreamDecoder> streamDecoder(Protocol p, const ChatCall& c);

//! Embeddings (OpenAI and Azure protocols).
Result<HttpRequest> embedRequest(const Endpoint& e, const std::vector<std::string>& inputs);
Result<EmbedResult> parseEmbed(std::string_view body, const std::vector<std::string>& inputs);

//! The message of a provider's error body (any of the four shapes), else a
//! prefix of the body.
std::string errorMessage(std::string_view body);
//! The parameter an OpenAI-style error body names (error.param), if any.
std::string errorParam(std::string_view body);

}  // namespace aion::providers
