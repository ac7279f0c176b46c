#pragma once
// Budgets as one atomic in-memory step (DESIGN.md §7a): spend and in-flight
// reservations per tenant and per key, over the current UTC day and month.
// Spend is loaded from the store's usage records at start-up and kept in
// step as calls settle; the usage records themselves are written with the
// task's final state. A settle always drops its reservation, whatever
// happens to the store write. With several control planes (store/cluster.h)
// the reservation is made in the shared ledger in the database instead, in
// one transaction under row locks, so that planes cannot overspend a cap
// together; this book then mirrors it for the gauges.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/error.h"
#include "store/cluster.h"
#include "store/task_store.h"

namespace aion::control {

//! A cap a reservation must fit in: spend of one tenant or one key over the
//! current UTC day or month.
struct BudgetScope {
  enum class Kind { kTenant, kKey } kind = Kind::kTenant;
  std::string id;      // tenant name or key id
  std::string period;  // day | month
  int64_t capNanoUsd = 0;
};

class BudgetBook {
 public:
  //! Loads this day's and this month's spend per tenant and key.
  Status load(store::TaskStore& store, int64_t nowMs);

  //! Reserves `nanoUsd` for tenant and key, atomically: kBudgetExceeded
  //! (naming the scope) when spent + reserved + nanoUsd would pass any cap
  //! of `scopes`, and then nothing is reserved. Reservation ids are unique.
  Status reserve(const std::string& reservationId, const std::string& tenant,
                 const std::string& keyId, const std::vector<BudgetScope>& scopes, int64_t nanoUsd,
                 int64_t nowMs);
  //! Drops the reservation and counts `spentNanoUsd` against its tenant and
  //! key. Unknown ids (settled already) change nothing.
  void settle(const std::string& reservationId, int64_t spentNanoUsd, int64_t nowMs);

  //! Reservations go to `ledger` (shared by the control planes), its
  //! blocking calls on `exec`. Call before any reservation.
  void share(store::Cluster* ledger, boost::asio::any_io_executor exec);
  //! reserve(), in the shared ledger when there is one (then a ledger that
  //! cannot be reached refuses the call: kUnavailable).
  boost::asio::awaitable<Status> reserveAsync(std::string reservationId, std::string tenant,
                                              std::string keyId, std::vector<BudgetScope> scopes,
                                              int64_t nanoUsd, int64_t nowMs);
  //! settle(), in the shared ledger too when there is one; a ledger that
  //! cannot be reached gets it again with this plane's next ledger call.
  boost::asio::awaitable<void> settleAsync(std::string reservationId, int64_t spentNanoUsd,
                                           int64_t nowMs);
  //! Spent in the scope's current period, and reserved now.
  std::pair<int64_t, int64_t> spent(const BudgetScope& scope, int64_t nowMs);
  size_t openReservations() const;
  //! Settles waiting to be retried in the shared ledger.
  size_t unsettled() const;
  //! Tenants (or key ids) with an account: spend or reservations seen.
  std::vector<std::string> ids(BudgetScope::Kind kind) const;

 private:
  struct Account {
    int64_t dayStart = 0, daySpent = 0;
    int64_t monthStart = 0, monthSpent = 0;
    int64_t reserved = 0;
  };
  struct Reservation {
    std::string tenant, keyId;
    int64_t amount = 0;
    bool shared = false;  // also in the shared ledger
  };
  Account& account(BudgetScope::Kind kind, const std::string& id, int64_t nowMs);
  //! Settles the shared ledger refused earlier, again; on ledgerExec_.
  void settleLeftovers();

  store::Cluster* ledger_ = nullptr;
  boost::asio::any_io_executor ledgerExec_;
  mutable std::mutex mu_;
  std::map<std::pair<BudgetScope::Kind, std::string>, Account> accounts_;
  std::unordered_map<std::string, Reservation> open_;
  //! Settles the shared ledger did not take (it could not be reached):
  //! retried before this plane's next ledger call, so the reservation goes
  //! and the spend lands. Settling is idempotent in the ledger.
  std::vector<std::pair<std::string, int64_t>> unsettled_;
};

}  // namespace aion::control
