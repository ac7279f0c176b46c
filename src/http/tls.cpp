#include "http/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <fstream>
#include <sstream>

namespace aion::http {
namespace ssl = boost::asio::ssl;

namespace {

// Forward-secret AEAD suites only (Mozilla "intermediate" without DHE): no CBC,
// no SHA-1 MACs, no static-RSA key exchange. gRPC's own default list is the
// same set without ChaCha20 (docs/tls.md).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kTls13Suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

Result<std::string> readPem(const char* var, const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in)
    return fail(ErrorCode::kInvalidRequest, std::string(var) + ": cannot read " + p.string());
  std::ostringstream s;
  s << in.rdbuf();
  if (s.str().find("-----BEGIN ") == std::string::npos)
    return fail(ErrorCode::kInvalidRequest,
                std::string(var) + ": " + p.string() + " is not a PEM file");
  return s.str();
}

std::string sslError(const boost::system::system_error& e) {
  std::string msg = e.code().message();
  if (unsigned long code = ERR_get_error(); code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    msg = buf;
  }
  ERR_clear_error();
  return msg;
}

}  // namespace

Result<TlsMaterial> loadServerTls(const TlsFiles& files) {
  TlsMaterial m;
  auto cert = readPem("AION_TLS_CERT", files.cert);
  if (!cert) return std::unexpected(cert.error());
  auto key = readPem("AION_TLS_KEY", files.key);
  if (!key) return std::unexpected(key.error());
  m.certPem = std::move(*cert);
  m.keyPem = std::move(*key);
  if (files.clientCa) {
    auto ca = readPem("AION_TLS_CLIENT_CA", *files.clientCa);
    if (!ca) return std::unexpected(ca.error());
    m.clientCaPem = std::move(*ca);
  }

  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use | ssl::context::no_compression);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1 ||
      SSL_CTX_set_ciphersuites(native, kTls13Suites) != 1) {
    ERR_clear_error();
    return fail(ErrorCode::kInternal, "TLS: this OpenSSL refuses the cipher configuration");
  }
  const char* step = "AION_TLS_CERT";
  try {
    ctx->use_certificate_chain(boost::asio::buffer(m.certPem));
    step = "AION_TLS_KEY";
    ctx->use_private_key(boost::asio::buffer(m.keyPem), ssl::context::pem);
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
      ERR_clear_error();
      return fail(ErrorCode::kInvalidRequest, "AION_TLS_KEY: " + files.key.string() +
                                                  " does not match the certificate in " +
                                                  files.cert.string());
    }
    if (files.clientCa) {
      step = "AION_TLS_CLIENT_CA";
      ctx->add_certificate_authority(boost::asio::buffer(m.clientCaPem));
      ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    }
  } catch (const boost::system::system_error& e) {
    std::string path = step == std::string_view("AION_TLS_CERT")  ? files.cert.string()
                       : step == std::string_view("AION_TLS_KEY") ? files.key.string()
                                                                  : files.clientCa->string();
    std::string why = sslError(e);
    if (why.find("mismatch") != std::string::npos)
      why = "does not match the certificate in " + files.cert.string() + " (" + why + ")";
    return fail(ErrorCode::kInvalidRequest, std::string(step) + ": " + path + ": " + why);
  }
  m.context = std::move(ctx);
  return m;
}

}  // namespace aion::http
