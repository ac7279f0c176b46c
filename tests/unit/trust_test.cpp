// Module trust: cosign-format signatures, sigstore bundles, CycloneDX SBOMs
// and manifest verification (policy/manifest.h).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "common/digest.h"
#include "policy/manifest.h"
#include "temp_dir.h"
#include "trust/sbom.h"
#include "trust/signing.h"

namespace aion {
namespace {
namespace json = boost::json;
using policy::Verification;
using testing::TempDir;

TEST(Signing, SignVerifyRoundTripAndTamper) {
  auto kp = trust::generateKeyPair();
  ASSERT_TRUE(kp) << kp.error();
  auto sig = trust::signBlob(kp->privatePem, "artifact bytes");
  ASSERT_TRUE(sig) << sig.error();
  auto der = trust::base64Decode(*sig);
  ASSERT_TRUE(der);
  auto pub = trust::PublicKey::fromPem(kp->publicPem);
  ASSERT_TRUE(pub) << pub.error();
  EXPECT_EQ(pub->fingerprint().rfind("sha256:", 0), 0u);
  EXPECT_TRUE(pub->verify("artifact bytes", *der));
  auto tampered = pub->verify("artifact bytez", *der);
  ASSERT_FALSE(tampered);
  EXPECT_NE(tampered.error().find("does not match"), std::string::npos);
  auto garbage = pub->verify("artifact bytes", "not der at all");
  ASSERT_FALSE(garbage);
  EXPECT_NE(garbage.error().find("not a DER"), std::string::npos);
  auto other = trust::generateKeyPair();
  auto otherPub = trust::PublicKey::fromPem(other->publicPem);
  EXPECT_FALSE(otherPub->verify("artifact bytes", *der));
  EXPECT_NE(otherPub->fingerprint(), pub->fingerprint());
  auto derived = trust::publicPemOf(kp->privatePem);
  ASSERT_TRUE(derived);
  EXPECT_EQ(trust::PublicKey::fromPem(*derived)->fingerprint(), pub->fingerprint());
}

TEST(Signing, RejectsNonKeysAndOtherCurves) {
  EXPECT_FALSE(trust::PublicKey::fromPem("garbage"));
  EXPECT_FALSE(trust::PublicKey::fromPem(""));
  // An Ed25519 key is a valid PEM public key, but not what cosign key pairs use.
  auto ed = trust::PublicKey::fromPem(
      "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n"
      "-----END PUBLIC KEY-----\n");
  ASSERT_FALSE(ed);
  EXPECT_NE(ed.error().find("ECDSA"), std::string::npos) << ed.error();
  EXPECT_FALSE(trust::signBlob("not a key", "x"));
}

TEST(Signing, Base64IsStrict) {
  for (const std::string& s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba",
                                                       "foobar", std::string("\0\xff\x10", 3)})
    EXPECT_EQ(trust::base64Decode(trust::base64Encode(s)).value(), s);
  EXPECT_EQ(trust::base64Decode("Zm9v\nYmFy").value(), "foobar");
  EXPECT_EQ(trust::base64Decode("Zm8").value(), "fo");  // padding optional
  EXPECT_FALSE(trust::base64Decode("Zm9v!"));
  EXPECT_FALSE(trust::base64Decode("Z==="));
  EXPECT_FALSE(trust::base64Decode("Zm=9v"));
}

TEST(Signing, SigstoreBundles) {
  auto kp = trust::generateKeyPair();
  auto sig = trust::signBlob(kp->privatePem, "blob").value();
  std::string digestB64 = trust::base64Encode(std::string(32, '\x01'));
  auto b = trust::parseSigstoreBundle(json::serialize(
      json::object{{"mediaType", "application/vnd.dev.sigstore.bundle.v0.3+json"},
                   {"messageSignature",
                    {{"messageDigest", {{"algorithm", "SHA2_256"}, {"digest", digestB64}}},
                     {"signature", sig}}}}));
  ASSERT_TRUE(b) << b.error();
  std::string want;
  for (int i = 0; i < 32; ++i) want += "01";
  EXPECT_EQ(b->digestSha256Hex, want);
  EXPECT_EQ(trust::base64Encode(b->signatureDer), sig);
  auto old = trust::parseSigstoreBundle(json::serialize(
      json::object{{"base64Signature", sig}, {"cert", trust::base64Encode(kp->publicPem)}}));
  ASSERT_TRUE(old) << old.error();
  EXPECT_EQ(old->publicKeyPem, kp->publicPem);
  EXPECT_FALSE(trust::parseSigstoreBundle("[]"));
  EXPECT_FALSE(trust::parseSigstoreBundle("{\"messageSignature\": {}}"));
  EXPECT_FALSE(trust::parseSigstoreBundle("{\"base64Signature\": \"%%%\"}"));
  EXPECT_FALSE(trust::parseSigstoreBundle(
      R"({"messageSignature": {"signature": "AAAA", "messageDigest": {"algorithm": "MD5", "digest": "AAAA"}}})"));
}

TEST(Sbom, MadeAndChecked) {
  auto doc = trust::makeCycloneDx("summarize", "1.0.0", std::string(64, 'a'),
                                  {{"serde", "1.0.152", "pkg:cargo/serde@1.0.152", "MIT"}});
  auto text = json::serialize(doc);
  EXPECT_TRUE(trust::checkSbom(text, "summarize", std::string(64, 'a')));
  auto wrongName = trust::checkSbom(text, "classify", std::string(64, 'a'));
  ASSERT_FALSE(wrongName);
  EXPECT_NE(wrongName.error().find("describes 'summarize'"), std::string::npos);
  auto wrongHash = trust::checkSbom(text, "summarize", std::string(64, 'b'));
  ASSERT_FALSE(wrongHash);
  EXPECT_NE(wrongHash.error().find("artifact is sha256:" + std::string(64, 'b')), std::string::npos)
      << wrongHash.error();
  EXPECT_FALSE(trust::checkSbom("{", "summarize", ""));
  EXPECT_FALSE(trust::checkSbom(R"({"bomFormat": "SPDX"})", "summarize", ""));
  EXPECT_FALSE(trust::checkSbom(R"({"bomFormat": "CycloneDX", "metadata": {}})", "summarize", ""));
  auto comps = trust::componentsFromCargoMetadata(
      R"J({"workspace_members": ["me 0.1.0 (path+file:///x)"],
          "packages": [{"id": "me 0.1.0 (path+file:///x)", "name": "me", "version": "0.1.0"},
                       {"id": "serde 1.0.152", "name": "serde", "version": "1.0.152", "license": "MIT OR Apache-2.0"}]
})J");
  ASSERT_TRUE(comps);
  ASSERT_EQ(comps->size(), 1u);
  EXPECT_EQ((*comps)[0].purl, "pkg:cargo/serde@1.0.152");
  EXPECT_FALSE(trust::componentsFromCargoMetadata("nope"));
}

// A signed module in a temp dir, built the way `aiond module sign` does.
struct SignedModule : ::testing::Test {
  TempDir dir;
  trust::KeyPair key = trust::generateKeyPair().value();
  std::string artifact = "\0asm fake module bytes";
  policy::TrustConfig trust;

  void SetUp() override { trust.keys.push_back(trust::PublicKey::fromPem(key.publicPem).value()); }

  std::filesystem::path write(const std::string& extra = "", bool withSig = true,
                              bool withSbom = true, const std::string& sbomName = "demo") {
    dir.write("demo.wasm", artifact);
    auto digest = sha256Hex(artifact);
    dir.write("demo.cdx.json",
              json::serialize(trust::makeCycloneDx(sbomName, "1.0.0", digest, {})));
    std::string m =
        "name: demo\nversion: 1.0.0\nkind: wasm\nartifact: demo.wasm\nsha256: " + digest +
        "\nintents: [x]\n";
    if (withSbom) m += "sbom: demo.cdx.json\n";
    if (withSig) {
      auto sig = trust::signBlob(key.privatePem, artifact).value();
      dir.write("demo.pub", key.publicPem);
      m += "signature: {value: " + sig + ", public_key: demo.pub}\n";
    }
    return dir.write("demo.module.yml", m + extra);
  }

  Verification verify(const std::filesystem::path& p) {
    auto man = policy::loadManifest(p);
    EXPECT_TRUE(man) << (man ? "" : man.error().front());
    if (!man) return {};
    return policy::verifyModule(man->module, man->signature, trust);
  }
};

TEST_F(SignedModule, Verified) {
  auto v = verify(write());
  EXPECT_EQ(v.state, Verification::State::kVerified) << v.reason;
  EXPECT_EQ(v.signer, trust.keys[0].fingerprint());
}

TEST_F(SignedModule, TamperedArtifactRefused) {
  auto p = write();
  dir.write("demo.wasm", artifact + "x");
  auto v = verify(p);
  EXPECT_EQ(v.state, Verification::State::kRefused);
  EXPECT_NE(v.reason.find("digest mismatch"), std::string::npos) << v.reason;
}

TEST_F(SignedModule, TamperedArtifactWithUpdatedDigestFailsSignature) {
  auto p = write();
  std::string evil = artifact + "x";
  dir.write("demo.wasm", evil);
  auto text = readFile(p).value();
  text.replace(text.find(sha256Hex(artifact)), 64, sha256Hex(evil));
  dir.write("demo.module.yml", text);
  auto v = verify(p);
  EXPECT_EQ(v.state, Verification::State::kRefused);
  EXPECT_NE(v.reason.find("signature does not match"), std::string::npos) << v.reason;
}

TEST_F(SignedModule, UntrustedKeyRefused) {
  trust.keys = {trust::PublicKey::fromPem(trust::generateKeyPair()->publicPem).value()};
  auto v = verify(write());
  EXPECT_EQ(v.state, Verification::State::kRefused);
  EXPECT_NE(v.reason.find("untrusted key"), std::string::npos) << v.reason;
}

TEST_F(SignedModule, GarbageSignatureRefused) {
  auto v = verify(write("", false));
  EXPECT_EQ(v.state, Verification::State::kRefused);  // unsigned, not allowed
  auto p = dir.write("g.module.yml",
                     "name: demo\nversion: 1.0.0\nkind: wasm\nartifact: demo.wasm\nsha256: " +
                         sha256Hex(artifact) +
                         "\nsbom: demo.cdx.json\nsignature: {value: TUVVQ0lRQ2dhcmJhZ2U=}\n");
  auto g = verify(p);
  EXPECT_EQ(g.state, Verification::State::kRefused);
  EXPECT_NE(g.reason.find("not a DER"), std::string::npos) << g.reason;
  auto q = dir.write("h.module.yml",
                     "name: demo\nversion: 1.0.0\nkind: wasm\nartifact: demo.wasm\nsha256: " +
                         sha256Hex(artifact) + "\nsignature: {value: '***'}\n");
  EXPECT_NE(verify(q).reason.find("not base64"), std::string::npos);
}

TEST_F(SignedModule, SbomRequiredAndMustNameTheModule) {
  auto none = verify(write("", true, false));
  EXPECT_EQ(none.state, Verification::State::kRefused);
  EXPECT_NE(none.reason.find("no SBOM"), std::string::npos) << none.reason;
  auto other = verify(write("", true, true, "somethingelse"));
  EXPECT_EQ(other.state, Verification::State::kRefused);
  EXPECT_NE(other.reason.find("describes 'somethingelse'"), std::string::npos) << other.reason;
  auto p = write();
  dir.write("demo.cdx.json", "{not json");
  EXPECT_NE(verify(p).reason.find("not valid JSON"), std::string::npos);
  std::filesystem::remove(dir.path() / "demo.cdx.json");
  EXPECT_NE(verify(p).reason.find("SBOM not found"), std::string::npos);
}

TEST_F(SignedModule, UnsignedOnlyWhenAllowed) {
  auto p = write("", false);
  auto v = verify(p);
  EXPECT_EQ(v.state, Verification::State::kRefused);
  EXPECT_NE(v.reason.find("AION_MODULES_ALLOW_UNSIGNED"), std::string::npos);
  trust.allowUnsigned = true;
  EXPECT_EQ(verify(p).state, Verification::State::kUnsigned);
}

TEST_F(SignedModule, BundleSignature) {
  write();
  auto digest = sha256Hex(artifact);
  std::string raw;
  for (size_t i = 0; i < 64; i += 2)
    raw.push_back(static_cast<char>(std::stoi(digest.substr(i, 2), nullptr, 16)));
  auto sig = trust::signBlob(key.privatePem, artifact).value();
  dir.write(
      "demo.sigstore.json",
      json::serialize(json::object{
          {"messageSignature",
           {{"messageDigest", {{"algorithm", "SHA2_256"}, {"digest", trust::base64Encode(raw)}}},
            {"signature", sig}}}}));
  auto p =
      dir.write("b.module.yml",
                "name: demo\nversion: 1.0.0\nkind: wasm\nartifact: demo.wasm\nsha256: " + digest +
                    "\nsbom: demo.cdx.json\nsignature: {bundle: demo.sigstore.json}\n");
  auto v = verify(p);
  EXPECT_EQ(v.state, Verification::State::kVerified) << v.reason;
  // A bundle for other bytes is refused before any signature check.
  dir.write(
      "demo.sigstore.json",
      json::serialize(json::object{
          {"messageSignature",
           {{"messageDigest",
             {{"algorithm", "SHA2_256"}, {"digest", trust::base64Encode(std::string(32, 'z'))}}},
            {"signature", sig}}}}));
  auto w = verify(p);
  EXPECT_EQ(w.state, Verification::State::kRefused);
  EXPECT_NE(w.reason.find("bundle is for"), std::string::npos) << w.reason;
}

TEST_F(SignedModule, ManifestErrorsNameTheField) {
  auto p =
      dir.write("bad.module.yml",
                "name: Demo!\nversion: one\nkind: docker\nartifact: x\nlimits: {memory_mb: -1}\n"
                "resources: {gpu: maybe}\nsignature: {}\nbogus: 1\n");
  auto r = policy::loadManifest(p);
  ASSERT_FALSE(r);
  std::string all;
  for (auto& e : r.error()) all += e + "\n";
  for (auto want :
       {"name: invalid", "version: must be a semantic version", "kind: must be wasm or subprocess",
        "limits.memory_mb: must be between", "resources.gpu: must be none, optional or required",
        "signature: needs value", "bogus: unknown field", "sha256: is required"})
    EXPECT_NE(all.find(want), std::string::npos) << want << "\n" << all;
  EXPECT_FALSE(policy::loadManifest(dir.path() / "missing.yml"));
  dir.write("huge.yml", std::string(2 << 20, '#'));
  EXPECT_FALSE(policy::loadManifest(dir.path() / "huge.yml"));
}

// Found by the module_manifest fuzz target: a schema that contains itself
// through an alias recursed until the stack overflowed.
TEST_F(SignedModule, SelfReferentialSchemaIsRefused) {
  auto p = dir.write("cycle.module.yml",
                     "name: demo\nversion: 1.0.0\nkind: wasm\nartifact: demo.wasm\n"
                     "sha256: " +
                         sha256Hex(artifact) +
                         "\ninput_schema: &s {type: object, properties: {a: *s}}\n");
  auto r = policy::loadManifest(p);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().front().find("yaml: an alias refers to a node that contains it"),
            std::string::npos)
      << r.error().front();
}

TEST_F(SignedModule, DigestCannotBeSwitchedOffAndHugeVersionsAreRejected) {
  auto sig = trust::signBlob(key.privatePem, artifact).value();
  dir.write("demo.wasm", artifact);
  for (std::string digest : {"null", "''", "~"}) {
    auto p = dir.write("n.module.yml",
                       "name: demo\nversion: 1.0.0\nkind: wasm\nartifact: demo.wasm\n"
                       "sha256: " +
                           digest + "\nsignature: {value: " + sig + "}\n");
    auto r = policy::loadManifest(p);
    ASSERT_FALSE(r) << digest;
    EXPECT_NE(r.error().front().find("sha256: is required"), std::string::npos)
        << r.error().front();
  }
  // libstdc++'s regex recurses per character: a long version must be refused, not crash.
  auto p = dir.write("v.module.yml", "name: demo\nversion: 1.2.3-" + std::string(200000, 'a') +
                                         "\nkind: wasm\nartifact: demo.wasm\nsha256: " +
                                         sha256Hex(artifact) + "\n");
  auto r = policy::loadManifest(p);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().front().find("version: must be a semantic version"), std::string::npos);
}

TEST_F(SignedModule, VerificationReportsTheDigestItChecked) {
  auto v = verify(write("limits: {fuel: 0, concurrency: 0}\n"));
  EXPECT_EQ(v.state, Verification::State::kVerified) << v.reason;
  EXPECT_EQ(v.sha256, sha256Hex(artifact));
}

}  // namespace
}  // namespace aion
