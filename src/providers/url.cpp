#include "providers/url.h"

#include <charconv>

namespace aion::providers {

std::string Url::hostHeader() const {
  bool dflt = (tls && port == 443) || (!tls && port == 80);
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return dflt ? h : h + ":" + std::to_string(port);
}

std::string Url::origin() const {
  return std::string(tls ? "https://" : "http://") + hostHeader();
}

Result<Url> parseUrl(std::string_view s, bool bareHostOk) {
  Url u;
  std::string_view rest = s;
  if (rest.starts_with("https://")) {
    u.tls = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (!bareHostOk || rest.find("://") != std::string_view::npos) {
    return fail(ErrorCode::kInvalidRequest, "URL must start with http:// or https://");
  }
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos)
    return fail(ErrorCode::kInvalidRequest, "URL must not carry credentials");
  if (path.find_first_of("?#") != std::string_view::npos)
    return fail(ErrorCode::kInvalidRequest, "URL must not carry a query or fragment");
  std::string_view portText;
  if (authority.starts_with("[")) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return fail(ErrorCode::kInvalidRequest, "bad IPv6 host");
    u.host = std::string(authority.substr(1, close - 1));
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return fail(ErrorCode::kInvalidRequest, "bad host");
      portText = after.substr(1);
    }
  } else {
    auto colon = authority.find(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) portText = authority.substr(colon + 1);
  }
  if (u.host.empty()) return fail(ErrorCode::kInvalidRequest, "URL has no host");
  for (char c : u.host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
          c == '_'))
      return fail(ErrorCode::kInvalidRequest, "URL host has invalid characters");
  u.port = u.tls ? 443 : 80;
  if (!portText.empty()) {
    unsigned p = 0;
    auto [end, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), p);
    if (ec != std::errc() || end != portText.data() + portText.size() || p == 0 || p > 65535)
      return fail(ErrorCode::kInvalidRequest, "URL port must be 1-65535");
    u.port = static_cast<uint16_t>(p);
  }
  while (path.ends_with('/')) path.remove_suffix(1);
  u.path = std::string(path);
  return u;
}

}  // namespace aion::providers
