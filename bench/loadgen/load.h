#pragma once
// The load driver of aion_loadgen: C connections, each on its own thread with
// a blocking client, either as fast as they can (closed loop, saturation) or
// on a fixed schedule (open loop), where latency counts from the *scheduled*
// send time so a slow answer also charges the requests it delayed (no
// coordinated omission).
#include <boost/json/object.hpp>
#include <functional>
#include <memory>
#include <string>

namespace aion::bench {

//! What one request ended with: a protocol status (HTTP status, gRPC code) or
//! a negative transport error, and whether it counts as a success.
struct Outcome {
  int code = 0;
  bool ok = false;
};

//! One client connection. Not thread-safe: the driver gives each its own thread.
class Caller {
 public:
  virtual ~Caller() = default;
  //! Sends one request and blocks until its answer is read. Never throws; a
  //! broken connection is reported as an outcome and re-opened on the next call.
  virtual Outcome call() = 0;
  //! How `code` is written in the report ("200", "UNAVAILABLE", "io_error").
  virtual std::string label(int code) const = 0;
};

struct LoadPlan {
  int conns = 16;
  double durationS = 5;
  double warmupS = 1;       // run, but not recorded
  double rate = 0;          // requests/s over all connections; 0: closed loop
  double reportEveryS = 0;  // > 0: also print one JSON line per window this long (soak)
};

//! Makes connection `index` (connected, ready to call); throws on failure.
using CallerFactory = std::function<std::unique_ptr<Caller>(int index)>;

//! Runs the plan and returns the report: counts by status, rps and latency
//! percentiles in microseconds. With reportEveryS, while it runs, one line
//! per window on stdout: {"window": k, "t_s", "requests", "ok", "statuses",
//! "rps", "latency_us"} over the requests that finished in that window.
boost::json::object runLoad(const LoadPlan& plan, const CallerFactory& make);

}  // namespace aion::bench
