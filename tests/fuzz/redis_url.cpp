// AION_CONTROL_REDIS_URL: redis://[:password@]host[:port][/db]. Beyond
// memory safety, an accepted URL is in range, and the parts it yields,
// written back as a URL, parse to the same parts.
#include <cstdint>

#include "fuzz_util.h"
#include "redis/redis_client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aion;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto u = redis::parseUrl(text);
  if (!u) return 0;
  if (u->host.empty()) fuzz::violated("an empty host accepted");
  if (u->port < 1 || u->port > 65535) fuzz::violated("a port out of range accepted");
  if (u->db < 0) fuzz::violated("a negative database accepted");
  std::string again = "redis://" + (u->password.empty() ? "" : ":" + u->password + "@") + u->host +
                      ":" + std::to_string(u->port) + "/" + std::to_string(u->db);
  auto v = redis::parseUrl(again);
  if (!v || v->host != u->host || v->port != u->port || v->password != u->password ||
      v->db != u->db)
    fuzz::violated("the URL's parts do not round-trip");
  return 0;
}
