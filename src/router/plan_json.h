#pragma once
// A routing plan's JSON as tasks keep it and as clients see it. A task keeps
// its plan compact: without `primary` (it is routes[0]) and, when every
// candidate was kept in the order of `routes`, without `candidates` (each is
// its route, kept, for a reason its figures give). That is most plans, a
// named route's always; the full form, built, copied, written and freed on
// every call, was ≈ 12% of a proxied chat call's CPU. Task views, the route
// event and the event topics show the full form, rebuilt here. Built into
// aion_api: the gateway role and the stores' outbox read it.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string>

#include "store/task.h"

namespace aion::router {

//! usd with at most 6 decimals and no trailing zeros ("0.02", "3.0").
std::string usdText(double usd);
//! Why a kept route was kept, from its JSON (toJson(Route)) and the plan's budget.
std::string keptReason(const boost::json::object& route, double budgetUsd);
//! The plan as clients see it (router::toJson(Plan)) from a task's stored
//! plan; a full plan (older rows) comes back as it is.
boost::json::value planView(const boost::json::value& stored);
//! An event's data as clients see it: a route event's plan with its primary.
boost::json::value eventDataView(const store::Event& e);

}  // namespace aion::router
