#pragma once
// HTTP/1.1 client for model providers, as Asio coroutines: Boost.Beast over
// TCP or TLS (OpenSSL, peer and host name verified), keep-alive connections
// pooled per origin and per event loop (bounded, with an idle timeout and
// TLS session reuse), connect and read-idle timeouts, a total deadline and
// cancellation. An exchange runs on the calling coroutine's own loop, whose
// connections are its own: nothing hops threads, and no thread ever blocks on
// the network. Callers must run on single-threaded event loops (IoPool).
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
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
//! reading (the connection is then dropped). Runs on the caller's loop.
using BodySink = std::function<bool(std::string_view)>;

class HttpClient {
 public:
  struct Options {
    size_t maxConnsPerOrigin = 256;  // per event loop; beyond it, calls wait for a free one
    std::chrono::milliseconds idleTimeout{60000};
  };
  explicit HttpClient(Options opts);
  HttpClient() : HttpClient(Options{}) {}
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  //! Sends `req` and reads the response. Errors: kUnavailable (connect, TLS,
  //! reset), kTimeout, kCanceled (`stop` requested), kProviderError
  //! (malformed HTTP, a body cut short). After a sink returned false, the
  //! response so far is returned.
  boost::asio::awaitable<Result<HttpResponse>> send(HttpRequest req, Timeouts t, BodySink sink,
                                                    std::stop_token stop);

  //! Connections open now (idle and busy), for tests and metrics.
  size_t openConnections() const;

 private:
  struct Conn;
  struct Origin;
  boost::asio::awaitable<std::shared_ptr<Conn>> acquire(
      const Url& url, std::chrono::steady_clock::time_point until);
  void release(std::shared_ptr<Conn> c, bool reusable);

  boost::asio::any_io_executor ex_;
  Options opts_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Origin>> origins_;
};

}  // namespace aion::providers
