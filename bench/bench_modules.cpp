// Module-call latency through the wasmtime host: a fresh store instantiated
// from the pre-linked InstancePre, then _start, per call. Two empty modules
// in the same run: a WAT guest that reads stdin and writes {} (the host's own
// cost) and the baseline, the e2e `spin` guest with ms=0 (a Rust program:
// the host plus a Rust runtime's start-up, what every Rust module pays).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "modhost/wasm_host.h"

using namespace aion;
using Clock = std::chrono::steady_clock;

namespace {

using bench::measure;
using bench::prose;

std::string jsonString(const std::string& s) {
  return bench::textParams(s);
}

policy::Module spec(const std::string& name, const std::string& path) {
  policy::Module m;
  m.name = name;
  m.version = "0.1.0";
  m.kind = "wasm";
  m.verification = {policy::Verification::State::kUnsigned, "benchmark", {}, {}};
  m.artifactPath = path;
  m.limits = {.memoryMb = 64, .timeoutMs = 10000, .outputBytes = 1 << 22};
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  std::string build = argc > 1 ? argv[1] : AION_BUILD_DIR;
  int scale = argc > 2 ? std::atoi(argv[2]) : 1;
  policy::PolicySet set;
  set.modules["summarize"] = spec("summarize", build + "/modules/summarize.wasm");
  set.modules["empty"] = spec("empty", build + "/test-modules/spin.wasm");
  set.modules["empty-wat"] = spec("empty-wat", build + "/test-modules/empty.wasm");

  modhost::WasmModuleHost host;
  auto t0 = Clock::now();
  if (auto r = host.load(set); !r) {
    std::fprintf(stderr, "load failed: %s\n", r.error().front().c_str());
    return 1;
  }
  double compileMs = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  t0 = Clock::now();
  (void)host.load(set);
  double cachedUs = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
  std::printf(
      "load (compile with Cranelift): %.1f ms; reload of the same bytes (digest cache): %.0f "
      "us\n\n",
      compileMs, cachedUs);

  struct Row {
    const char* name;
    std::string module, input;
    int calls;
  };
  std::vector<Row> rows = {{"empty module (baseline)", "empty", "{\"ms\":0}", 4000 * scale},
                           {"empty WAT module (host)", "empty-wat", "{\"ms\":0}", 4000 * scale},
                           {"summarize 100 B", "summarize", jsonString(prose(100)), 4000 * scale},
                           {"summarize 2 KB", "summarize", jsonString(prose(2000)), 2000 * scale},
                           {"summarize 20 KB", "summarize", jsonString(prose(20000)), 400 * scale}};
  std::printf("%-26s %7s %9s %9s %9s %10s %12s\n", "call", "threads", "p50 us", "p99 us", "mean us",
              "calls/s", "p50/baseline");
  for (int threads : {1, 2}) {
    double base = 0;
    for (auto& r : rows) {
      measure(host, r.module, r.input, std::max(50, r.calls / 20), threads);  // warm-up
      auto s = measure(host, r.module, r.input, r.calls, threads);
      if (base == 0) base = s.p50;
      std::printf("%-26s %7d %9.1f %9.1f %9.1f %10.0f %11.1fx\n", r.name, threads, s.p50, s.p99,
                  s.mean, s.callsPerSec, s.p50 / base);
    }
  }
  return 0;
}
