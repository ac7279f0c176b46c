#include "http/sse.h"

#include <charconv>

namespace aion::http {
namespace {

std::string oneLine(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != '\n' && c != '\r') out += c;
  return out;
}

}  // namespace

std::string sseEvent(std::string_view id, std::string_view event, std::string_view data) {
  std::string out;
  out.reserve(data.size() + 32);
  if (!id.empty()) out.append("id: ").append(oneLine(id)).append("\n");
  if (!event.empty()) out.append("event: ").append(oneLine(event)).append("\n");
  size_t start = 0;
  for (;;) {
    size_t nl = data.find_first_of("\r\n", start);
    out.append("data: ").append(
        data.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start));
    out.push_back('\n');
    if (nl == std::string_view::npos) break;
    start = nl + ((data[nl] == '\r' && nl + 1 < data.size() && data[nl + 1] == '\n') ? 2 : 1);
  }
  out.push_back('\n');
  return out;
}

std::string sseComment(std::string_view text) {
  return ": " + oneLine(text) + "\n\n";
}

std::string sseRetry(int ms) {
  return "retry: " + std::to_string(ms) + "\n\n";
}

std::optional<int64_t> parseLastEventId(std::string_view v) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.empty() || v.size() > 18) return std::nullopt;
  int64_t out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size() || out < 0) return std::nullopt;
  return out;
}

}  // namespace aion::http
