#pragma once
// Shared by the module benchmarks: deterministic inputs and a latency probe
// over any ModuleHost (see bench/README.md).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "modhost/module_host.h"

namespace aion::bench {

//! English-like prose of about `bytes` bytes, the same on every run.
inline std::string prose(size_t bytes) {
  static const char* words[] = {"routing", "policy", "module",  "latency", "budget", "the",
                                "a",       "task",   "sandbox", "stream",  "event",  "store",
                                "durable", "of",     "and",     "local"};
  std::string out;
  unsigned x = 12345;
  unsigned inSentence = 0;
  while (out.size() < bytes) {
    x = x * 1103515245 + 12345;
    out += words[(x >> 16) % 16];
    if (++inSentence > 6 + (x >> 8) % 10) {
      out += ". ";
      inSentence = 0;
    } else {
      out += ' ';
    }
  }
  return out;
}

inline std::string textParams(const std::string& s) {
  return "{\"text\":\"" + s + "\"}";
}

struct Stats {
  double p50, p99, mean;
  double callsPerSec;
  double cpuUs;  // CPU time per call, this process and its reaped children (less noisy than wall)
};

inline double cpuMicros() {
  double us = 0;
  for (int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
    rusage ru{};
    getrusage(who, &ru);
    us +=
        (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
  }
  return us;
}

//! `calls` calls of `module` split over `threads` threads; exits on a failed call.
inline Stats measure(modhost::ModuleHost& host, const std::string& module, const std::string& input,
                     int calls, int threads) {
  using Clock = std::chrono::steady_clock;
  std::vector<std::vector<double>> per(threads);
  double cpu0 = cpuMicros();
  auto start = Clock::now();
  std::vector<std::jthread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < calls / threads; ++i) {
        auto s = Clock::now();
        auto r = host.call(module, input, {.timeoutMs = 10000});
        if (!r) {
          std::fprintf(stderr, "%s failed: %s\n", module.c_str(), r.error().message.c_str());
          std::exit(1);
        }
        per[t].push_back(std::chrono::duration<double, std::micro>(Clock::now() - s).count());
      }
    });
  }
  ts.clear();
  double wall = std::chrono::duration<double>(Clock::now() - start).count();
  double cpu = cpuMicros() - cpu0;
  std::vector<double> all;
  for (auto& v : per) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  double sum = 0;
  for (double v : all) sum += v;
  auto q = [&](double p) {
    return all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))];
  };
  return {q(0.50), q(0.99), sum / all.size(), all.size() / wall, cpu / all.size()};
}

}  // namespace aion::bench
