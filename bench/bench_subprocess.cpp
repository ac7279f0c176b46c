// The same module logic two ways: summarize.wasm through the wasmtime host
// vs summarize-native (the same crate built for the host) through the
// subprocess host's Linux sandbox. Baselines in the same run: the empty
// WASM module (`spin`, ms=0) and the minimal native echo, i.e. each host's
// fixed cost per call. Last, what the sandbox's namespaces cost per call.
#include <boost/json/serialize.hpp>
#include <functional>

#include "bench_util.h"
#include "modhost/subprocess_host.h"
#include "modhost/wasm_host.h"

using namespace aion;
using Clock = std::chrono::steady_clock;

namespace {

policy::Module spec(const std::string& name, const std::string& kind, const std::string& path) {
  policy::Module m;
  m.name = name;
  m.version = "0.1.0";
  m.kind = kind;
  m.verification = {policy::Verification::State::kUnsigned, "benchmark", {}, {}};
  m.artifactPath = path;
  m.limits = {.memoryMb = 64, .timeoutMs = 10000, .outputBytes = 1 << 22};
  return m;
}

double loadMs(modhost::ModuleHost& host, const policy::PolicySet& set) {
  auto t0 = Clock::now();
  if (auto r = host.load(set); !r) {
    std::fprintf(stderr, "load failed: %s\n", r.error().front().c_str());
    std::exit(1);
  }
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

struct Row {
  const char* name;
  std::string wasmModule, nativeModule, input;
  int wasmCalls, nativeCalls;
};

void header() {
  std::printf("%-24s %-10s %7s %9s %9s %9s %9s %9s %12s\n", "call", "host", "threads", "p50 us",
              "p99 us", "mean us", "cpu us", "calls/s", "p50/baseline");
}

void print(const Row& r, const char* host, int threads, const bench::Stats& s, double base) {
  std::printf("%-24s %-10s %7d %9.1f %9.1f %9.1f %9.1f %9.0f %11.1fx\n", r.name, host, threads,
              s.p50, s.p99, s.mean, s.cpuUs, s.callsPerSec, s.p50 / base);
}

bench::Stats run(modhost::ModuleHost& host, const std::string& module, const std::string& input,
                 int calls, int threads) {
  bench::measure(host, module, input, std::max(20, calls / 20), threads);  // warm-up
  return bench::measure(host, module, input, calls, threads);
}

}  // namespace

int main(int argc, char** argv) {
  std::string build = argc > 1 ? argv[1] : AION_BUILD_DIR;
  int scale = argc > 2 ? std::max(1, std::atoi(argv[2])) : 1;

  policy::PolicySet set;
  set.modules["summarize"] = spec("summarize", "wasm", build + "/modules/summarize.wasm");
  set.modules["empty"] = spec("empty", "wasm", build + "/test-modules/spin.wasm");
  set.modules["summarize-native"] =
      spec("summarize-native", "subprocess", build + "/modules/summarize-native");
  set.modules["echo"] = spec("echo", "subprocess", build + "/test-modules/native/echo");
  policy::PolicySet wasmSet, nativeSet;
  for (auto& [name, m] : set.modules) (m.kind == "wasm" ? wasmSet : nativeSet).modules[name] = m;

  modhost::WasmModuleHost wasm;
  modhost::SandboxCaps caps = modhost::probeSandbox();
  modhost::SubprocessModuleHost native(caps);
  std::printf("sandbox: %s\n", boost::json::serialize(modhost::toJson(caps)).c_str());
  double wasmLoad = loadMs(wasm, wasmSet);
  double nativeLoad = loadMs(native, nativeSet);
  std::printf("load: wasm %.1f ms (Cranelift compile), subprocess %.1f ms (open + sha256)\n\n",
              wasmLoad, nativeLoad);

  std::vector<Row> rows = {
      {"baseline (empty module)", "empty", "echo", "{\"ms\":0}", 2000 * scale, 300 * scale},
      {"summarize 100 B", "summarize", "summarize-native", bench::textParams(bench::prose(100)),
       2000 * scale, 300 * scale},
      {"summarize 2 KB", "summarize", "summarize-native", bench::textParams(bench::prose(2000)),
       1000 * scale, 300 * scale},
      {"summarize 20 KB", "summarize", "summarize-native", bench::textParams(bench::prose(20000)),
       400 * scale, 200 * scale}};
  header();
  std::vector<std::pair<double, double>> single;  // p50 wasm, p50 subprocess at 1 thread
  for (int threads : {1, 2}) {
    double wasmBase = 0, nativeBase = 0;
    std::vector<bench::Stats> nativeStats;
    for (auto& r : rows) {
      auto s = run(wasm, r.wasmModule, r.input, r.wasmCalls, threads);
      if (wasmBase == 0) wasmBase = s.p50;
      print(r, "wasm", threads, s, wasmBase);
      auto n = run(native, r.nativeModule, r.input, r.nativeCalls, threads);
      if (nativeBase == 0) nativeBase = n.p50;
      print(r, "subprocess", threads, n, nativeBase);
      if (threads == 1) single.emplace_back(s.p50, n.p50);
    }
  }
  std::printf("\nsubprocess / wasm, p50 at 1 thread:");
  for (size_t i = 0; i < rows.size(); ++i) {
    std::printf("  %s %.1fx", rows[i].name, single[i].second / single[i].first);
  }
  std::printf("\n\n");

  // What each layer costs: the native echo with layers of the sandbox off.
  struct Variant {
    const char* name;
    std::function<void(modhost::SandboxCaps&)> off;
  };
  std::vector<Variant> variants = {
      {"full sandbox", [](auto&) {}},
      {"without network ns", [](auto& c) { c.netNs = false; }},
      {"without /proc", [](auto& c) { c.procFs = false; }},
      {"without user ns (root)", [](auto& c) { c.userNs = false; }},
      {"rlimits+seccomp only",
       [](auto& c) {
         c.userNs = c.mountNs = c.pidNs = c.netNs = c.ipcNs = c.utsNs = false;
         c.privateRoot = c.procFs = false;
       }},
      {"rlimits only", [](auto& c) {
         c.userNs = c.mountNs = c.pidNs = c.netNs = c.ipcNs = c.utsNs = false;
         c.privateRoot = c.procFs = c.seccomp = false;
       }}};
  std::printf("%-24s %9s %9s %9s %9s %9s\n", "native echo", "p50 us", "p99 us", "mean us", "cpu us",
              "calls/s");
  for (auto& v : variants) {
    modhost::SandboxCaps fewer = caps;
    v.off(fewer);
    if (!caps.root && !fewer.userNs && fewer.mountNs) continue;  // needs root
    modhost::SubprocessModuleHost host(fewer);
    loadMs(host, nativeSet);
    auto s = run(host, "echo", "{}", 300 * scale, 1);
    std::printf("%-24s %9.1f %9.1f %9.1f %9.1f %9.0f\n", v.name, s.p50, s.p99, s.mean, s.cpuUs,
                s.callsPerSec);
  }
  return 0;
}
