#pragma once
// JSON text with numbers as people write them. Boost.JSON 1.81 prints every
// double in exponent form (0.02 -> "2E-2", 20.0 -> "2E1"); aionOS writes the
// shortest round-trip form instead ("0.02", "20") in every response, event
// and file. Everything else matches boost::json::serialize.
#include <boost/json/value.hpp>
#include <string>

namespace aion {

//! Deepest nesting accepted in JSON from clients (request bodies, WebSocket
//! messages, gRPC params) and in JSON one role passes to another: deeper
//! text is refused by the parser itself, so nothing downstream (schemas,
//! canonical hashing, stores) recurses further.
inline constexpr int kMaxJsonDepth = 64;

//! `v` as compact JSON text.
std::string jsonText(const boost::json::value& v);
//! Appends `v` as compact JSON text to `out`.
void appendJson(std::string& out, const boost::json::value& v);
//! `v` with object keys sorted at every level: equal for documents that
//! differ only in key order or whitespace (idempotency compares these).
std::string canonicalJsonText(const boost::json::value& v);
//! Appends `s` as a quoted, escaped JSON string.
void appendJsonString(std::string& out, std::string_view s);

}  // namespace aion
