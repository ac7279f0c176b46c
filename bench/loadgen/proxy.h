#pragma once
// The least a C++ gateway does: the floor under aiond's chat path on this
// machine (bench/hotpath.py). Keep-alive HTTP/1.1 in (Beast, coroutines on
// an io_context), the JSON request parsed and written again (a gateway reads
// the model), forwarded on pooled keep-alive upstream connections, the JSON
// answer parsed and written again (a gateway reads the usage), replied. No
// auth, no routing, no task, no storage, no metrics.
#include <cstdint>

namespace aion::bench {

struct ProxyOptions {
  uint16_t port = 0;  // 0: any free port (printed on stdout)
  uint16_t upstreamPort = 0;
  int threads = 2;  // aiond's default I/O threads
};

//! Serves until SIGINT/SIGTERM. Prints "proxy listening on 127.0.0.1:<port>"
//! once ready. Returns the exit code.
int runProxy(const ProxyOptions& o);

}  // namespace aion::bench
