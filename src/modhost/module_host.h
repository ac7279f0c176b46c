#pragma once
// The module-host seam (DESIGN.md §2, §6). The embedded profile uses the
// wasmtime implementation in-process; a remote host is another
// implementation of the same interface.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <string_view>

#include "common/error.h"
#include "policy/policy.h"

namespace aion::modhost {

struct CallOptions {
  int timeoutMs = 5000;                       // wall time; the tighter of task and module limit
  const std::atomic<bool>* cancel = nullptr;  // polled while the module runs
  //! W3C traceparent of the caller's span (empty: none): a remote host passes
  //! it on, so the module host's span joins the task's trace.
  std::string traceparent{};
  std::string tracestate{};  // its W3C tracestate, passed on with it
};

struct CallResult {
  boost::json::value output;  // the module's stdout, parsed
  int64_t micros = 0;         // instantiate + run
  std::string stderrTail;     // last bytes the module wrote to stderr
  int64_t fuelUsed = -1;      // WASM with limits.fuel: units consumed; else -1
  int64_t memoryBytes = -1;   // WASM: linear memory at the end (its peak); subprocess: peak RSS
};

//! A call stopped by one of its limits or by the sandbox carries
//! details.limit: fuel, wall_time, cpu_time, memory, output or syscall.

class ModuleHost {
 public:
  virtual ~ModuleHost() = default;

  //! Compiles (or reuses, by digest) every module of `set`. On success the
  //! host serves exactly these modules; on failure nothing changes and the
  //! errors name each module that failed ("modules.NAME: problem").
  virtual std::expected<void, std::vector<std::string>> load(const policy::PolicySet& set) = 0;

  //! Runs module `name` with `input` (a JSON document) on stdin. Errors:
  //! kNotFound, kTimeout, kCanceled, kInvalidParams (the module rejected its
  //! input: exit status 2), kModuleFailed (trap, other exit, bad output);
  //! details.limit when a limit or the sandbox stopped it.
  //! Thread-safe; blocks the calling thread for the module's run.
  virtual Result<CallResult> call(const std::string& name, std::string_view input,
                                  const CallOptions& opts) = 0;
  //! The same call as a coroutine, for the request path: an in-process host
  //! runs call() on `pool` (the module threads); a remote host awaits the
  //! network instead and leaves `pool` alone. `*opts.cancel` must outlive it.
  virtual boost::asio::awaitable<Result<CallResult>> callAsync(std::string name, std::string input,
                                                               CallOptions opts,
                                                               boost::asio::any_io_executor pool);

  //! Loaded modules with digest and limits, for /readyz and listings.
  virtual boost::json::array describe() const = 0;
};

}  // namespace aion::modhost
