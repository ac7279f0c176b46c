#pragma once
// Several control planes on one database (docs/architecture.md, "Several
// control planes"): the seam a store offers when more than one control
// plane may share it. Each plane has an id and a lease it renews; every task
// row names the plane that owns it. A plane whose lease expired (killed,
// cut off) loses its unfinished tasks to the first peer that claims them
// (FOR UPDATE SKIP LOCKED: each task goes to exactly one); a plane with a
// free slot takes tasks that waited too long in a busy peer's queue. Events committed
// by one plane and cancels asked through another reach the owner through
// the database (PostgreSQL LISTEN/NOTIFY). The embedded SQLite store has no
// cluster: one plane, as before.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "store/task.h"

namespace aion::store {

//! A budget reservation as the shared ledger keeps it (control/budget_book.h
//! keeps the same in memory when there is one plane).
struct LedgerScope {
  std::string kind;    // tenant | key
  std::string id;      // tenant name or key id
  std::string period;  // day | month
  int64_t periodStartMs = 0;
  int64_t capNanoUsd = 0;
};

//! Why a shared reservation was refused: the scope and its figures.
struct LedgerRefusal {
  LedgerScope scope;
  int64_t spentNanoUsd = 0, reservedNanoUsd = 0;
};

class Cluster {
 public:
  virtual ~Cluster() = default;

  //! This plane's id (AION_CONTROL_PLANE_ID): unique among live planes; the
  //! store refuses to open a second plane with the same id.
  virtual const std::string& planeId() const = 0;
  //! Extends this plane's lease by the lease length, on the database's clock.
  //! Returns the ids of tasks this plane owns whose cancel was asked through
  //! another plane (a backstop for a missed notification). Blocks: run it
  //! on a blocking pool.
  virtual Result<std::vector<std::string>> renew() = 0;
  //! Claims unfinished tasks for this plane and returns them (oldest first):
  //! those of planes whose lease expired and tasks with no owner; with
  //! `ownToo` (at start-up) also this plane id's own, left by its previous
  //! run. Concurrent claims never return the same task twice. Blocks.
  virtual Result<std::vector<Task>> claim(bool ownToo) = 0;
  //! Takes up to `limit` tasks that have waited at least `queuedFor` in a
  //! live peer's queue (routed or queued, not flagged for cancel, never taken
  //! before), oldest first, and tells each peer which of its tasks it lost
  //! (Listener::taken). The peer can no longer start them: only a task's
  //! owner writes it. Concurrent takes never return the same task. Blocks.
  virtual Result<std::vector<Task>> take(size_t limit, std::chrono::milliseconds queuedFor) = 0;
  //! Asks the owner of an unfinished task to cancel it: sets the task's
  //! cancel flag and notifies its plane. nullopt: no such task, or it is
  //! already terminal. Blocks.
  virtual Result<std::optional<Task>> requestCancel(const std::string& taskId) = 0;
  //! Ends the lease at once (graceful stop): peers take what is left
  //! without waiting for it to expire. Blocks.
  virtual void release() = 0;

  //! What the store tells this plane about other planes' work. Callbacks run
  //! on the store's listener thread; they must be quick and must not block.
  struct Listener {
    //! Another plane committed events of `taskId` up to `seq`.
    std::function<void(const std::string& taskId, int64_t seq)> committed{};
    //! A cancel of `taskId`, owned by this plane, was asked elsewhere.
    std::function<void(const std::string& taskId)> cancel{};
    //! A peer took `taskId`, queued here, to run it (Cluster::take).
    std::function<void(const std::string& taskId)> taken{};
    //! Notifications may have been missed (the listening connection was
    //! re-established): whoever waits on one should look at the store.
    std::function<void()> resync{};
  };
  //! Starts delivering to `l` (once, before tasks run).
  virtual void listen(Listener l) = 0;
  //! Stops delivering: once it returns no callback runs or will run. Call
  //! it before what the callbacks touch goes away.
  virtual void unlisten() = 0;

  // ---- the shared budget ledger --------------------------------------------
  //! Reserves `nanoUsd` against every scope atomically (row locks in the
  //! database): the refusal (first scope that would pass its cap) and
  //! nothing reserved, or reserved under `reservationId`. Blocks.
  virtual Result<std::optional<LedgerRefusal>> reserve(const std::string& reservationId,
                                                       const std::vector<LedgerScope>& scopes,
                                                       int64_t nanoUsd) = 0;
  //! Drops the reservation and adds `spentNanoUsd` to its scopes' spend.
  //! Unknown ids change nothing. Blocks.
  virtual Status settle(const std::string& reservationId, int64_t spentNanoUsd) = 0;
  //! Spent and reserved now in one scope (gauges). Blocks.
  virtual Result<std::pair<int64_t, int64_t>> spent(const LedgerScope& scope) = 0;
};

}  // namespace aion::store
