// ModuleRegistry: staging and verification of uploads, install/rollback, the
// disabled set, and recovery from a crash in the middle of a replacement.
#include "control/module_registry.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "common/digest.h"
#include "temp_dir.h"
#include "trust/sbom.h"
#include "trust/signing.h"

namespace aion::control {
namespace {
namespace fs = std::filesystem;
namespace json = boost::json;
using testing::TempDir;

struct RegistryTest : ::testing::Test {
  TempDir dir;
  trust::KeyPair key = trust::generateKeyPair().value();
  policy::TrustConfig trust{{trust::PublicKey::fromPem(key.publicPem).value()}, false};

  json::object upload(const std::string& name, const std::string& bytes) {
    auto digest = sha256Hex(bytes);
    json::object manifest{{"name", name},
                          {"version", "1.0.0"},
                          {"kind", "wasm"},
                          {"sha256", digest},
                          {"intents", json::array{"x"}},
                          {"signature",
                           {{"value", trust::signBlob(key.privatePem, bytes).value()},
                            {"public_key", key.publicPem}}}};
    return {{"manifest", manifest},
            {"artifact", trust::base64Encode(bytes)},
            {"sbom", trust::makeCycloneDx(name, "1.0.0", digest, {})}};
  }
  size_t entries(const fs::path& p) {
    size_t n = 0;
    for ([[maybe_unused]] auto& e : fs::directory_iterator(p)) ++n;
    return n;
  }
};

TEST_F(RegistryTest, StagesVerifiesInstallsAndRollsBack) {
  auto reg = ModuleRegistry::open(dir.path()).value();
  auto st = reg->stage(upload("demo", "v1 bytes"), trust);
  ASSERT_TRUE(st) << st.error().message;
  auto prev = reg->install(*st);
  ASSERT_TRUE(prev);
  EXPECT_TRUE(prev->empty());
  EXPECT_TRUE(fs::exists(reg->registryDir() / "demo" / "manifest.json"));
  // A replacement that the caller rolls back leaves v1 in place.
  auto st2 = reg->stage(upload("demo", "v2 bytes"), trust).value();
  auto prev2 = reg->install(st2).value();
  EXPECT_FALSE(prev2.empty());
  reg->rollback(st2, prev2);
  EXPECT_EQ(readFile(reg->registryDir() / "demo" / "artifact").value(), "v1 bytes");
  EXPECT_EQ(entries(dir.path()), 1u);  // only registry/: nothing staged or set aside
}

TEST_F(RegistryTest, RefusedAndMalformedUploadsLeaveNothing) {
  auto reg = ModuleRegistry::open(dir.path()).value();
  auto good = upload("demo", "bytes");
  auto tampered = good;
  tampered["artifact"] = trust::base64Encode("other bytes");
  auto r = reg->stage(tampered, trust);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kModuleRefused);
  EXPECT_NE(r.error().message.find("digest mismatch"), std::string::npos);
  for (auto* bad :
       {R"({"manifest": 1, "artifact": "AAAA"})", R"({"manifest": {}, "artifact": "AAAA"})",
        R"({"manifest": {"name": "../x"}, "artifact": "AAAA"})",
        R"({"manifest": {"name": "x"}, "artifact": "!!"})", R"({"bogus": 1})"}) {
    auto b = reg->stage(json::parse(bad).as_object(), trust);
    ASSERT_FALSE(b) << bad;
    EXPECT_EQ(b.error().code, ErrorCode::kInvalidRequest) << bad;
  }
  auto noSbom = good;
  noSbom.erase("sbom");
  EXPECT_EQ(reg->stage(noSbom, trust).error().code, ErrorCode::kModuleRefused);
  policy::TrustConfig stranger{
      {trust::PublicKey::fromPem(trust::generateKeyPair()->publicPem).value()}, false};
  auto untrusted = reg->stage(good, stranger);
  ASSERT_FALSE(untrusted);
  EXPECT_NE(untrusted.error().message.find("untrusted key"), std::string::npos);
  EXPECT_EQ(entries(dir.path()), 1u);
  EXPECT_EQ(entries(reg->registryDir()), 0u);
}

TEST_F(RegistryTest, DisabledSetPersists) {
  {
    auto reg = ModuleRegistry::open(dir.path()).value();
    ASSERT_TRUE(reg->setEnabled("a", false));
    ASSERT_TRUE(reg->setEnabled("b", false));
    ASSERT_TRUE(reg->setEnabled("a", true));
  }
  auto reg = ModuleRegistry::open(dir.path()).value();
  EXPECT_EQ(reg->disabled(), std::set<std::string>{"b"});
}

TEST_F(RegistryTest, RecoversFromACrashMidReplacement) {
  {
    auto reg = ModuleRegistry::open(dir.path()).value();
    auto st = reg->stage(upload("demo", "v1 bytes"), trust).value();
    ASSERT_TRUE(reg->install(st));
  }
  // The crash: v1 set aside, v2 never moved in, a staged folder left over.
  fs::rename(dir.path() / "registry" / "demo", dir.path() / ".previous-demo-req_01ABC");
  fs::create_directories(dir.path() / ".staging-req_01DEF");
  auto reg = ModuleRegistry::open(dir.path()).value();
  EXPECT_EQ(readFile(reg->registryDir() / "demo" / "artifact").value(), "v1 bytes");
  EXPECT_EQ(entries(dir.path()), 1u);
}

TEST_F(RegistryTest, DamagedDisabledListFailsClosed) {
  dir.write("disabled.json", "[\"a\", 3");
  auto r = ModuleRegistry::open(dir.path());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("disabled.json is damaged"), std::string::npos);
  dir.write("disabled.json", "{\"a\": true}");
  EXPECT_FALSE(ModuleRegistry::open(dir.path()));
}

TEST_F(RegistryTest, UploadsMayNotDeclareSecrets) {
  auto reg = ModuleRegistry::open(dir.path()).value();
  auto up = upload("demo", "bytes");
  up["manifest"].as_object()["secrets"] = json::array{"OPENAI_API_KEY"};
  auto r = reg->stage(up, trust);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);
  EXPECT_NE(r.error().message.find("may not declare secrets"), std::string::npos);
  EXPECT_EQ(entries(dir.path()), 1u);
}

}  // namespace
}  // namespace aion::control
