#pragma once
// Tasks and their events as stored (DESIGN.md §4).
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aion::store {

enum class TaskStatus : uint8_t {
  kQueued,
  kRouted,
  kRunning,
  kSucceeded,
  kFailed,
  kCanceled,
  kExpired
};

std::string_view statusName(TaskStatus s);
std::optional<TaskStatus> parseStatus(std::string_view s);
inline bool isTerminal(TaskStatus s) {
  return s >= TaskStatus::kSucceeded;
}

struct Task {
  std::string id;
  std::string tenant;
  std::string keyId;
  std::string intent;
  std::string surface;     // rest | websocket | grpc | openai: where it was submitted
  std::string traceId;     // W3C trace id of the request that submitted it
  std::string traceState;  // its W3C tracestate (validated), passed on to every hop
  boost::json::value params;
  TaskStatus status = TaskStatus::kQueued;
  boost::json::value
      route;  // the plan, compact (router::storedJson; planView shows it); null before routing
  boost::json::value result;  // module output, null unless succeeded
  boost::json::value error;   // {"code","message"} or null
  double costUsd = 0;
  bool costEstimated = false;
  int attempts = 0;
  bool cancelRequested = false;
  int64_t createdMs = 0;
  int64_t startedMs = 0;
  int64_t finishedMs = 0;
  int64_t deadlineMs = 0;
  int64_t lastSeq = 0;
  //! Time spent inside modules and provider calls, and what aionOS added
  //! around them (accepted → finished, minus upstream); set when finished.
  int64_t upstreamUs = 0;
  int64_t overheadUs = 0;
};

struct Event {
  std::string taskId;
  int64_t seq = 0;
  std::string type;  // status | route | attempt | retry | redacted | delta | result | error | done
  int64_t tsMs = 0;
  boost::json::value data;
};

//! Column changes of one task; unset optionals leave the column as is.
struct TaskUpdate {
  std::optional<TaskStatus> status{};
  std::optional<boost::json::value> route{};
  std::optional<boost::json::value> result{};
  std::optional<boost::json::value> error{};
  std::optional<int64_t> startedMs{};
  std::optional<int64_t> finishedMs{};
  std::optional<int> attempts{};
  std::optional<double> costUsd{};
  std::optional<bool> costEstimated{};
  std::optional<bool> cancelRequested{};
  std::optional<int64_t> upstreamUs{};
  std::optional<int64_t> overheadUs{};

  //! Applies the set fields to `t`.
  void applyTo(Task& t) const;
  //! Takes the fields `later` sets (a later update wins).
  void mergeFrom(TaskUpdate&& later);
};

struct ListQuery {
  std::string tenant;  // empty: all tenants
  std::optional<TaskStatus> status{};
  std::string intent{};
  std::string afterId{};  // cursor: ids are time-ordered; list newest first
  int limit = 20;
};

struct TaskPage {
  std::vector<Task> items;
  std::string nextCursor;  // empty when no more
};

}  // namespace aion::store
