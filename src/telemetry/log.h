#pragma once
// Logs on stderr: a timestamped text line by default, or one JSON object per
// line (AION_LOG_FORMAT=json) for log shippers. In JSON mode aiond also
// writes structured events: one per HTTP request and one per task state
// change, with tenant, key id (never the key), route and cost.
#include <spdlog/common.h>

#include <boost/json/object.hpp>
#include <string_view>

namespace aion::telemetry {

enum class LogFormat { kText, kJson };

//! Sets up the default logger. Call once, before other threads log.
void setupLogging(LogFormat format, spdlog::level::level_enum level);

//! Whether structured events are written (JSON logs at info or finer): check
//! before building an event's fields.
bool eventsOn();

//! One event line: {"ts","level":"info","event":name, ...fields}.
void logEvent(std::string_view name, const boost::json::object& fields);

}  // namespace aion::telemetry
