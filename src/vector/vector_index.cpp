#include "vector/vector_index.h"

#include "common/digest.h"

namespace aion::vector {

std::string pointId(const std::string& docId, int chunk) {
  // The NUL keeps ("a1", 0) and ("a", 10) apart.
  std::string h = sha256Hex(docId + std::string(1, '\0') + std::to_string(chunk)).substr(0, 32);
  h[12] = '5';                                                        // version 5 (name-based)
  h[16] = "89ab"[std::stoi(std::string(1, h[16]), nullptr, 16) & 3];  // RFC 4122 variant
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

std::string hexOf(const std::string& s) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() * 2);
  for (unsigned char c : s) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::optional<std::string> unhex(const std::string& h) {
  if (h.size() % 2) return std::nullopt;
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < h.size(); i += 2) {
    int a = digit(h[i]), b = digit(h[i + 1]);
    if (a < 0 || b < 0) return std::nullopt;
    out += static_cast<char>(a * 16 + b);
  }
  return out;
}

}  // namespace aion::vector
