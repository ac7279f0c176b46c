"""A loopback stand-in for paid model providers, for end-to-end tests of
aionOS's real provider clients. Python standard library only.

It speaks each provider's own wire protocol:

  OpenAI / vLLM / TGI Messages API (Authorization: Bearer <key>)
    POST /v1/chat/completions   chat.completion, or SSE `data: {chat.completion.chunk}`
                                frames ending `data: [DONE]`; with
                                stream_options.include_usage every chunk carries
                                "usage": null and a last chunk has choices: [] + usage
    POST /v1/completions        text_completion (default max_tokens 16, as OpenAI)
    POST /v1/responses          Responses API: a response object, or SSE typed events
                                (`event: response.created` ... response.output_text.delta
                                ... response.completed, each with sequence_number)
    POST /v1/embeddings         deterministic unit vectors (dim 8, or `dimensions`),
                                encoding_format float or base64
    GET  /v1/models[/{id}]
  Azure OpenAI (api-key header, ?api-version=YYYY-MM-DD[-preview])
    POST /openai/deployments/{deployment}/{chat/completions,completions,embeddings}
         same bodies as OpenAI with model = deployment, plus Azure's
         prompt_filter_results / content_filter_results (a streamed answer
         starts with Azure's choices-less prompt_filter_results chunk)
    POST /openai/responses      the Responses API, the deployment as the body's model
  Hugging Face TGI (Authorization: Bearer <HF token>)
    POST /generate, POST /generate_stream (SSE `data:{...}` per token, the last
         one with generated_text and details), POST / (TGI's compat route)
  Ollama (no auth)
    POST /api/chat (NDJSON stream unless "stream": false), GET /api/tags,
    GET /api/version, GET / ("Ollama is running")

Answers are deterministic: "echo: " + the last user message (TGI: the last
line of `inputs`, without a "user: " tag); when the conversation ends with a
tool result (a "tool" message, a function_call_output item), "echo: " + its
content. prompt tokens = whitespace words of all messages (min 1), completion
tokens = words of the answer, streamed one word per chunk ("w1 ", "w2 ", ...,
"wn"). Limits (max_tokens, max_completion_tokens, max_output_tokens,
max_new_tokens, options.num_predict) truncate the answer with finish reason
"length".

Chat Completions features, checked and answered as OpenAI does (a refused
request gets OpenAI's 400 {error: {message, type, param, code}}; an unknown
body parameter: "Unrecognized request argument supplied", param and code null):
  tools [{type: function, function: {name, description?, parameters?, strict?}}]
      (strict: the schema must have additionalProperties false and require every
      property), tool_choice none|auto|required|{type: function, function: {name}},
      parallel_tool_calls (false: at most one call). Messages: an assistant
      message may carry tool_calls with content null; a "tool" message needs a
      tool_call_id of an earlier assistant tool call, and every call needs its
      tool message. Tool calls answer with content null, tool_calls
      [{id: "call_<sha1 of name, arguments, index>", type, function}], finish
      reason "tool_calls"; streamed: the role with the first call's head
      {index, id, type, function: {name, arguments: ""}}, then the arguments in
      about three {index, function: {arguments}} fragments, call by call.
  response_format text | json_object (the messages must say "json": the answer
      is {"echo": <last user text>}) | json_schema {name, schema, strict} (the
      answer is a minimal instance: each property, "echo", 0, false, [], the
      first enum value, the const).
  stop (a string or up to 4): the answer ends before the first stop string.
  seed: checked, answered with "system_fingerprint": "fp_fake" (always there).
  logprobs + top_logprobs (0-20): choices[].logprobs.content, one entry per
      token with logprob -0.01*(i+1) and top_logprobs alternatives ("alt1"...);
      streamed, each token chunk carries its own entry.
  n (1-8): n identical choices; streamed chunks interleave their indexes.
  top_p (0-1), frequency_penalty and presence_penalty (-2..2), temperature
      (0-2), user, metadata (up to 16 strings), max_completion_tokens: checked.
  user content may be an array of {type: text} and {type: image_url,
      image_url: {url}} parts: the answer echoes the text parts; image inputs
      are recorded in requests[i]["images"].
  known_models_only = True: /v1 chat, responses and embeddings answer 404
      model_not_found for a model not in openai_models.
The Responses API takes input (a string or items: messages with input_text /
input_image parts, function_call, function_call_output, whose call_id must name
an earlier call), instructions, tools (flat: {type: function, name, ...};
built-in tool types are accepted and ignored), tool_choice, text.format
(json_object, json_schema), previous_response_id (a stored earlier response;
else 400 previous_response_not_found); an unknown parameter: 400
unknown_parameter naming it. Function calls answer as output items
{type: function_call, id: "fc_...", call_id, name, arguments}.
Ollama /api/chat takes tools (OpenAI's function-tool shape) and answers calls
as message.tool_calls [{function: {name, arguments: <object>}}] with done_reason
"stop" (an assistant message sending arguments as text is refused, as Ollama
does); "tool" messages; format "json" or a JSON schema; options.stop (removed
from the answer), seed, top_p, frequency_penalty, presence_penalty.
TGI takes parameters.stop (up to 4; the answer keeps the stop sequence and
finishes "stop_sequence", as TGI does), seed, top_p, frequency_penalty,
grammar {type: json, value: <schema>} (a JSON answer from the schema).

Script the next requests, one step per request in FIFO order (an empty queue
means normal behaviour); a step may combine keys:
  {"status": 429, "retry_after": 1}  error in the provider's own error shape
                                     (+ Retry-After; Azure adds retry-after-ms);
                                     optional "message", "body", "headers"
  {"delay": 2.0}                     sleep, then answer normally
  {"stall_after_chunks": n}          send n token chunks, then hang (no bytes)
                                     until the client hangs up or stall_timeout
                                     (30 s) passes; a non-streamed call hangs
                                     before its status line
  {"cut_after_chunks": n}            send n token chunks, then close the socket
                                     mid-body (no terminating chunk)
  {"malformed_chunk": True}          one invalid-JSON frame mid-stream (an int i
                                     puts it before token i); a non-streamed call
                                     gets a 200 with a truncated JSON body
  {"no_usage": True}                 omit usage (OpenAI usage, Ollama counts,
                                     TGI details and x-*-tokens headers)
  {"content": "exact reply"}         answer with this text
  {"tool_calls": [{"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}]}
                                     call these tools (OpenAI, Azure, Responses,
                                     Ollama), those of them the request declared:
                                     a proxy that dropped `tools` gets text back
  {"token_delay": s}                 seconds between streamed tokens (else the
                                     token_delay attribute)
  {"drop": True}                     close the connection without a response
Auth is checked first, so a refused request still uses up its step.

Another process scripts it over HTTP (no auth; neither recorded nor using up a
step): POST /_fake/script with a JSON array of steps (appended to the queue),
POST /_fake/reset (empties the queue).

Layout (one module per surface; the handler class is composed of their mixins):
  server.py             FakeProvider (settings, script queue, recording, start/stop), the
                        threaded HTTP(S) server, make_self_signed_cert
  handler.py            the request handler: dispatch by path, /_fake control, recording,
                        OpenAI and Azure auth and routes
  transport.py          HTTP plumbing: body reading, replies, streamed bodies with scripted
                        stalls, cuts and malformed frames
  errors.py             errors in each provider's shape (scripted and refused requests)
  openai_checks.py      OpenAI request validation (parameters, messages, tools, formats)
  openai_chat.py        Chat Completions and legacy completions, streamed or not
  responses.py          the Responses API
  embeddings_models.py  embeddings and the model listing
  tgi.py                Hugging Face TGI
  ollama.py             Ollama
  common.py             text, token, and answer helpers shared by every surface
  schema.py             JSON schemas: strict-mode checks and minimal instances
"""
from .common import tokenize, words  # noqa: F401
from .embeddings_models import _embedding  # noqa: F401  (test_providers.py)
from .ollama import OLLAMA_ROLES  # noqa: F401
from .openai_checks import OPENAI_ROLES  # noqa: F401
from .schema import _schema_instance  # noqa: F401  (test_fake_provider.py)
from .server import FakeProvider, make_self_signed_cert

__all__ = ["FakeProvider", "make_self_signed_cert", "tokenize"]
