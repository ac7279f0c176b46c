// What the key ring keeps of AION_GATEWAY_API_KEYS: SHA-256 digests and a
// digest-prefix key id, never the key itself, and nothing it answers repeats
// a presented key (docs/configuration.md, "Security notes").
#include <gtest/gtest.h>

#include <string>

#include "auth/api_keys.h"
#include "common/digest.h"

namespace aion::auth {
namespace {

constexpr const char* kKey = "k3y-at-rest_0123456789abcdefghijklmnopqrstuv";

std::string hex(const std::array<unsigned char, 32>& d) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : d) out += {kHex[c >> 4], kHex[c & 15]};
  return out;
}

TEST(ApiKeysAtRest, OnlyTheDigestAndItsPrefixAreKept) {
  auto keys = parseApiKeys(std::string(kKey) + ":admin|user:acme");
  ASSERT_TRUE(keys) << keys.error().message;
  const ApiKey& k = keys->at(0);
  EXPECT_EQ(hex(k.digest), sha256Hex(kKey));
  EXPECT_EQ(k.keyId, sha256Hex(kKey).substr(0, 12));
  EXPECT_EQ(k.tenant, "acme");
  // Every field, as bytes: the key (or a long piece of it) is in none.
  std::string fields(reinterpret_cast<const char*>(k.digest.data()), k.digest.size());
  fields += k.keyId + k.tenant;
  std::string key(kKey);
  for (size_t at = 0; at + 8 <= key.size(); ++at)
    EXPECT_EQ(fields.find(key.substr(at, 8)), std::string::npos) << at;
}

TEST(ApiKeysAtRest, APrincipalCarriesTheKeyIdAndNoAnswerRepeatsAKey) {
  KeyRing ring(*parseApiKeys(std::string(kKey) + ":user:acme"), TenancyMode::kMulti);
  auto p = ring.authenticate(kKey, "");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->keyId, sha256Hex(kKey).substr(0, 12));
  // Refusals: a wrong key, a near miss, the right key with a foreign tenant.
  std::string wrong = std::string(kKey) + "x";
  for (auto [presented, tenant] :
       {std::pair{wrong, std::string()}, std::pair{wrong.substr(1), std::string()},
        std::pair{std::string(kKey), std::string("globex")}}) {
    auto r = ring.authenticate(presented, tenant);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message.find(presented.substr(4, 16)), std::string::npos)
        << r.error().message;
    EXPECT_TRUE(r.error().details.empty());
  }
}

}  // namespace
}  // namespace aion::auth
