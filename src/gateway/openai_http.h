#pragma once
// OpenAI-compatible facade: POST /v1/chat/completions (streaming or not),
// GET /v1/models and /v1/models/{id}, so OpenAI SDKs work against aionOS
// unchanged. `model` selects the route: a name from models.yml (or
// "provider/model"), "module:NAME" for a local module, or "auto" for the
// policy's joint privacy/latency/budget choice. A request becomes a task of
// the `chat` intent, routed, metered and followed like any other.
#include "gateway/gateway_http.h"

namespace aion::gateway {

void addOpenAiRoutes(http::Routes& routes, GatewayDeps deps, GatewayOptions opts);

//! OpenAI's error body for `e`: {"error":{message,type,param,code}}.
boost::json::object openAiError(const Error& e);
//! The HTTP status the OpenAI SDKs expect for `e`.
unsigned openAiStatus(const Error& e);

}  // namespace aion::gateway
