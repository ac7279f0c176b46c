#include "providers/http_client.h"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <deque>
#include <optional>

#include "http/stream.h"

namespace aion::providers {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

namespace {
constexpr size_t kMaxErrorBody = 1 << 20;
constexpr size_t kMaxBody = 64 << 20;

Error ioError(const std::string& what, const boost::system::error_code& ec) {
  if (ec == beast::error::timeout) return Error(ErrorCode::kTimeout, what + ": timed out");
  return Error(ErrorCode::kUnavailable, what + ": " + ec.message());
}

// Why the exchange's socket was closed under it, if it was.
enum class Abort : int { kNone, kCanceled, kDeadline };

// Runs what it was given when its event loop shuts down (the io_context's
// destructor), before the loop's own services go: a socket or timer must not
// outlive its loop, and the client may (aiond destroys its loops first).
class LoopShutdown final : public asio::execution_context::service {
 public:
  using key_type = LoopShutdown;
  static inline asio::execution_context::id id;
  explicit LoopShutdown(asio::execution_context& ctx) : service(ctx) {}
  void add(std::function<void()> fn) {
    std::lock_guard lock(mu_);
    fns_.push_back(std::move(fn));
  }

 private:
  void shutdown() override {
    std::vector<std::function<void()>> fns;
    {
      std::lock_guard lock(mu_);
      fns.swap(fns_);
    }
    for (auto& fn : fns) fn();
  }
  std::mutex mu_;
  std::vector<std::function<void()>> fns_;
};
}  // namespace

struct HttpClient::Origin {
  std::string key;
  asio::any_io_executor loop;  // its connections live on this event loop
  std::mutex* mu = nullptr;    // the client's, which guards what follows
  size_t open = 0;             // connections counted against the cap (idle + busy)
  std::vector<std::shared_ptr<Conn>> idle;
  struct Waiter {
    explicit Waiter(asio::any_io_executor ex) : timer(ex) {}
    asio::steady_timer timer;
    std::shared_ptr<Conn> conn;
  };
  std::deque<std::shared_ptr<Waiter>> waiters;
  std::shared_ptr<SSL_SESSION> session;  // resumed by new TLS connections
};

// Owned by whoever uses it, or by its origin's idle list; it points back at
// its origin without owning it (the client's origins_ does, for as long as the
// client lives): an owning pointer made idle connections and their origin a
// cycle that nothing ever freed, their sockets included.
struct HttpClient::Conn {
  explicit Conn(Origin* o) : origin(o), loop(o->loop) {}
  Origin* origin;
  asio::any_io_executor loop;
  std::unique_ptr<http::Stream> stream;
  beast::flat_buffer buffer;
  SteadyClock::time_point lastUsed{};
  bool connected = false;
  std::atomic<int> abort{0};
};

HttpClient::HttpClient(Options opts)
    : opts_(opts), tls_(std::make_shared<ssl::context>(ssl::context::tls_client)) {
  tls_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  tls_->set_default_verify_paths();  // honours SSL_CERT_FILE / SSL_CERT_DIR
  tls_->set_verify_mode(ssl::verify_peer);
  SSL_CTX_set_session_cache_mode(tls_->native_handle(), SSL_SESS_CACHE_CLIENT);
}

HttpClient::~HttpClient() = default;

size_t HttpClient::openConnections() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (auto& [_, o] : origins_) n += o->open;
  return n;
}

asio::awaitable<std::shared_ptr<HttpClient::Conn>> HttpClient::acquire(
    const Url& url, SteadyClock::time_point until) {
  auto ex = co_await asio::this_coro::executor;
  // One pool per origin and event loop: the caller's loop owns what it uses.
  auto* loop = &asio::query(ex, asio::execution::context);
  std::string key = url.origin() + "@" + std::to_string(reinterpret_cast<uintptr_t>(loop));
  std::shared_ptr<Origin::Waiter> waiter;
  {
    std::lock_guard lock(mu_);
    auto& o = origins_[key];
    if (!o) {
      o = std::make_shared<Origin>();
      o->key = key;
      o->loop = ex;
      o->mu = &mu_;
      // The pool's sockets and timers close with their loop, not after it.
      asio::use_service<LoopShutdown>(*loop).add([weak = std::weak_ptr<Origin>(o)] {
        auto dead = weak.lock();
        if (!dead) return;  // the client went first
        std::vector<std::shared_ptr<Conn>> idle;
        std::deque<std::shared_ptr<Origin::Waiter>> waiters;
        asio::any_io_executor loop;  // a strand's holds on to the loop's strand service
        {
          std::lock_guard lock(*dead->mu);
          dead->open -= dead->idle.size();
          idle.swap(dead->idle);
          waiters.swap(dead->waiters);
          loop.swap(dead->loop);
        }
      });
    }
    auto now = SteadyClock::now();
    // Idle connections past the idle timeout are closed, not reused.
    std::erase_if(o->idle, [&](auto& c) {
      if (now - c->lastUsed < opts_.idleTimeout) return false;
      --o->open;
      return true;
    });
    if (!o->idle.empty()) {
      auto c = std::move(o->idle.back());
      o->idle.pop_back();
      co_return c;
    }
    if (o->open < opts_.maxConnsPerOrigin) {
      ++o->open;
      co_return std::make_shared<Conn>(o.get());
    }
    waiter = std::make_shared<Origin::Waiter>(ex);
    o->waiters.push_back(waiter);
  }
  waiter->timer.expires_at(until);
  co_await waiter->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  std::lock_guard lock(mu_);
  if (waiter->conn) co_return std::move(waiter->conn);
  auto& ws = origins_[key]->waiters;
  std::erase(ws, waiter);
  co_return nullptr;
}

void HttpClient::release(std::shared_ptr<Conn> c, bool reusable) {
  std::lock_guard lock(mu_);
  Origin* o = c->origin;
  if (!reusable) {
    // The old one closes when its last owner lets go.
    c = std::make_shared<Conn>(o);
  }
  if (!o->waiters.empty()) {
    auto w = std::move(o->waiters.front());
    o->waiters.pop_front();
    w->conn = std::move(c);
    asio::post(w->timer.get_executor(), [w] { w->timer.cancel(); });
    return;
  }
  if (reusable) {
    c->lastUsed = SteadyClock::now();
    o->idle.push_back(std::move(c));
  } else {
    --o->open;
  }
}

namespace {

asio::awaitable<std::optional<Error>> connect(http::Stream& s, const Url& u,
                                              std::chrono::milliseconds timeout,
                                              SSL_SESSION* resume) {
  auto& tcpStream = s.tcp();
  tcp::resolver resolver(tcpStream.get_executor());
  tcpStream.expires_after(timeout);
  auto [rec, results] = co_await resolver.async_resolve(u.host, std::to_string(u.port),
                                                        asio::as_tuple(asio::use_awaitable));
  if (rec) co_return ioError("resolve " + u.host, rec);
  auto [cec, ep] = co_await tcpStream.async_connect(results, asio::as_tuple(asio::use_awaitable));
  if (cec) co_return ioError("connect to " + u.origin(), cec);
  boost::system::error_code ignore;
  tcpStream.socket().set_option(tcp::no_delay(true), ignore);
  if (auto* t = s.tls()) {
    boost::system::error_code addrEc;
    asio::ip::make_address(u.host, addrEc);
    if (addrEc) SSL_set_tlsext_host_name(t->native_handle(), u.host.c_str());  // SNI for names
    t->set_verify_callback(ssl::host_name_verification(u.host));
    if (resume) SSL_set_session(t->native_handle(), resume);
    auto [hec] =
        co_await t->async_handshake(ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
    if (hec) co_return ioError("TLS handshake with " + u.origin(), hec);
  }
  co_return std::nullopt;
}

void closeSocket(http::Stream& s) {
  boost::system::error_code ignore;
  s.socket().close(ignore);
}

}  // namespace

asio::awaitable<Result<HttpResponse>> HttpClient::send(HttpRequest req, Timeouts t, BodySink sink,
                                                       std::stop_token stop) {
  auto deadline = SteadyClock::now() + t.total;
  std::string origin = req.url.origin();
  auto msg = std::make_shared<bhttp::request<bhttp::string_body>>(bhttp::string_to_verb(req.method),
                                                                  req.target, 11);
  msg->set(bhttp::field::host, req.url.hostHeader());
  msg->set(bhttp::field::user_agent, "aionOS/0.1");
  for (auto& [k, v] : req.headers) msg->set(k, v);
  if (!req.body.empty() || req.method == "POST") {
    msg->body() = std::move(req.body);
    msg->prepare_payload();
  }
  msg->keep_alive(true);

  // Up to two tries: a pooled connection may have been closed by the server
  // while idle; that shows as a failure before any response byte.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (stop.stop_requested()) co_return fail(ErrorCode::kCanceled, "canceled");
    auto conn = co_await acquire(req.url, deadline);
    if (!conn)
      co_return fail(ErrorCode::kTimeout, "no connection to " + origin + " became free within " +
                                              std::to_string(t.total.count()) + " ms");
    bool reused = conn->connected;
    conn->abort = 0;
    // Cancellation and the total deadline close the socket on its loop; the
    // pending operation then fails and the exchange says why.
    auto loop = conn->loop;
    std::stop_callback onStop(stop, [conn, loop] {
      conn->abort = static_cast<int>(Abort::kCanceled);
      asio::post(loop, [conn] {
        if (conn->stream) closeSocket(*conn->stream);
      });
    });
    struct Outcome {
      Result<HttpResponse> result = fail(ErrorCode::kInternal, "no exchange");
      bool reusable = false;
      bool stale = false;
    };
    auto run = [this, conn, msg, &req, t, reused, deadline, &sink]() -> asio::awaitable<Outcome> {
      Outcome out;
      asio::steady_timer guard(conn->loop);
      guard.expires_at(deadline);
      guard.async_wait([conn](boost::system::error_code ec) {
        if (ec) return;
        int none = static_cast<int>(Abort::kNone);
        conn->abort.compare_exchange_strong(none, static_cast<int>(Abort::kDeadline));
        if (conn->stream) closeSocket(*conn->stream);
      });
      auto why = [&](Error e) {
        switch (static_cast<Abort>(conn->abort.load())) {
          case Abort::kCanceled:
            return Error(ErrorCode::kCanceled, "canceled");
          case Abort::kDeadline:
            return Error(ErrorCode::kTimeout, req.url.origin() + " did not finish within " +
                                                  std::to_string(t.total.count()) + " ms");
          case Abort::kNone:
            break;
        }
        return e;
      };
      if (!reused) {
        beast::tcp_stream tcpStream(conn->loop);
        conn->stream = req.url.tls ? std::make_unique<http::Stream>(std::move(tcpStream), *tls_)
                                   : std::make_unique<http::Stream>(std::move(tcpStream));
        std::shared_ptr<SSL_SESSION> resume;
        {
          std::lock_guard lock(mu_);
          resume = conn->origin->session;
        }
        if (conn->abort) {
          out.result = std::unexpected(why(Error(ErrorCode::kCanceled, "canceled")));
          co_return out;
        }
        if (auto err = co_await connect(*conn->stream, req.url, t.connect, resume.get())) {
          out.result = std::unexpected(why(*err));
          co_return out;
        }
        conn->connected = true;
      }
      auto& s = *conn->stream;
      s.expires_after(t.read);
      auto [wec, wn] = co_await bhttp::async_write(s, *msg, asio::as_tuple(asio::use_awaitable));
      if (wec) {
        out.stale = reused && !conn->abort;
        out.result = std::unexpected(why(ioError("send to " + req.url.origin(), wec)));
        co_return out;
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
        out.stale = reused && hn == 0 && hec != beast::error::timeout && !conn->abort;
        out.result = std::unexpected(why(e));
        co_return out;
      }
      HttpResponse resp;
      resp.status = static_cast<int>(parser.get().result_int());
      for (auto& f : parser.get()) {
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        resp.headers[name] = std::string(f.value());
      }
      bool streaming = sink && resp.status >= 200 && resp.status < 300;
      char buf[16384];
      while (!parser.is_done()) {
        parser.get().body().data = buf;
        parser.get().body().size = sizeof buf;
        s.expires_after(t.read);
        auto [rec, rn] = co_await bhttp::async_read_some(s, conn->buffer, parser,
                                                         asio::as_tuple(asio::use_awaitable));
        if (rec == bhttp::error::need_buffer) rec = {};
        if (rec) {
          // Headers came, the body did not finish: the provider cut or stalled it.
          out.result = std::unexpected(
              why(rec == beast::error::timeout
                      ? Error(ErrorCode::kTimeout, "provider stream stalled: no bytes for " +
                                                       std::to_string(t.read.count()) + " ms")
                      : Error(ErrorCode::kProviderError,
                              "response from " + req.url.origin() + " cut: " + rec.message())));
          co_return out;
        }
        size_t got = sizeof buf - parser.get().body().size;
        if (got == 0) continue;
        if (streaming) {
          if (!sink(std::string_view(buf, got))) {
            out.result = std::move(resp);  // the caller stopped reading: drop the connection
            co_return out;
          }
        } else if (resp.body.size() + got <= kMaxErrorBody || resp.status < 300) {
          resp.body.append(buf, got);
        }
      }
      s.expires_never();
      guard.cancel();
      out.reusable = parser.get().keep_alive() && !conn->abort;
      if (auto* tls = s.tls(); tls && out.reusable) {
        if (SSL_SESSION* sess = SSL_get1_session(tls->native_handle())) {
          std::lock_guard lock(mu_);
          conn->origin->session.reset(sess, SSL_SESSION_free);
        }
      }
      out.result = std::move(resp);
      co_return out;
    };
    auto out = co_await run();  // on this loop, which owns the connection
    if (!out.reusable) {
      if (conn->stream) closeSocket(*conn->stream);
      conn->connected = false;
    }
    release(conn, out.reusable);
    if (!out.result && out.stale && attempt == 0) continue;
    co_return std::move(out.result);
  }
  co_return fail(ErrorCode::kUnavailable, "connection to " + origin + " failed");
}

}  // namespace aion::providers
