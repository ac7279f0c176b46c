#pragma once
// OpenAI-compatible facade: POST /v1/chat/completions (streaming or not) and
// GET /v1/models, so OpenAI SDKs work against aionOS unchanged. A request
// becomes a task of the `chat` intent, routed by policy like any other.
#include "gateway/gateway_http.h"

namespace aion::gateway {

void addOpenAiRoutes(http::Routes& routes, GatewayDeps deps, GatewayOptions opts);

}  // namespace aion::gateway
