#pragma once
// Base URLs of model providers: scheme, host, port and a path prefix.
#include <cstdint>
#include <string>

#include "common/error.h"

namespace aion::providers {

struct Url {
  bool tls = false;
  std::string host;
  uint16_t port = 0;
  std::string path;  // no trailing slash; "" for the root

  //! "host:port" as sent in the Host header (port omitted when default).
  std::string hostHeader() const;
  std::string origin() const;  // scheme://host:port
};

//! Parses http(s)://host[:port][/path]. `bareHostOk` accepts "host:port"
//! without a scheme as http:// (Ollama's OLLAMA_HOST convention).
Result<Url> parseUrl(std::string_view s, bool bareHostOk = false);

}  // namespace aion::providers
