#pragma once
// An OpenAI-compatible upstream that answers at once: the loopback "model
// provider" of bench/gateway.py, so what is measured is the gateway, not a model.
#include <cstdint>

namespace aion::bench {

struct UpstreamOptions {
  uint16_t port = 0;  // 0: any free port (printed on stdout)
  int threads = 1;
};

//! Serves until SIGINT/SIGTERM:
//!   POST /v1/chat/completions  a fixed chat.completion with usage, or its SSE
//!                              chunks when the body asks for "stream": true
//!   GET  /healthz              "ok"
//!   GET  /bench/stats          {"chat": <chat completions answered so far>}
//! Prints "upstream listening on 127.0.0.1:<port>" once ready. Returns the exit code.
int runUpstream(const UpstreamOptions& o);

}  // namespace aion::bench
