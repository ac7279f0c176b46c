#pragma once
// HTTP/1.1 client for model providers: Boost.Beast over TCP or TLS (OpenSSL,
// peer and host name verified), keep-alive connections pooled per origin,
// connect and read-idle timeouts. I/O runs on the client's own thread; the
// caller's thread blocks in send() and receives streamed body bytes there, so
// slow consumers (a store write per delta) never stall other requests. The
// caller also enforces the total deadline and cancellation, by aborting the
// connection.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "providers/url.h"

namespace aion::providers {

struct HttpRequest {
  std::string method = "POST";
  Url url;             // origin (path ignored)
  std::string target;  // path and query
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct Timeouts {
  std::chrono::milliseconds connect{5000};  // TCP connect + TLS handshake
  std::chrono::milliseconds read{30000};    // longest silence while waiting for bytes
  std::chrono::milliseconds total{120000};  // the whole exchange
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;                            // unless streamed to the sink
};

//! Receives body bytes of a 2xx response as they arrive; return false to stop
//! reading (the connection is then dropped).
using BodySink = std::function<bool(std::string_view)>;

class HttpClient {
 public:
  explicit HttpClient(size_t maxIdlePerOrigin = 32);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  //! Sends `req` and blocks until the response is complete. Errors:
  //! kUnavailable (connect, TLS, reset), kTimeout, kCanceled (`cancel` set),
  //! kProviderError (malformed HTTP). Must not be called on the client's thread.
  Result<HttpResponse> send(const HttpRequest& req, const Timeouts& t, const BodySink& sink,
                            const std::atomic<bool>* cancel = nullptr);

  size_t idleConnections() const;

 private:
  struct Conn;
  struct Exchange;
  std::shared_ptr<Conn> takeIdle(const std::string& origin);
  void putIdle(std::shared_ptr<Conn> c);

  struct Impl;
  std::unique_ptr<Impl> impl_;
  size_t maxIdle_;
  mutable std::mutex poolMu_;
  std::map<std::string, std::vector<std::shared_ptr<Conn>>> idle_;
};

}  // namespace aion::providers
