#pragma once
// Server TLS settings shared by the HTTP listeners and gRPC: one certificate
// chain and key (AION_TLS_CERT / AION_TLS_KEY), optionally a CA whose client
// certificates are required (AION_TLS_CLIENT_CA, mutual TLS).
#include <boost/asio/ssl/context.hpp>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "common/error.h"

namespace aion::http {

struct TlsFiles {
  std::filesystem::path cert;
  std::filesystem::path key;
  std::optional<std::filesystem::path> clientCa;
};

struct TlsMaterial {
  std::shared_ptr<boost::asio::ssl::context> context;  // for Beast listeners
  std::string certPem, keyPem, clientCaPem;            // for gRPC credentials
};

//! Reads and checks the files: unreadable paths, PEM that does not parse and
//! a key that does not match the certificate all fail with a message naming
//! the variable. TLS 1.2 is the minimum version, with forward-secret AEAD
//! suites only (TLS 1.3: its standard suites); docs/tls.md lists them.
Result<TlsMaterial> loadServerTls(const TlsFiles& files);

}  // namespace aion::http
