#pragma once
// The OpenAI wire shapes, as pure functions over plain structs: parsing a
// chat request, naming models, and writing completions, stream chunks and
// errors. openai_http.cpp does the I/O around them.
#include <boost/json/object.hpp>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "control/control_api.h"

namespace aion::gateway {

struct ChatRequest {
  std::string model;
  bool stream = false;
  bool includeUsage = false;  // stream_options.include_usage
  std::optional<int64_t> maxTokens;
  std::optional<double> temperature;
  boost::json::array messages;  // OpenAI's shape, validated, unknown keys dropped
  std::string lastUser;
  boost::json::object options;  // the providers::kChatOptions given
  boost::json::value metadata;  // kept on the task, not sent upstream
  //! aion.context: the chat task's params.context (a collection's nearest
  //! chunks before the prompt); empty: none.
  boost::json::object context;
};

//! Refuses what an OpenAI body must not carry: the first of `refused` present
//! (400 unsupported_parameter; checked in that order, so the error names the
//! same parameter whatever the key order), then any name in none of `known`
//! (400 unknown_parameter). null counts as absent.
Status screenParameters(const boost::json::object& body, std::span<const std::string_view> refused,
                        std::initializer_list<std::span<const std::string_view>> known);

//! Validates a Chat Completions body; kInvalidRequest names the field
//! (details.param) of the first problem.
Result<ChatRequest> parseChatRequest(const boost::json::object& body);
//! The `chat` task's params for `c`.
boost::json::object chatParams(const ChatRequest& c);

boost::json::object modelJson(const control::ModelEntry& m);

//! A chat task's result, read: the answer text (a provider's "text", a
//! local module's "summary"), a field when present and not null, usage in
//! OpenAI's names (the provider's figures, else estimates), whether they
//! are estimates, and the finish reason.
std::string answerText(const boost::json::value& result);
const boost::json::value* resultField(const boost::json::value& result, std::string_view k);
boost::json::object usageJson(const boost::json::value& result, const ChatRequest& c,
                              const std::string& answer);
bool usageEstimated(const boost::json::value& result);
std::string finishReasonOf(const boost::json::value& result);

//! What aionOS adds to an answer (`aion`): the task (unless `taskId` is
//! empty), whether usage is estimated, and the collection context it was
//! given, if any.
boost::json::object aionJson(const boost::json::value& result, const std::string& taskId);
//! One chat.completion.chunk.
boost::json::object chunkJson(const std::string& id, int64_t created, const std::string& model,
                              boost::json::object delta, boost::json::value finish,
                              int64_t index = 0);
//! The chat.completion for a task's result (a provider's answer or a local
//! module's), with usage (the provider's figures, else estimates).
boost::json::object completionJson(const std::string& id, int64_t created, const std::string& model,
                                   const ChatRequest& c, const boost::json::value& result,
                                   const std::string& taskId);
//! The SSE frame for one `delta` event of a chat task (text, tool-call
//! fragments, logprobs); empty when it carries nothing to send.
std::string deltaChunk(const std::string& id, int64_t created, const std::string& model,
                       const boost::json::value& delta);
//! The end of a stream: the answer in word-sized chunks when nothing was
//! streamed (a local module answers whole), the finish chunk, the usage
//! chunk when asked for, and [DONE] — as SSE frames.
std::string finalChunks(const std::string& id, int64_t created, const std::string& model,
                        const ChatRequest& c, const boost::json::value& result, bool streamed);

struct EmbeddingRequest {
  std::string model;
  boost::json::value input;  // a string, or an array of strings
  bool base64 = false;       // encoding_format "base64" (the Python SDK's default)
};

//! Validates an Embeddings body like parseChatRequest (token arrays and
//! `dimensions` are refused as unsupported, by name).
Result<EmbeddingRequest> parseEmbeddingRequest(const boost::json::object& body);
//! The `embed` task's params for `e`.
boost::json::object embedParams(const EmbeddingRequest& e);
//! The embeddings list for an `embed` task's result ({"embeddings": [[...]],
//! "usage": {...}}): float arrays, or little-endian float32 in base64.
boost::json::object embeddingsJson(const EmbeddingRequest& e, const boost::json::value& result);

//! A task's stored error ({"code","message","details"}) as an Error.
Error errorFromJson(const boost::json::object& e);

}  // namespace aion::gateway
