#pragma once
// API keys from AION_GATEWAY_API_KEYS: "key:role1|role2[:tenant]" entries,
// comma-separated. Keys are held only as SHA-256 digests and compared in
// constant time; they are never logged (the key id is a digest prefix).
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/principal.h"

namespace aion::auth {

enum class TenancyMode { kSingle, kMulti };

struct ApiKey {
  std::array<unsigned char, 32> digest{};
  std::string keyId;
  RoleSet roles = 0;
  std::string tenant;  // empty: none bound
};

//! Parses the variable's value. Errors name the entry (by position, never
//! by key) and the problem.
Result<std::vector<ApiKey>> parseApiKeys(std::string_view spec);

class KeyRing {
 public:
  KeyRing(std::vector<ApiKey> keys, TenancyMode mode) : keys_(std::move(keys)), mode_(mode) {}

  //! Resolves a presented key and the tenant header into a principal:
  //! kUnauthenticated for a missing or unknown key; in multi mode the tenant
  //! comes from the key, or from `tenantHeader` for admin keys bound to
  //! none (kInvalidRequest if absent; kForbidden for non-admin unbound keys),
  //! and a header naming another tenant than the key's is kForbidden. Takes the same time whichever
  //! key matches.
  Result<Principal> authenticate(std::string_view presented, std::string_view tenantHeader) const;
  TenancyMode mode() const { return mode_; }
  size_t size() const { return keys_.size(); }

 private:
  std::vector<ApiKey> keys_;
  TenancyMode mode_;
};

}  // namespace aion::auth
