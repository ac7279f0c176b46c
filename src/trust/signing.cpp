#include "trust/signing.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <boost/json.hpp>

#include "common/digest.h"

namespace aion::trust {
namespace json = boost::json;
namespace {

std::string sslError(std::string_view what) {
  std::string s(what);
  if (auto e = ERR_get_error(); e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    s += ": ";
    s += buf;
  }
  ERR_clear_error();
  return s;
}

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;
using Pkey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

Bio memBio(std::string_view s) {
  return Bio(BIO_new_mem_buf(s.data(), static_cast<int>(s.size())), BIO_free);
}

std::string bioString(BIO* b) {
  char* p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  return std::string(p, static_cast<size_t>(n));
}

std::expected<void, std::string> requireP256(EVP_PKEY* k) {
  if (!EVP_PKEY_is_a(k, "EC")) return std::unexpected("key is not an ECDSA key");
  char group[64] = {};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) !=
          1 ||
      std::string_view(group, len) != "prime256v1")
    return std::unexpected("key is not on curve P-256");
  return {};
}

}  // namespace

std::expected<PublicKey, std::string> PublicKey::fromPem(std::string_view pem) {
  auto bio = memBio(pem);
  Pkey k(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!k) return std::unexpected(sslError("not a PEM public key"));
  if (auto ok = requireP256(k.get()); !ok) return std::unexpected(ok.error());
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(k.get(), &der);
  if (n <= 0) return std::unexpected(sslError("cannot encode public key"));
  PublicKey out;
  out.fingerprint_ = "sha256:" + sha256Hex({reinterpret_cast<char*>(der), size_t(n)});
  OPENSSL_free(der);
  out.key_ =
      std::shared_ptr<void>(k.release(), [](void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); });
  return out;
}

std::string PublicKey::pem() const {
  Bio b(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_PUBKEY(b.get(), static_cast<EVP_PKEY*>(key_.get()));
  return bioString(b.get());
}

std::expected<void, std::string> PublicKey::verify(std::string_view data,
                                                   std::string_view sigDer) const {
  MdCtx ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr,
                           static_cast<EVP_PKEY*>(key_.get())) != 1)
    return std::unexpected(sslError("verify init failed"));
  int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sigDer.data()),
                            sigDer.size(), reinterpret_cast<const unsigned char*>(data.data()),
                            data.size());
  ERR_clear_error();
  if (rc == 1) return {};
  // 0: well-formed but wrong; <0: not a DER ECDSA signature at all.
  return std::unexpected(rc == 0 ? "signature does not match the artifact"
                                 : "signature is not a DER-encoded ECDSA signature");
}

std::expected<KeyPair, std::string> generateKeyPair() {
  Pkey k(EVP_EC_gen("P-256"), EVP_PKEY_free);
  if (!k) return std::unexpected(sslError("key generation failed"));
  Bio priv(BIO_new(BIO_s_mem()), BIO_free), pub(BIO_new(BIO_s_mem()), BIO_free);
  if (PEM_write_bio_PrivateKey(priv.get(), k.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      PEM_write_bio_PUBKEY(pub.get(), k.get()) != 1)
    return std::unexpected(sslError("cannot encode key pair"));
  return KeyPair{bioString(priv.get()), bioString(pub.get())};
}

std::expected<std::string, std::string> publicPemOf(std::string_view privatePem) {
  auto bio = memBio(privatePem);
  Pkey k(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!k) return std::unexpected(sslError("not an unencrypted PEM private key"));
  Bio pub(BIO_new(BIO_s_mem()), BIO_free);
  if (PEM_write_bio_PUBKEY(pub.get(), k.get()) != 1)
    return std::unexpected(sslError("cannot encode public key"));
  return bioString(pub.get());
}

std::expected<std::string, std::string> signBlob(std::string_view privatePem,
                                                 std::string_view data) {
  auto bio = memBio(privatePem);
  Pkey k(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!k) return std::unexpected(sslError("not an unencrypted PEM private key"));
  if (auto ok = requireP256(k.get()); !ok) return std::unexpected(ok.error());
  MdCtx ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  size_t len = 0;
  auto* in = reinterpret_cast<const unsigned char*>(data.data());
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, k.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, in, data.size()) != 1)
    return std::unexpected(sslError("sign failed"));
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in,
                     data.size()) != 1)
    return std::unexpected(sslError("sign failed"));
  sig.resize(len);
  return base64Encode(sig);
}

std::string base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::expected<std::string, std::string> base64Decode(std::string_view text) {
  std::string clean;
  clean.reserve(text.size());
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '=';
    if (!ok) return std::unexpected("not base64");
    clean.push_back(c);
  }
  size_t pad = 0;
  while (!clean.empty() && clean.back() == '=') {
    clean.pop_back();
    ++pad;
  }
  if (pad > 2 || clean.find('=') != std::string::npos || clean.size() % 4 == 1)
    return std::unexpected("not base64");
  size_t tail = clean.size() % 4;
  clean.append(tail ? 4 - tail : 0, '=');
  std::string out(clean.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(clean.data()),
                          static_cast<int>(clean.size()));
  if (n < 0) return std::unexpected("not base64");
  // EVP_DecodeBlock counts padding as zero bytes.
  out.resize(static_cast<size_t>(n) - (tail ? 4 - tail : 0));
  return out;
}

std::expected<BundleSignature, std::string> parseSigstoreBundle(std::string_view jsonText) {
  boost::system::error_code ec;
  auto v = json::parse(jsonText, ec);
  if (ec || !v.is_object()) return std::unexpected("bundle is not a JSON object");
  auto& o = v.as_object();
  BundleSignature out;
  const json::value* sig = nullptr;
  if (auto* ms = o.if_contains("messageSignature"); ms && ms->is_object()) {
    sig = ms->as_object().if_contains("signature");
    if (auto* md = ms->as_object().if_contains("messageDigest"); md && md->is_object()) {
      auto* alg = md->as_object().if_contains("algorithm");
      auto* dg = md->as_object().if_contains("digest");
      if (!alg || !alg->is_string() || alg->as_string() != "SHA2_256" || !dg || !dg->is_string())
        return std::unexpected("bundle messageDigest must be SHA2_256 with a digest");
      auto raw = base64Decode(dg->as_string());
      if (!raw || raw->size() != 32)
        return std::unexpected("bundle messageDigest is not base64 SHA-256");
      static const char* kHex = "0123456789abcdef";
      for (unsigned char c : *raw) {
        out.digestSha256Hex.push_back(kHex[c >> 4]);
        out.digestSha256Hex.push_back(kHex[c & 15]);
      }
    }
  } else if (auto* b = o.if_contains("base64Signature")) {
    sig = b;
    if (auto* cert = o.if_contains("cert"); cert && cert->is_string()) {
      // cosign's older format base64-encodes the PEM of the key or certificate.
      if (auto pem = base64Decode(cert->as_string());
          pem && pem->find("BEGIN PUBLIC KEY") != std::string::npos)
        out.publicKeyPem = *pem;
    }
  }
  if (!sig || !sig->is_string())
    return std::unexpected(
        "bundle holds no message signature (messageSignature.signature or "
        "base64Signature)");
  auto der = base64Decode(sig->as_string());
  if (!der || der->empty()) return std::unexpected("bundle signature is not base64");
  out.signatureDer = std::move(*der);
  return out;
}

}  // namespace aion::trust
