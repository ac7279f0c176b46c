// aiond's configuration from its environment (docs/configuration.md), as
// loadConfig reads it at start-up: the connection strings and lists among it
// — KAFKA_BROKERS (host:port,...), AION_CONTROL_REDIS_URL, the engine DSNs
// (AION_CONTROL_POSTGRES_DSN, AION_CONTROL_MONGO_DSN, ...; libpq parses a
// PostgreSQL DSN itself), AION_GATEWAY_API_KEYS, AION_MODULE_HOST_GPUS —
// and every number, flag and enumeration, and the files some of them name.
//
// Input: NAME=VALUE lines (the value runs to the end of its line).
#include <cstdint>
#include <map>

#include "app/config.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aion;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (fuzz::namesSpecialFile(text)) return 0;  // values may name files (AION_INTERNAL_TLS_*)
  std::map<std::string, std::string, std::less<>> env;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = std::min(text.find('\n', pos), text.size());
    auto line = text.substr(pos, eol - pos);
    if (auto eq = line.find('='); eq != std::string_view::npos)
      env[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
    pos = eol + 1;
  }
  auto lookup = [&](const char* name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  auto c = app::loadConfig(lookup, "/nonexistent");
  if (!c) {
    if (c.error().message.empty()) fuzz::violated("a refused configuration without a reason");
    return 0;
  }
  if (c->redisUrl && (c->redisUrl->port < 1 || c->redisUrl->host.empty()))
    fuzz::violated("a Redis URL without host or port accepted");
  if (!c->kafkaBrokers.empty() && c->kafkaBrokers.find(':') == std::string::npos)
    fuzz::violated("KAFKA_BROKERS without a port accepted");
  return 0;
}
