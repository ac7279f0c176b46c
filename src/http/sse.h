#pragma once
// Server-Sent Events framing (WHATWG HTML §9.2), pure functions.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aion::http {

//! One event. `data` may hold newlines: each line becomes its own "data:"
//! field, as the spec requires. CR and CRLF count as newlines. Fields that
//! must not contain newlines (id, event) have them removed.
std::string sseEvent(std::string_view id, std::string_view event, std::string_view data);
//! A comment line (heartbeat): ignored by clients, keeps proxies from idling out.
std::string sseComment(std::string_view text);
//! "retry:" field telling clients how long to wait before reconnecting.
std::string sseRetry(int ms);
//! Parses a Last-Event-ID value as a non-negative sequence number.
std::optional<int64_t> parseLastEventId(std::string_view v);

}  // namespace aion::http
