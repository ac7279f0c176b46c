#pragma once
// W3C Trace Context (https://www.w3.org/TR/trace-context/): the trace a
// request belongs to, taken from its `traceparent` or started here, kept on
// its task and passed on to the model providers it calls. Spans are not
// exported yet (OpenTelemetry export is to come); the ids already join
// aionOS's records to a caller's trace.
#include <optional>
#include <string>
#include <string_view>

namespace aion::telemetry {

struct TraceParent {
  std::string traceId;   // 32 lowercase hex, not all zero
  std::string parentId;  // 16 lowercase hex, not all zero
  bool sampled = false;
};

//! Validates a `tracestate` header (several header lines joined by commas):
//! at most 32 `key=value` members with W3C keys and values, no key twice.
//! Returns the list re-joined without blanks, cut to 512 characters by
//! dropping members over 128 characters first, then from the end (as the
//! spec allows); nullopt when malformed: the caller then drops it whole.
std::optional<std::string> parseTracestate(std::string_view header);

//! Parses a `traceparent` header (version 00, or a later version read as
//! 00); nullopt when malformed: the caller then starts a new trace.
std::optional<TraceParent> parseTraceparent(std::string_view header);

std::string newTraceId();
std::string newSpanId();

//! "00-<traceId>-<spanId>-01" (-00 when not sampled): the header for a call
//! made inside `traceId`.
std::string traceparent(std::string_view traceId, std::string_view spanId, bool sampled = true);

}  // namespace aion::telemetry
