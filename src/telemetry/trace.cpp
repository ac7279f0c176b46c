#include "telemetry/trace.h"

#include <random>
#include <vector>

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

bool lcAlpha(char c) {
  return c >= 'a' && c <= 'z';
}

bool keyChar(char c) {
  return lcAlpha(c) || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*' || c == '/';
}

// key = simple-key / tenant-id "@" system-id
bool validKey(std::string_view k) {
  auto at = k.find('@');
  auto part = [](std::string_view s, size_t max, bool digitFirst) {
    if (s.empty() || s.size() > max) return false;
    if (!lcAlpha(s[0]) && !(digitFirst && s[0] >= '0' && s[0] <= '9')) return false;
    for (char c : s)
      if (!keyChar(c)) return false;
    return true;
  };
  if (at == std::string_view::npos) return part(k, 256, false);
  return part(k.substr(0, at), 241, true) && part(k.substr(at + 1), 14, false);
}

// value = 0*255(chr) nblk-chr; printable ASCII except ',' and '=', no trailing space
bool validValue(std::string_view v) {
  if (v.empty() || v.size() > 256 || v.back() == ' ') return false;
  for (char c : v)
    if (c < 0x20 || c > 0x7e || c == ',' || c == '=') return false;
  return true;
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<std::string> parseTracestate(std::string_view h) {
  constexpr size_t kMaxMembers = 32, kMaxLength = 512, kLongMember = 128;
  std::vector<std::string_view> members;
  while (true) {
    auto comma = h.find(',');
    auto m = trimOws(h.substr(0, comma));
    if (!m.empty()) {
      auto eq = m.find('=');
      if (eq == std::string_view::npos || !validKey(m.substr(0, eq)) ||
          !validValue(m.substr(eq + 1)) || members.size() == kMaxMembers)
        return std::nullopt;
      for (auto other : members)
        if (other.substr(0, other.find('=')) == m.substr(0, eq)) return std::nullopt;
      members.push_back(m);
    }
    if (comma == std::string_view::npos) break;
    h.remove_prefix(comma + 1);
  }
  auto length = [&] {
    size_t n = members.empty() ? 0 : members.size() - 1;
    for (auto m : members) n += m.size();
    return n;
  };
  for (size_t i = members.size(); i-- > 0 && length() > kMaxLength;)
    if (members[i].size() > kLongMember) members.erase(members.begin() + static_cast<long>(i));
  while (length() > kMaxLength) members.pop_back();
  std::string out;
  for (auto m : members) {
    if (!out.empty()) out += ',';
    out.append(m);
  }
  return out;
}

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
