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

}  // namespace aion::store
