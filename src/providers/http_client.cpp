#include "providers/http_client.h"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <condition_variable>
#include <deque>
#include <optional>

#include "http/stream.h"

namespace aion::providers {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {
constexpr size_t kMaxErrorBody = 1 << 20;
constexpr size_t kMaxBody = 64 << 20;
}  // namespace

struct HttpClient::Impl {
  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
  ssl::context tls{ssl::context::tls_client};
  std::thread thread;

  Impl() {
    tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    tls.set_default_verify_paths();  // honours SSL_CERT_FILE / SSL_CERT_DIR
    tls.set_verify_mode(ssl::verify_peer);
    thread = std::thread([this] { ioc.run(); });
  }
  ~Impl() {
    work.reset();
    ioc.stop();
    thread.join();
  }
};

struct HttpClient::Conn {
  std::string origin;
  std::unique_ptr<http::Stream> stream;
  beast::flat_buffer buffer;
};

// State shared between the I/O coroutine and the blocked caller.
struct HttpClient::Exchange {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> chunks;
  std::optional<Result<HttpResponse>> head;  // set when headers (or a failure) arrive
  bool finished = false;
  std::optional<Error> failure;
  std::atomic<bool> stop{false};  // the caller gave up: stop reading
};

HttpClient::HttpClient(size_t maxIdlePerOrigin)
    : impl_(std::make_unique<Impl>()), maxIdle_(maxIdlePerOrigin) {}

HttpClient::~HttpClient() {
  {
    std::lock_guard lock(poolMu_);
    idle_.clear();
  }
  impl_.reset();
}

size_t HttpClient::idleConnections() const {
  std::lock_guard lock(poolMu_);
  size_t n = 0;
  for (auto& [_, v] : idle_) n += v.size();
  return n;
}

std::shared_ptr<HttpClient::Conn> HttpClient::takeIdle(const std::string& origin) {
  std::lock_guard lock(poolMu_);
  auto it = idle_.find(origin);
  if (it == idle_.end() || it->second.empty()) return nullptr;
  auto c = std::move(it->second.back());
  it->second.pop_back();
  return c;
}

void HttpClient::putIdle(std::shared_ptr<Conn> c) {
  std::lock_guard lock(poolMu_);
  auto& v = idle_[c->origin];
  if (v.size() < maxIdle_) v.push_back(std::move(c));
}

namespace {

Error ioError(const std::string& what, const boost::system::error_code& ec) {
  if (ec == beast::error::timeout) return Error(ErrorCode::kTimeout, what + ": timed out");
  return Error(ErrorCode::kUnavailable, what + ": " + ec.message());
}

asio::awaitable<std::optional<Error>> connect(http::Stream& s, const Url& u,
                                              std::chrono::milliseconds timeout) {
  auto& tcpStream = s.tcp();
  tcp::resolver resolver(tcpStream.get_executor());
  auto [rec, results] = co_await resolver.async_resolve(u.host, std::to_string(u.port),
                                                        asio::as_tuple(asio::use_awaitable));
  if (rec) co_return ioError("resolve " + u.host, rec);
  tcpStream.expires_after(timeout);
  auto [cec, ep] = co_await tcpStream.async_connect(results, asio::as_tuple(asio::use_awaitable));
  if (cec) co_return ioError("connect to " + u.origin(), cec);
  boost::system::error_code ignore;
  tcpStream.socket().set_option(tcp::no_delay(true), ignore);
  if (auto* t = s.tls()) {
    boost::system::error_code addrEc;
    asio::ip::make_address(u.host, addrEc);
    if (addrEc) SSL_set_tlsext_host_name(t->native_handle(), u.host.c_str());  // SNI for names
    t->set_verify_callback(ssl::host_name_verification(u.host));
    auto [hec] =
        co_await t->async_handshake(ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
    if (hec) co_return ioError("TLS handshake with " + u.origin(), hec);
  }
  co_return std::nullopt;
}

}  // namespace

Result<HttpResponse> HttpClient::send(const HttpRequest& req, const Timeouts& t,
                                      const BodySink& sink, const std::atomic<bool>* cancel) {
  auto started = std::chrono::steady_clock::now();
  auto deadline = started + t.total;
  std::string origin = req.url.origin();

  bhttp::request<bhttp::string_body> msg{bhttp::string_to_verb(req.method), req.target, 11};
  msg.set(bhttp::field::host, req.url.hostHeader());
  msg.set(bhttp::field::user_agent, "aionOS/0.1");
  for (auto& [k, v] : req.headers) msg.set(k, v);
  if (!req.body.empty() || req.method == "POST") {
    msg.body() = req.body;
    msg.prepare_payload();
  }
  msg.keep_alive(true);

  auto ex = std::make_shared<Exchange>();
  // Up to two tries: a pooled connection may have been closed by the server
  // while idle; that shows as a failure before any response byte.
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto conn = takeIdle(origin);
    bool reused = conn != nullptr;
    if (!conn) {
      conn = std::make_shared<Conn>();
      conn->origin = origin;
      beast::tcp_stream tcpStream(asio::make_strand(impl_->ioc));
      conn->stream = req.url.tls ? std::make_unique<http::Stream>(std::move(tcpStream), impl_->tls)
                                 : std::make_unique<http::Stream>(std::move(tcpStream));
    }
    ex = std::make_shared<Exchange>();
    auto exec = conn->stream->get_executor();
    // Aborts the exchange's pending I/O, on the connection's strand.
    auto abort = [exec, ex, keep = conn] {
      asio::post(exec, [ex, keep] {
        std::lock_guard lock(ex->mu);
        boost::system::error_code ignore;
        if (!ex->finished) keep->stream->socket().close(ignore);
      });
    };
    bool wantStream = static_cast<bool>(sink);
    auto run = [this, conn, ex, &msg, &req, t, reused,
                wantStream]() mutable -> asio::awaitable<void> {
      auto& s = *conn->stream;
      auto finish = [&](std::optional<Error> err, bool keep) {
        {
          std::lock_guard lock(ex->mu);
          if (err && !ex->head) ex->head = std::unexpected(*err);
          if (err) ex->failure = err;
          ex->finished = true;
        }
        ex->cv.notify_all();
        if (keep && !err) putIdle(conn);
        conn.reset();
      };
      if (!reused) {
        if (auto err = co_await connect(s, req.url, t.connect)) {
          finish(err, false);
          co_return;
        }
      }
      s.expires_after(t.read);
      auto [wec, wn] = co_await bhttp::async_write(s, msg, asio::as_tuple(asio::use_awaitable));
      if (wec) {
        Error e = ioError("send to " + req.url.origin(), wec);
        if (reused) e.details["staleConnection"] = true;
        finish(e, false);
        co_return;
      }
      bhttp::response_parser<bhttp::buffer_body> parser;
      parser.body_limit(kMaxBody);
      s.expires_after(t.read);
      auto [hec, hn] = co_await bhttp::async_read_header(s, conn->buffer, parser,
                                                         asio::as_tuple(asio::use_awaitable));
      if (hec) {
        Error e =
            hec == beast::error::timeout
                ? Error(ErrorCode::kTimeout, "no response from " + req.url.origin() + " within " +
                                                 std::to_string(t.read.count()) + " ms")
                : ioError("read from " + req.url.origin(), hec);
        if (reused && hn == 0 && hec != beast::error::timeout) e.details["staleConnection"] = true;
        finish(e, false);
        co_return;
      }
      HttpResponse head;
      head.status = static_cast<int>(parser.get().result_int());
      for (auto& f : parser.get()) {
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        head.headers[name] = std::string(f.value());
      }
      bool streaming = wantStream && head.status >= 200 && head.status < 300;
      {
        std::lock_guard lock(ex->mu);
        ex->head = head;
      }
      ex->cv.notify_all();
      char buf[16384];
      size_t collected = 0;
      while (!parser.is_done()) {
        if (ex->stop.load()) {
          finish(Error(ErrorCode::kCanceled, "stopped by the caller"), false);
          co_return;
        }
        parser.get().body().data = buf;
        parser.get().body().size = sizeof buf;
        s.expires_after(t.read);
        auto [rec, rn] = co_await bhttp::async_read_some(s, conn->buffer, parser,
                                                         asio::as_tuple(asio::use_awaitable));
        if (rec == bhttp::error::need_buffer) rec = {};
        if (rec) {
          // Headers came, the body did not finish: the provider cut or stalled it.
          finish(rec == beast::error::timeout
                     ? Error(ErrorCode::kTimeout, "provider stream stalled: no bytes for " +
                                                      std::to_string(t.read.count()) + " ms")
                     : Error(ErrorCode::kProviderError,
                             "response from " + req.url.origin() + " cut: " + rec.message()),
                 false);
          co_return;
        }
        size_t got = sizeof buf - parser.get().body().size;
        if (got == 0) continue;
        if (!streaming) {
          if (collected + got > kMaxErrorBody && head.status >= 300) continue;  // keep the head
          collected += got;
        }
        {
          std::lock_guard lock(ex->mu);
          ex->chunks.emplace_back(buf, got);
        }
        ex->cv.notify_all();
      }
      s.expires_never();
      finish(std::nullopt, parser.get().keep_alive());
    };
    asio::co_spawn(exec, std::move(run), asio::detached);

    // Caller side: wait for bytes, feed the sink, enforce deadline and cancel.
    HttpResponse out;
    bool headSeen = false, streaming = false, sinkStopped = false;
    std::optional<Error> callerError;
    for (;;) {
      std::deque<std::string> batch;
      bool finished = false;
      std::optional<Error> failure;
      {
        std::unique_lock lock(ex->mu);
        ex->cv.wait_for(lock, std::chrono::milliseconds(20), [&] {
          return ex->finished || !ex->chunks.empty() || (!headSeen && ex->head);
        });
        if (!headSeen && ex->head) {
          headSeen = true;
          if (*ex->head) {
            out.status = (*ex->head)->status;
            out.headers = (*ex->head)->headers;
            streaming = sink && out.status >= 200 && out.status < 300;
          }
        }
        batch.swap(ex->chunks);
        finished = ex->finished;
        failure = ex->failure;
      }
      for (auto& c : batch) {
        if (streaming) {
          if (!sinkStopped && !sink(c)) sinkStopped = true;
        } else {
          out.body += c;
        }
      }
      if (finished) {
        if (failure) {
          if (failure->details.contains("staleConnection") && attempt == 0 && out.status == 0)
            break;
          if (sinkStopped) return out;
          return std::unexpected(*failure);
        }
        return out;
      }
      if (sinkStopped && !callerError) {
        ex->stop.store(true);
        abort();
        callerError = Error(ErrorCode::kCanceled, "stopped by the caller");
      }
      bool canceled = cancel && cancel->load();
      bool late = std::chrono::steady_clock::now() >= deadline;
      if ((canceled || late) && !callerError) {
        callerError = canceled
                          ? Error(ErrorCode::kCanceled, "canceled")
                          : Error(ErrorCode::kTimeout, "provider did not finish within " +
                                                           std::to_string(t.total.count()) + " ms");
        ex->stop.store(true);
        abort();
      }
      if (callerError) {
        // Wait for the coroutine to see the abort (it owns the connection).
        std::unique_lock lock(ex->mu);
        ex->cv.wait(lock, [&] { return ex->finished; });
        if (sinkStopped && !canceled && !late) return out;
        return std::unexpected(*callerError);
      }
    }
  }
  return fail(ErrorCode::kUnavailable, "connection to " + origin + " failed");
}

}  // namespace aion::providers
