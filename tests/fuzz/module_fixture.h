#pragma once
// A signed module on disk for the manifest and policy targets: a tiny
// artifact, its SBOM, the signer's public key and a sigstore bundle, so that
// fuzzed manifests which name them get through digest and signature checks to
// the SBOM check. The signature was made once with a throwaway key (only the
// public half is kept) over the 8 artifact bytes below.
#include <filesystem>
#include <string>

#include "fuzz_util.h"
#include "policy/loader.h"
#include "trust/signing.h"

namespace aion::fuzz {

inline constexpr std::string_view kArtifact{"\0asm\1\0\0\0", 8};
inline constexpr const char* kArtifactSha256 =
    "93a44bbb96c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f9476";
inline constexpr const char* kArtifactSha256B64 = "k6RLu5bHUSGOTADUeeTBQ1gSKjiazKFiBbHk0NxflHY=";
inline constexpr const char* kSignatureB64 =
    "MEQCIGKrct844MLba+R/"
    "gzCvIolXzhWpf5YGtdpWGWUDQixbAiB02K6qAC3oMn6K8g1iFm2wNL3RZr6455E3oZHifpKHpg==";
inline constexpr const char* kPublicKeyPem =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqGGp0DdJCUf/IRPDuRezd1NbNmcY\n"
    "4n+Q68J83b6HN/Zkc51TpkR8N5aXr++F/peOlm8o9+4SIyhpZtXaTPFwLA==\n"
    "-----END PUBLIC KEY-----\n";

inline std::string sbomFor(const std::string& name) {
  return R"({"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"metadata":{"component":)"
         R"({"type":"application","name":")" +
         name + R"(","version":"0.1.0","hashes":[{"alg":"SHA-256","content":")" + kArtifactSha256 +
         R"("}]}},"components":[]})";
}

inline std::string manifestFor(const std::string& name, const std::string& artifact) {
  return R"({"manifest_version":1,"name":")" + name +
         R"(","version":"0.1.0","kind":"wasm","intents":["summarize"],"artifact":")" + artifact +
         R"(","sha256":")" + kArtifactSha256 + R"(","sbom":")" + name +
         R"(.cdx.json","signature":{"value":")" + kSignatureB64 +
         R"(","public_key":"cosign.pub"}})";
}

//! Writes the fixture into `dir`: module.wasm, echo.cdx.json, cosign.pub,
//! bundle.json, echo.module.json (a valid signed manifest) and a module
//! registry folder registry/echo-reg/ (manifest.json and its SBOM).
inline void writeModuleFixture(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  writeText(dir / "module.wasm", kArtifact);
  writeText(dir / "cosign.pub", kPublicKeyPem);
  writeText(dir / "echo.cdx.json", sbomFor("echo"));
  writeText(dir / "echo.module.json", manifestFor("echo", "module.wasm"));
  writeText(dir / "bundle.json", std::string(R"({"messageSignature":{"messageDigest":)") +
                                     R"({"algorithm":"SHA2_256","digest":")" + kArtifactSha256B64 +
                                     R"("},"signature":")" + kSignatureB64 + R"("}})");
  auto reg = dir / "registry" / "echo-reg";
  fs::create_directories(reg);
  writeText(reg / "module.wasm", kArtifact);
  writeText(reg / "cosign.pub", kPublicKeyPem);
  writeText(reg / "echo-reg.cdx.json", sbomFor("echo-reg"));
  writeText(reg / "manifest.json", manifestFor("echo-reg", "module.wasm"));
}

//! Trust in the fixture's signer.
inline policy::TrustConfig fixtureTrust(bool allowUnsigned) {
  policy::TrustConfig t;
  auto k = trust::PublicKey::fromPem(kPublicKeyPem);
  if (!k) violated("the fixture's public key does not load");
  t.keys.push_back(*k);
  t.allowUnsigned = allowUnsigned;
  return t;
}

}  // namespace aion::fuzz
