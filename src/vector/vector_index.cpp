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

}  // namespace aion::vector
