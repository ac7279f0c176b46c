#pragma once
// What model calls consumed: one record per settled call, written in the
// same transaction as the task's final state, and the queries GET /v1/usage
// and budget loading run over them. Money is integer nano-USD so sums are
// exact.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace aion::store {

inline int64_t toNanoUsd(double usd) {
  return static_cast<int64_t>(usd * 1e9 + (usd >= 0 ? 0.5 : -0.5));
}
inline double fromNanoUsd(int64_t n) {
  return static_cast<double>(n) / 1e9;
}

struct UsageRecord {
  std::string id;  // unique per settled call (task id + attempt + route)
  std::string taskId;
  int64_t tsMs = 0;
  std::string tenant, keyId, intent, provider, model;
  int64_t promptTokens = 0;
  int64_t completionTokens = 0;
  int64_t costNanoUsd = 0;
  bool estimated = false;
};

struct UsageQuery {
  std::map<std::string, std::string> filters;  // tenant, key, intent, provider, model
  std::string fromDay, toDay;                  // inclusive YYYY-MM-DD; empty: open
  std::vector<std::string> groupBy;            // of tenant, key, intent, provider, model, day
};

struct UsageRow {
  std::map<std::string, std::string> group;
  int64_t calls = 0;
  int64_t promptTokens = 0;
  int64_t completionTokens = 0;
  int64_t costNanoUsd = 0;
  int64_t estimatedCalls = 0;
};

//! Spend per tenant and per key since a point in time (budget loading).
struct SpendTotals {
  std::map<std::string, int64_t> byTenant;
  std::map<std::string, int64_t> byKey;
};

//! UTC period start in ms for `period` (day | month) containing `nowMs`.
int64_t periodStartMs(const std::string& period, int64_t nowMs);
//! YYYY-MM-DD (UTC) of `ms`.
std::string utcDay(int64_t ms);

}  // namespace aion::store
