#include "store/task.h"

#include <array>

namespace aion::store {
namespace {
constexpr std::array<std::string_view, 7> kNames{"queued", "routed",   "running", "succeeded",
                                                 "failed", "canceled", "expired"};
}

std::string_view statusName(TaskStatus s) {
  return kNames[static_cast<size_t>(s)];
}

std::optional<TaskStatus> parseStatus(std::string_view s) {
  for (size_t i = 0; i < kNames.size(); ++i)
    if (kNames[i] == s) return static_cast<TaskStatus>(i);
  return std::nullopt;
}

void TaskUpdate::applyTo(Task& t) const {
  if (status) t.status = *status;
  if (route) t.route = *route;
  if (result) t.result = *result;
  if (error) t.error = *error;
  if (startedMs) t.startedMs = *startedMs;
  if (finishedMs) t.finishedMs = *finishedMs;
  if (attempts) t.attempts = *attempts;
  if (costUsd) t.costUsd = *costUsd;
  if (costEstimated) t.costEstimated = *costEstimated;
  if (cancelRequested) t.cancelRequested = *cancelRequested;
  if (upstreamUs) t.upstreamUs = *upstreamUs;
  if (overheadUs) t.overheadUs = *overheadUs;
}

void TaskUpdate::mergeFrom(TaskUpdate&& later) {
  auto take = [](auto& mine, auto& theirs) {
    if (theirs) mine = std::move(theirs);
  };
  take(status, later.status);
  take(route, later.route);
  take(result, later.result);
  take(error, later.error);
  take(startedMs, later.startedMs);
  take(finishedMs, later.finishedMs);
  take(attempts, later.attempts);
  take(costUsd, later.costUsd);
  take(costEstimated, later.costEstimated);
  take(cancelRequested, later.cancelRequested);
  take(upstreamUs, later.upstreamUs);
  take(overheadUs, later.overheadUs);
}

}  // namespace aion::store
