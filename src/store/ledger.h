#pragma once
// Spend accounting: budget reservations before a model call, settlement
// with the actual usage after, and the usage records GET /v1/usage reads.
// Money is integer nano-USD so sums are exact.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace aion::store {

inline int64_t toNanoUsd(double usd) {
  return static_cast<int64_t>(usd * 1e9 + (usd >= 0 ? 0.5 : -0.5));
}
inline double fromNanoUsd(int64_t n) {
  return static_cast<double>(n) / 1e9;
}

//! A budget a reservation must fit in: spend of one tenant or one key over
//! the current UTC day or month.
struct BudgetScope {
  enum class Kind { kTenant, kKey } kind = Kind::kTenant;
  std::string id;      // tenant name or key id
  std::string period;  // day | month
  int64_t capNanoUsd = 0;
};

struct UsageRecord {
  std::string id;  // unique per settled call (task id + attempt)
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

class SpendLedger {
 public:
  virtual ~SpendLedger() = default;
  //! Reserves `nanoUsd` against every scope, atomically: fails with
  //! kBudgetExceeded (naming the scope) when spent + reserved + nanoUsd
  //! would pass any cap, and then reserves nothing.
  virtual Status reserve(const std::string& reservationId, const std::string& tenant,
                         const std::string& keyId, const std::vector<BudgetScope>& scopes,
                         int64_t nanoUsd, int64_t nowMs) = 0;
  //! Drops the reservation and records the actual usage (if any), atomically.
  //! Settling twice records once.
  virtual Status settle(const std::string& reservationId,
                        const std::optional<UsageRecord>& usage) = 0;
  //! Drops every reservation (at start-up: no call is in flight).
  virtual Status releaseAll() = 0;
  virtual Result<std::vector<UsageRow>> usage(const UsageQuery& q) = 0;
  //! Spent and reserved within a scope's current period.
  virtual Result<std::pair<int64_t, int64_t>> spent(const BudgetScope& scope, int64_t nowMs) = 0;
};

}  // namespace aion::store
