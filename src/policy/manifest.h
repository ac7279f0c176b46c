#pragma once
// Module manifests (docs/modules.md#manifests) and their verification:
// digest, cosign-format signature by a trusted key, CycloneDX SBOM.
#include <filesystem>
#include <string>
#include <vector>

#include "policy/loader.h"
#include "policy/policy.h"

namespace aion::policy {

//! Where a manifest says its signature is.
struct SignatureRef {
  std::string valueB64;      // signature.value: cosign sign-blob output
  std::string publicKeyPem;  // signature.public_key (inline PEM or file contents)
  std::string bundlePath;    // signature.bundle: sigstore bundle JSON
  bool any() const { return !valueB64.empty() || !bundlePath.empty(); }
};

struct Manifest {
  Module module;  // verification not yet filled in
  SignatureRef signature;
};

//! Parses and validates a manifest file (YAML or JSON). Relative paths in it
//! resolve against the manifest's directory. Errors are "file:line: field:
//! problem".
std::expected<Manifest, LoadErrors> loadManifest(const std::filesystem::path& path,
                                                 size_t maxBytes = 1 << 20);

//! Checks the artifact against the manifest: digest, signature (by one of
//! `trust.keys`), SBOM. Never throws; a problem makes the result kRefused
//! with a reason naming what failed. Unsigned modules are kUnsigned when
//! trust.allowUnsigned, else kRefused.
Verification verifyModule(const Module& m, const SignatureRef& sig, const TrustConfig& trust);

}  // namespace aion::policy
