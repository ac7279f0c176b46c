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
using StatusMask = uint32_t;
constexpr StatusMask maskOf(TaskStatus s) {
  return 1u << static_cast<int>(s);
}
constexpr StatusMask kActiveMask =
    maskOf(TaskStatus::kQueued) | maskOf(TaskStatus::kRouted) | maskOf(TaskStatus::kRunning);

struct Task {
  std::string id;
  std::string tenant;
  std::string keyId;
  std::string intent;
  boost::json::value params;
  TaskStatus status = TaskStatus::kQueued;
  boost::json::value route;   // the plan (router::toJson), null before routing
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
};

struct EventDraft {
  std::string type;  // status | route | attempt | result | error | done
  boost::json::value data;
};

struct Event {
  std::string taskId;
  int64_t seq = 0;
  std::string type;
  int64_t tsMs = 0;
  boost::json::value data;
};

//! A conditional state change: applied only while the task's status is in
//! `from`. Unset optionals leave the column as is.
struct Transition {
  std::string taskId;
  StatusMask from = 0;
  TaskStatus to = TaskStatus::kQueued;
  std::optional<boost::json::value> route{};
  std::optional<boost::json::value> result{};
  std::optional<boost::json::value> error{};
  std::optional<int64_t> startedMs{};
  std::optional<int64_t> finishedMs{};
  std::optional<int> attempts{};
  std::optional<double> costUsd{};
  std::optional<bool> costEstimated{};
  // Progress only (same status; delta, retry, redaction events): committed
  // without waiting for the disk. The task's next state change is fsynced
  // and carries these commits with it; a power loss before that loses only
  // progress events of a task recovery treats as interrupted anyway.
  bool progress = false;
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
