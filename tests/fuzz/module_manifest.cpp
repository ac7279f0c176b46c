// Module manifests (docs/modules.md#manifests), YAML or JSON, as aiond reads
// them from modules.yml, the registry and `aiond module verify`: parsed and
// validated (loadManifest), then verified against a signed artifact on disk
// (verifyModule: digest, signature by a trusted key or in a sigstore bundle,
// SBOM), both with and without AION_MODULES_ALLOW_UNSIGNED.
//
// The input is the manifest file; beside it are module.wasm, echo.cdx.json,
// cosign.pub and bundle.json (module_fixture.h), which a manifest may name.
#include <spdlog/spdlog.h>

#include <cstdint>

#include "fuzz_util.h"
#include "module_fixture.h"
#include "policy/manifest.h"

namespace {
using namespace aion;
std::filesystem::path dir;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  dir = fuzz::scratchDir();
  fuzz::writeModuleFixture(dir);
  // The fixture verifies, or the target would fuzz nothing past the signature.
  auto m = policy::loadManifest(dir / "echo.module.json");
  if (!m || policy::verifyModule(m->module, m->signature, fuzz::fixtureTrust(false)).state !=
                policy::Verification::State::kVerified)
    fuzz::violated("the module fixture does not verify");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (fuzz::namesSpecialFile(text)) return 0;
  fuzz::writeText(dir / "manifest.yml", text);
  auto m = policy::loadManifest(dir / "manifest.yml", 64 << 10);
  if (!m) {
    if (m.error().empty()) fuzz::violated("a refused manifest without a reason");
    return 0;
  }
  for (bool allowUnsigned : {false, true}) {
    auto v = policy::verifyModule(m->module, m->signature, fuzz::fixtureTrust(allowUnsigned));
    if (v.state == policy::Verification::State::kRefused && v.reason.empty())
      fuzz::violated("a refused module without a reason");
    if (v.state == policy::Verification::State::kVerified && v.sha256 != fuzz::kArtifactSha256)
      fuzz::violated("verified bytes other than the signed artifact");
  }
  return 0;
}
