#pragma once
// What the outbox holds for a sink to relay, the same from every store: an
// event as SSE and WebSocket show it, a usage record with its cost in USD.
#include <string>

#include "store/task.h"
#include "store/usage.h"

namespace aion::store {

inline constexpr const char* kTaskEventsTopic = "aion.task-events";
inline constexpr const char* kUsageTopic = "aion.usage";

std::string outboxPayload(const Event& e);
std::string outboxPayload(const UsageRecord& u);

}  // namespace aion::store
