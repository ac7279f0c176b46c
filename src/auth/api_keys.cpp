#include "auth/api_keys.h"

#include <openssl/crypto.h>

#include <regex>

#include "common/digest.h"

namespace aion::auth {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<std::vector<ApiKey>> parseApiKeys(std::string_view spec) {
  static const std::regex kKeyRe("^[A-Za-z0-9._~+/=-]{1,256}$");
  static const std::regex kTenantRe("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");
  std::vector<ApiKey> out;
  size_t pos = 0, index = 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string_view::npos) comma = spec.size();
    auto entry = trim(spec.substr(pos, comma - pos));
    pos = comma + 1;
    ++index;
    std::string where = "entry " + std::to_string(index);
    if (entry.empty()) {
      if (comma == spec.size() && index > 1) break;  // tolerate a trailing comma
      return fail(ErrorCode::kInvalidRequest, where + " is empty");
    }
    auto c1 = entry.find(':');
    if (c1 == std::string_view::npos)
      return fail(ErrorCode::kInvalidRequest, where + ": expected key:role1|role2[:tenant]");
    auto key = entry.substr(0, c1);
    auto rest = entry.substr(c1 + 1);
    auto c2 = rest.find(':');
    auto roles = rest.substr(0, c2);
    std::string_view tenant =
        c2 == std::string_view::npos ? std::string_view() : rest.substr(c2 + 1);
    if (!std::regex_match(key.begin(), key.end(), kKeyRe))
      return fail(ErrorCode::kInvalidRequest,
                  where + ": key must be 1-256 characters of A-Z a-z 0-9 . _ ~ + / = -");
    ApiKey k;
    size_t rp = 0;
    while (rp <= roles.size()) {
      size_t bar = roles.find('|', rp);
      if (bar == std::string_view::npos) bar = roles.size();
      auto r = roles.substr(rp, bar - rp);
      rp = bar + 1;
      auto role = parseRole(r);
      if (!role)
        return fail(ErrorCode::kInvalidRequest, where + ": unknown role '" + std::string(r) +
                                                    "' (admin, manager, user, viewer)");
      k.roles |= roleBit(*role);
    }
    if (c2 != std::string_view::npos && !std::regex_match(tenant.begin(), tenant.end(), kTenantRe))
      return fail(ErrorCode::kInvalidRequest,
                  where + ": tenant must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    k.digest = sha256(key);
    k.keyId = sha256Hex(key).substr(0, 12);
    k.tenant = std::string(tenant);
    for (auto& o : out)
      if (o.digest == k.digest) return fail(ErrorCode::kInvalidRequest, where + ": duplicate key");
    out.push_back(std::move(k));
  }
  return out;
}

Result<Principal> KeyRing::authenticate(std::string_view presented,
                                        std::string_view tenantHeader) const {
  if (presented.empty())
    return fail(ErrorCode::kUnauthenticated, "missing API key (send it in the X-API-Key header)");
  auto d = sha256(presented);
  const ApiKey* found = nullptr;
  for (const auto& k : keys_) {  // no early exit: time does not depend on which key matched
    bool eq = CRYPTO_memcmp(k.digest.data(), d.data(), d.size()) == 0;
    if (eq) found = &k;
  }
  if (!found) return fail(ErrorCode::kUnauthenticated, "invalid API key");
  Principal p{found->keyId, found->roles, "default"};
  if (mode_ == TenancyMode::kMulti) {
    if (!found->tenant.empty()) {
      if (!tenantHeader.empty() && tenantHeader != found->tenant)
        return fail(ErrorCode::kForbidden, "this key is bound to another tenant");
      p.tenant = found->tenant;
    } else if (!p.has(Role::kAdmin)) {
      return fail(
          ErrorCode::kForbidden,
          "in multi-tenant mode a key must be bound to a tenant (only admin keys may choose one)");
    } else if (tenantHeader.empty()) {
      return fail(ErrorCode::kInvalidRequest,
                  "X-Tenant-Id header required: this admin key is bound to no tenant");
    } else {
      static const std::regex kTenantRe("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");
      if (!std::regex_match(tenantHeader.begin(), tenantHeader.end(), kTenantRe))
        return fail(ErrorCode::kInvalidRequest, "X-Tenant-Id is not a valid tenant name");
      p.tenant = std::string(tenantHeader);
    }
  }
  return p;
}

}  // namespace aion::auth
