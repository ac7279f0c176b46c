#pragma once
// A blocking HTTP/1.1 keep-alive client for the load driver (Boost.Beast).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "load.h"

namespace aion::bench {

struct HttpTarget {
  std::string host;
  std::string port;
  std::string target;  // path and query
  std::string method = "GET";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

//! Parses "http://host:port/path?query" (no TLS, no user info).
HttpTarget parseHttpUrl(const std::string& url);

//! One keep-alive connection sending `t` over and over; connects now.
std::unique_ptr<Caller> makeHttpCaller(const HttpTarget& t);

}  // namespace aion::bench
