#pragma once
// Artifact signatures in cosign `sign-blob` format: ECDSA P-256 over the
// SHA-256 of the artifact bytes, DER-encoded, base64 on the wire; public keys
// as PEM SubjectPublicKeyInfo (what `cosign generate-key-pair` writes to
// cosign.pub). Uses OpenSSL's EVP API only.
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace aion::trust {

//! A loaded public key. Copyable; shares the OpenSSL object.
class PublicKey {
 public:
  //! Parses a PEM "PUBLIC KEY"; only ECDSA P-256 keys are accepted.
  static std::expected<PublicKey, std::string> fromPem(std::string_view pem);

  //! "sha256:<hex>" of the DER SubjectPublicKeyInfo: stable across PEM formatting.
  const std::string& fingerprint() const { return fingerprint_; }
  std::string pem() const;

  //! Ok when `sigDer` is a valid signature of `data` by this key; otherwise
  //! why not ("signature does not match", "signature is not DER ECDSA").
  std::expected<void, std::string> verify(std::string_view data, std::string_view sigDer) const;

 private:
  std::shared_ptr<void> key_;  // EVP_PKEY
  std::string fingerprint_;
};

struct KeyPair {
  std::string privatePem;  // PKCS#8, unencrypted: protect the file (0600)
  std::string publicPem;
};

//! A fresh ECDSA P-256 key pair.
std::expected<KeyPair, std::string> generateKeyPair();

//! The public half of a PEM private key, as PEM.
std::expected<std::string, std::string> publicPemOf(std::string_view privatePem);

//! Signs `data` (SHA-256, ECDSA) with a PEM private key; returns the DER
//! signature base64-encoded, exactly what `cosign sign-blob` prints.
std::expected<std::string, std::string> signBlob(std::string_view privatePem,
                                                 std::string_view data);

std::string base64Encode(std::string_view bytes);
//! Strict standard base64 (whitespace ignored, padding optional);
//! nullopt-like error on any other character.
std::expected<std::string, std::string> base64Decode(std::string_view text);

//! The signature (and digest, when present) held by a sigstore bundle JSON:
//! the protobuf-specs bundle (`messageSignature.signature`,
//! `messageSignature.messageDigest`) or cosign's older `--bundle` output
//! (`base64Signature`).
struct BundleSignature {
  std::string signatureDer;
  std::string digestSha256Hex;  // empty when the bundle carries none
  std::string publicKeyPem;     // when the bundle embeds one (older cosign format)
};
std::expected<BundleSignature, std::string> parseSigstoreBundle(std::string_view jsonText);

}  // namespace aion::trust
