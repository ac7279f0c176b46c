#pragma once
// Small helpers shared by the gateway's and the control plane's handlers.
#include <boost/json/value.hpp>

#include "auth/api_keys.h"
#include "common/json_text.h"
#include "http/server.h"

namespace aion::http {

//! Authenticates X-API-Key (or "Authorization: Bearer") and X-Tenant-Id.
Result<Principal> principalOf(const auth::KeyRing& keys, const Request& req);
//! Deepest nesting accepted in JSON from clients (common/json_text.h).
using ::aion::kMaxJsonDepth;
//! Parses client JSON with that limit; `what` ("request body", "message")
//! names it in the error: "... is nested deeper than 64 levels", or
//! "malformed JSON: ..." for anything else wrong.
Result<boost::json::value> parseJsonText(std::string_view text, std::string_view what);
//! Parses a JSON request body (object expected); depth-limited.
Result<boost::json::object> parseJsonObject(const Request& req);
//! Writes raw bytes of a streaming response (SSE frames, chunks), bounded by
//! the write timeout; false when the client is gone or too slow.
boost::asio::awaitable<bool> writeAll(Exchange& ex, std::string data);
//! kForbidden unless `who` has one of `roles`.
Status requireRole(const Principal& who, RoleSet roles);

//! Liveness, readiness and metrics, the same on every listener.
void addHealthRoutes(Routes& routes, std::function<std::pair<bool, boost::json::object>()> ready,
                     telemetry::Metrics& metrics);

}  // namespace aion::http
