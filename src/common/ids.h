#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace aion {

//! A random, URL-safe, time-ordered id: "tsk_" + 26 chars (48-bit ms time +
//! 80 random bits, Crockford base32, like a ULID). Thread-safe.
std::string newTaskId();
//! The ids of tasks created before `ms` sort before this string (it is the
//! time part of an id created at `ms`, with nothing after it).
std::string taskIdsBefore(int64_t ms);
//! A random request id for error bodies and logs.
std::string newRequestId();

//! Milliseconds since the Unix epoch.
int64_t nowMs();
//! RFC 3339 UTC with milliseconds, e.g. 2026-11-25T01:02:03.456Z.
std::string formatTimeMs(int64_t ms);

}  // namespace aion
