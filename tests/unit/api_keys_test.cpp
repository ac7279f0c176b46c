#include "auth/api_keys.h"

#include <gtest/gtest.h>

namespace aion::auth {
namespace {

TEST(ApiKeys, ParsesTheSeedExample) {
  auto k = parseApiKeys("demo-key:admin|manager");
  ASSERT_TRUE(k) << k.error().message;
  ASSERT_EQ(k->size(), 1u);
  EXPECT_EQ((*k)[0].roles, roleBit(Role::kAdmin) | roleBit(Role::kManager));
  EXPECT_TRUE((*k)[0].tenant.empty());
  EXPECT_EQ((*k)[0].keyId.size(), 12u);
  EXPECT_EQ((*k)[0].keyId.find("demo"), std::string::npos);
}

TEST(ApiKeys, TenantsWhitespaceAndTrailingComma) {
  auto k = parseApiKeys(" a:user:acme , b:viewer|user ,");
  ASSERT_TRUE(k) << k.error().message;
  ASSERT_EQ(k->size(), 2u);
  EXPECT_EQ((*k)[0].tenant, "acme");
  EXPECT_EQ((*k)[1].roles, roleBit(Role::kViewer) | roleBit(Role::kUser));
}

TEST(ApiKeys, ErrorsNameTheEntryButNeverTheKey) {
  const char* bad[] = {"",
                       "secret1:admin,,secret2:user",
                       "secret1",
                       "secret1:",
                       "secret1:wizard",
                       "secret1:admin:bad tenant!",
                       "secret1:admin,secret1:user",
                       "sec ret1:admin",
                       "secret1:admin|"};
  for (auto* spec : bad) {
    auto k = parseApiKeys(spec);
    ASSERT_FALSE(k) << spec;
    EXPECT_EQ(k.error().message.find("secret1"), std::string::npos) << k.error().message;
    EXPECT_EQ(k.error().message.rfind("entry ", 0), 0u) << k.error().message;
  }
  EXPECT_NE(parseApiKeys("k:wizard").error().message.find("unknown role 'wizard'"),
            std::string::npos);
}

KeyRing ring(TenancyMode m) {
  return KeyRing(*parseApiKeys("u-key:user,acme-key:user:acme,root:admin,view:viewer"), m);
}

TEST(KeyRing, SingleTenancy) {
  auto r = ring(TenancyMode::kSingle);
  auto p = r.authenticate("u-key", "");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->tenant, "default");
  EXPECT_TRUE(p->has(Role::kUser));
  EXPECT_FALSE(p->has(Role::kAdmin));
  EXPECT_EQ(r.authenticate("", "").error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(r.authenticate("u-ke", "").error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(r.authenticate("u-key2", "").error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(r.authenticate("acme-key", "").value().tenant,
            "default");  // tenants ignored in single mode
}

TEST(KeyRing, MultiTenancy) {
  auto r = ring(TenancyMode::kMulti);
  EXPECT_EQ(r.authenticate("acme-key", "").value().tenant, "acme");
  EXPECT_EQ(r.authenticate("acme-key", "acme").value().tenant, "acme");
  EXPECT_EQ(r.authenticate("acme-key", "globex").error().code, ErrorCode::kForbidden);
  EXPECT_EQ(r.authenticate("root", "globex").value().tenant, "globex");
  EXPECT_EQ(r.authenticate("root", "").error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(r.authenticate("root", "../etc").error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(r.authenticate("u-key", "acme").error().code, ErrorCode::kForbidden);
}

}  // namespace
}  // namespace aion::auth
