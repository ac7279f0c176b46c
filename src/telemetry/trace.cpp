#include "telemetry/trace.h"

#include <random>

namespace aion::telemetry {
namespace {

bool lowerHex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool allZero(std::string_view s) {
  return s.find_first_not_of('0') == std::string_view::npos;
}

std::string randomHex(size_t bytes) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  while (out.size() < bytes * 2) {
    uint64_t r = rng();
    for (int i = 0; i < 16 && out.size() < bytes * 2; ++i, r >>= 4) out += kHex[r & 0xf];
  }
  if (allZero(out)) out.back() = '1';  // all-zero ids are invalid
  return out;
}

}  // namespace

std::optional<TraceParent> parseTraceparent(std::string_view h) {
  // version "-" trace-id "-" parent-id "-" flags; a later version may append fields.
  if (h.size() < 55 || h[2] != '-' || h[35] != '-' || h[52] != '-') return std::nullopt;
  auto version = h.substr(0, 2), trace = h.substr(3, 32), parent = h.substr(36, 16),
       flags = h.substr(53, 2);
  if (!lowerHex(version) || version == "ff" || !lowerHex(trace) || !lowerHex(parent) ||
      !lowerHex(flags) || allZero(trace) || allZero(parent))
    return std::nullopt;
  if (h.size() > 55 && (version == "00" || h[55] != '-')) return std::nullopt;
  int f = std::stoi(std::string(flags), nullptr, 16);
  return TraceParent{std::string(trace), std::string(parent), (f & 1) != 0};
}

std::string newTraceId() {
  return randomHex(16);
}

std::string newSpanId() {
  return randomHex(8);
}

std::string traceparent(std::string_view traceId, std::string_view spanId, bool sampled) {
  std::string out = "00-";
  out.append(traceId);
  out += '-';
  out.append(spanId);
  out += sampled ? "-01" : "-00";
  return out;
}

}  // namespace aion::telemetry
