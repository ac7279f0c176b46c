// The JSON documents that come with a module: its CycloneDX SBOM (checkSbom,
// as verifyModule checks it), `cargo metadata` output (the components of the
// SBOM `aiond module sign` writes) and a sigstore bundle holding the
// signature (parseSigstoreBundle), with the strict base64 they carry. The
// whole input goes to each parser.
#include "trust/sbom.h"

#include <cstdint>

#include "common/json_text.h"
#include "fuzz_util.h"
#include "module_fixture.h"
#include "trust/signing.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aion;
  std::string_view text(reinterpret_cast<const char*>(data), size);

  (void)trust::checkSbom(text, "echo", fuzz::kArtifactSha256);

  if (auto comps = trust::componentsFromCargoMetadata(text)) {
    // What `aiond module sign` writes must itself pass the check.
    auto doc = trust::makeCycloneDx("echo", "0.1.0", fuzz::kArtifactSha256, *comps);
    if (!trust::checkSbom(jsonText(doc), "echo", fuzz::kArtifactSha256))
      fuzz::violated("a generated SBOM fails checkSbom");
  }

  if (auto b = trust::parseSigstoreBundle(text)) {
    if (b->signatureDer.empty()) fuzz::violated("a bundle accepted without a signature");
    if (!b->digestSha256Hex.empty() && b->digestSha256Hex.size() != 64)
      fuzz::violated("a bundle digest that is not SHA-256");
  }

  // base64: what decodes re-encodes to text that decodes to the same bytes,
  // and any bytes survive encode then decode.
  if (auto d = trust::base64Decode(text)) {
    auto again = trust::base64Decode(trust::base64Encode(*d));
    if (!again || *again != *d) fuzz::violated("base64 decode/encode round trip");
  }
  auto back = trust::base64Decode(trust::base64Encode(text));
  if (!back || *back != text) fuzz::violated("base64 encode/decode round trip");
  return 0;
}
