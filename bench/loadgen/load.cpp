#include "load.h"

#include <sys/prctl.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace aion::bench {
namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using Ns = std::chrono::nanoseconds;

namespace {

struct ConnStats {
  std::vector<int64_t> latency;  // ns from the scheduled (open) or actual (closed) send
  std::vector<int64_t> service;  // ns from the actual send
  std::map<int, uint64_t> codes;
  uint64_t ok = 0;
  uint64_t unsent = 0;  // open loop: scheduled in the window, never sent (client gave up)
  uint64_t warmup = 0;  // sent during the warm-up, not recorded
  // The current report window (reportEveryS), drained by the reporter thread.
  std::mutex windowMu;
  std::vector<int64_t> windowLatency;
  std::map<int, uint64_t> windowCodes;
  bool windowed = false;
};

struct Window {
  Clock::time_point start;    // first send (warm-up begins)
  Clock::time_point measure;  // recording begins
  Clock::time_point end;      // no send starts at or after this
  Clock::time_point giveUp;   // open loop: a connection this far behind stops
};

// Sends one request due at `due` (closed loop: now) and records it, unless
// it belongs to the warm-up.
void callOnce(Caller& c, const Window& w, ConnStats& s, Clock::time_point due) {
  auto sent = Clock::now();
  Outcome o = c.call();
  auto done = Clock::now();
  if (due < w.measure) {
    ++s.warmup;
    return;
  }
  ++s.codes[o.code];
  if (s.windowed) {
    std::lock_guard lock(s.windowMu);
    ++s.windowCodes[o.code];
    if (o.ok) s.windowLatency.push_back(Ns(done - due).count());
  }
  if (!o.ok) return;  // failures are counted by status, not mixed into latency
  ++s.ok;
  s.latency.push_back(Ns(done - due).count());
  s.service.push_back(Ns(done - sent).count());
}

void closedLoop(Caller& c, const Window& w, ConnStats& s) {
  std::this_thread::sleep_until(w.start);
  for (auto now = Clock::now(); now < w.end; now = Clock::now()) callOnce(c, w, s, now);
}

// Connection `index` of `conns` sends every conns/rate seconds, staggered by
// index/rate, so the whole run is one evenly spaced schedule.
void openLoop(Caller& c, const Window& w, ConnStats& s, int index, int conns, double rate) {
  const Ns interval(static_cast<int64_t>(1e9 * conns / rate));
  auto due = w.start + Ns(static_cast<int64_t>(1e9 * index / rate));
  for (; due < w.end; due += interval) {
    if (Clock::now() >= w.giveUp) break;
    std::this_thread::sleep_until(due);
    callOnce(c, w, s, due);
  }
  for (; due < w.end; due += interval)  // left when too far behind
    if (due >= w.measure) ++s.unsent;
}

// Whole microseconds: finer than the figures mean on a shared machine, and
// Boost.JSON writes integers plainly (doubles come out as 3.81E1).
int64_t us(double ns) {
  return std::llround(ns / 1e3);
}

// Nearest-rank percentile of sorted samples.
int64_t pctUs(const std::vector<int64_t>& v, double p) {
  if (v.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  return us(static_cast<double>(v[std::clamp<size_t>(rank, 1, v.size()) - 1]));
}

json::object summary(std::vector<int64_t>& v) {
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (auto x : v) sum += static_cast<double>(x);
  return {{"p50", pctUs(v, 0.50)},
          {"p90", pctUs(v, 0.90)},
          {"p99", pctUs(v, 0.99)},
          {"p999", pctUs(v, 0.999)},
          {"max", v.empty() ? 0 : us(static_cast<double>(v.back()))},
          {"mean", v.empty() ? 0 : us(sum / static_cast<double>(v.size()))}};
}

// Prints window `k`, `seconds` long and ending `endS` after recording began
// (the requests that finished since the last one), as a JSON line.
void reportWindow(int k, double endS, double seconds, std::vector<ConnStats>& stats,
                  const Caller& labels) {
  std::vector<int64_t> latency;
  std::map<int, uint64_t> codes;
  for (auto& s : stats) {
    std::lock_guard lock(s.windowMu);
    latency.insert(latency.end(), s.windowLatency.begin(), s.windowLatency.end());
    for (auto [code, n] : s.windowCodes) codes[code] += n;
    s.windowLatency.clear();
    s.windowCodes.clear();
  }
  uint64_t requests = 0;
  json::object statuses;
  for (auto [code, n] : codes) {
    requests += n;
    statuses[labels.label(code)] = n;
  }
  json::object line{
      {"window", k},          {"t_s", std::llround(endS)},
      {"requests", requests}, {"ok", latency.size()},
      {"statuses", statuses}, {"rps", std::llround(static_cast<double>(latency.size()) / seconds)}};
  line["latency_us"] = summary(latency);
  std::cout << json::serialize(line) << std::endl;
}

// Reports every `every` seconds from the start of recording; the last window
// ends with the run and also takes the answers that arrive after its end.
void reportWindows(const Window& w, double every, std::vector<ConnStats>& stats,
                   const Caller& labels, std::stop_token stop) {
  auto since = [&](Clock::time_point t) {
    return std::chrono::duration<double>(t - w.measure).count();
  };
  for (int k = 1;; ++k) {
    auto at = w.measure + Ns(static_cast<int64_t>(k * every * 1e9));
    bool last = at >= w.end;
    while ((last || Clock::now() < at) && !stop.stop_requested())
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    double end = since(last ? w.end : std::min(at, Clock::now()));
    reportWindow(k, end, end - (k - 1) * every, stats, labels);
    if (last || stop.stop_requested()) return;
  }
}

}  // namespace

json::object runLoad(const LoadPlan& plan, const CallerFactory& make) {
  // Sleeps end on time rather than up to 50 us late (the default slack), which
  // an open-loop schedule would otherwise charge to the server.
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  std::vector<std::unique_ptr<Caller>> callers;
  for (int i = 0; i < plan.conns; ++i) callers.push_back(make(i));

  Window w;
  w.start = Clock::now() + std::chrono::milliseconds(20);
  w.measure = w.start + Ns(static_cast<int64_t>(plan.warmupS * 1e9));
  w.end = w.measure + Ns(static_cast<int64_t>(plan.durationS * 1e9));
  w.giveUp = w.end + std::max(Ns(std::chrono::seconds(2)), w.end - w.start);

  std::vector<ConnStats> stats(plan.conns);
  for (auto& s : stats) s.windowed = plan.reportEveryS > 0;
  std::jthread reporter;
  if (plan.reportEveryS > 0)
    reporter = std::jthread([&](std::stop_token stop) {
      reportWindows(w, plan.reportEveryS, stats, *callers.front(), stop);
    });
  std::vector<std::jthread> threads;
  for (int i = 0; i < plan.conns; ++i) {
    threads.emplace_back([&, i] {
      if (plan.rate > 0)
        openLoop(*callers[i], w, stats[i], i, plan.conns, plan.rate);
      else
        closedLoop(*callers[i], w, stats[i]);
    });
  }
  threads.clear();  // joins
  if (reporter.joinable()) {
    reporter.request_stop();
    reporter.join();
  }

  ConnStats all;
  for (auto& s : stats) {
    all.latency.insert(all.latency.end(), s.latency.begin(), s.latency.end());
    all.service.insert(all.service.end(), s.service.begin(), s.service.end());
    for (auto [code, n] : s.codes) all.codes[code] += n;
    all.ok += s.ok;
    all.unsent += s.unsent;
    all.warmup += s.warmup;
  }
  uint64_t requests = 0;
  json::object statuses;
  for (auto [code, n] : all.codes) {
    requests += n;
    statuses[callers.front()->label(code)] = n;
  }
  json::object out{{"mode", plan.rate > 0 ? "open" : "closed"},
                   {"conns", plan.conns},
                   {"duration_ms", std::llround(plan.durationS * 1e3)},
                   {"rate", std::llround(plan.rate)},
                   {"requests", requests},
                   {"ok", all.ok},
                   {"errors", requests - all.ok},
                   {"unsent", all.unsent},
                   {"warmup_requests", all.warmup},
                   {"statuses", statuses},
                   {"rps", std::llround(static_cast<double>(all.ok) / plan.durationS)}};
  out["latency_us"] = summary(all.latency);
  if (plan.rate > 0) out["service_us"] = summary(all.service);
  return out;
}

}  // namespace aion::bench
