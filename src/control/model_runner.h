#pragma once
// One model route of a running task: hybrid redaction before a remote
// provider, the budget reservation, the provider call (its deltas become
// progress events), re-hydration of the answer, and what it consumed.
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include "control/orchestrator.h"

namespace aion::control {

//! What the model calls of one task consumed so far.
struct Spend {
  double usd = 0;
  bool estimated = false;
  std::vector<store::UsageRecord> usage;  // written with the task's final state
};

//! Runs `route` (a model route of `task`'s plan, at `routeIndex`) within
//! `remainingMs`. Settles its budget reservation whatever happens, and adds
//! what it consumed to `spend` — on a cut or canceled stream too, estimated
//! from the text streamed when the provider reported nothing. `streamed`
//! tells whether text reached followers (then no other route may run).
boost::asio::awaitable<Result<boost::json::value>> runModel(Orchestrator& o,
                                                            const std::shared_ptr<ActiveTask>& t,
                                                            const store::Task& task,
                                                            const boost::json::object& route,
                                                            size_t routeIndex, int64_t remainingMs,
                                                            Spend& spend, bool& streamed);

}  // namespace aion::control
