#include "http/server.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "common/ids.h"
#include "common/json_text.h"
#include "telemetry/log.h"
#include "telemetry/trace.h"
#include "telemetry/tracer.h"

namespace aion::http {
namespace json = boost::json;
namespace bhttp = beast::http;
using asio::ip::tcp;

namespace {

std::vector<std::string> splitPath(std::string_view p) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < p.size()) {
    if (p[i] == '/') {
      ++i;
      continue;
    }
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    out.emplace_back(p.substr(i, j - i));
    i = j;
  }
  return out;
}

int hexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A header sent on several lines, as one comma-separated list (RFC 9110 5.3).
std::string headerList(const Request& req, std::string_view name) {
  std::string out;
  for (auto [it, end] = req.equal_range(name); it != end; ++it) {
    if (!out.empty()) out += ',';
    out.append(it->value());
  }
  return out;
}

std::string urlDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hexVal(s[i + 1]) >= 0 && hexVal(s[i + 2]) >= 0) {
      out += static_cast<char>(hexVal(s[i + 1]) * 16 + hexVal(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> parseQuery(std::string_view q) {
  std::map<std::string, std::string> out;
  size_t i = 0;
  while (i < q.size()) {
    size_t amp = q.find('&', i);
    if (amp == std::string_view::npos) amp = q.size();
    auto kv = q.substr(i, amp - i);
    auto eq = kv.find('=');
    if (!kv.empty())
      out[urlDecode(kv.substr(0, eq))] =
          eq == std::string_view::npos ? "" : urlDecode(kv.substr(eq + 1));
    i = amp + 1;
  }
  return out;
}

// Minimal response for a request we could not parse: no routing, then close.
Response rejectUnparsed(const Error& e, const std::string& rid) {
  auto r = errorResponse(e, rid);
  r.keep_alive(false);
  return r;
}

}  // namespace

void Routes::add(bhttp::verb method, std::string pattern, Handler h) {
  entries_.push_back(Entry{method, pattern, splitPath(pattern), std::move(h)});
}

Routes::Match Routes::match(bhttp::verb method, std::string_view path) const {
  Match out;
  auto segs = splitPath(path);
  for (const auto& e : entries_) {
    if (e.segments.size() != segs.size()) continue;
    std::map<std::string, std::string> params;
    bool ok = true;
    for (size_t i = 0; ok && i < segs.size(); ++i) {
      const auto& p = e.segments[i];
      if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
        params[p.substr(1, p.size() - 2)] = urlDecode(segs[i]);
      } else {
        ok = p == segs[i];
      }
    }
    if (!ok) continue;
    out.pathKnown = true;
    if (e.method != method) continue;
    out.handler = &e.handler;
    out.pattern = e.pattern;
    out.params = std::move(params);
    return out;
  }
  return out;
}

Response jsonResponse(unsigned status, const json::value& body, const std::string& requestId) {
  Response r{static_cast<bhttp::status>(status), 11};
  r.set(bhttp::field::content_type, "application/json");
  r.set(bhttp::field::cache_control, "no-store");
  if (!requestId.empty()) r.set("X-Request-Id", requestId);
  r.body() = jsonText(body);
  r.prepare_payload();
  return r;
}

std::string_view errorType(unsigned status) {
  switch (status) {
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 429:
      return "rate_limit_error";
    case 400:
    case 404:
    case 405:
    case 409:
    case 413:
    case 422:
    case 431:
      return "invalid_request_error";
    default:
      return "api_error";
  }
}

Response errorResponse(const Error& e, const std::string& requestId) {
  auto status = static_cast<unsigned>(httpStatus(e.code));
  auto body = toJson(e);
  // OpenAI's fields too, so its SDKs read any aionOS error (a 413 before routing included).
  body["type"] = errorType(status);
  auto* p = e.details.if_contains("param");
  body["param"] = p && p->is_string() ? *p : json::value(nullptr);
  auto r = jsonResponse(status, json::object{{"error", std::move(body)}, {"requestId", requestId}},
                        requestId);
  if (e.code == ErrorCode::kUnauthenticated)
    r.set(bhttp::field::www_authenticate, "ApiKey header=\"X-API-Key\"");
  if (auto* ra = e.details.if_contains("retryAfterSeconds"); ra && ra->is_int64())
    r.set(bhttp::field::retry_after, std::to_string(ra->as_int64()));
  return r;
}

Server::Server(IoPool& io, std::string name, Limits limits, Routes routes,
               telemetry::Metrics& metrics, std::shared_ptr<asio::ssl::context> tls)
    : io_(io),
      name_(std::move(name)),
      limits_(limits),
      routes_(std::move(routes)),
      metrics_(metrics),
      tls_(std::move(tls)),
      acceptor_(io.loop(0)) {}

Result<uint16_t> Server::listen(const std::string& address, uint16_t port) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(address, ec);
  if (ec) return fail(ErrorCode::kInvalidRequest, "bad listen address '" + address + "'");
  tcp::endpoint ep(addr, port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return fail(ErrorCode::kUnavailable, name_ + ": cannot listen on " + address + ":" +
                                             std::to_string(port) + ": " + ec.message());
  }
  asio::co_spawn(io_.loop(0), acceptLoop(), asio::detached);
  return acceptor_.local_endpoint().port();
}

void Server::stop() {
  boost::system::error_code ec;
  acceptor_.close(ec);
}

asio::awaitable<void> Server::acceptLoop() {
  for (;;) {
    auto [ec, socket] =
        co_await acceptor_.async_accept(io_.next(), asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      spdlog::warn("{}: accept: {}", name_, ec.message());
      continue;
    }
    if (*open_ >= limits_.maxConnections) {
      boost::system::error_code ignore;
      socket.close(ignore);  // over the cap: refuse before reading anything
      continue;
    }
    auto exec = socket.get_executor();
    asio::co_spawn(exec, session(std::move(socket)), asio::detached);
  }
}

asio::awaitable<Response> Server::dispatch(Exchange& ex, const Routes::Match& m, bool& streamed) {
  if (!m.handler) {
    Error e = m.pathKnown ? Error(ErrorCode::kInvalidRequest, "method not allowed")
                          : Error(ErrorCode::kNotFound, "no route for " + std::string(ex.path));
    auto r = errorResponse(e, ex.requestId);
    if (m.pathKnown) r.result(bhttp::status::method_not_allowed);
    co_return r;
  }
  try {
    auto r = co_await (*m.handler)(ex);
    if (!r) {
      streamed = true;
      co_return Response{};
    }
    co_return std::move(*r);
  } catch (const std::exception& e) {
    spdlog::error("{} {}: handler error: {}", name_, std::string(ex.path), e.what());
    co_return errorResponse(Error(ErrorCode::kInternal, "internal error"), ex.requestId);
  }
}

void Server::spanOf(const Exchange& ex, const std::string& route, int status, int64_t startNs) {
  if (!telemetry::recording(ex.sampled)) return;
  telemetry::Span s{.traceId = ex.traceId,
                    .spanId = ex.spanId,
                    .parentSpanId = ex.parentSpanId,
                    .traceState = ex.traceState,
                    .name = std::string(ex.req.method_string()) + " " + route,
                    .kind = telemetry::SpanKind::kServer,
                    .startNs = startNs,
                    .endNs = telemetry::unixNanos()};
  s.attributes = {{"http.request.method", std::string(ex.req.method_string())},
                  {"http.route", route},
                  {"url.path", std::string(ex.path)},
                  {"http.response.status_code", status},
                  {"aion.listener", name_},
                  {"aion.request_id", ex.requestId}};
  if (status >= 500) s.error = "HTTP " + std::to_string(status);
  telemetry::tracer()->record(std::move(s));
}

void Server::logRequest(Exchange& ex, const std::string& route, int status, double seconds,
                        const Response* res) {
  if (!telemetry::eventsOn()) return;
  json::object f{{"listener", name_},
                 {"method", std::string(ex.req.method_string())},
                 {"path", std::string(ex.path)},
                 {"route", route},
                 {"status", status},
                 {"durationMs", seconds * 1000.0},
                 {"requestId", ex.requestId},
                 {"traceId", ex.traceId},
                 {"remote", ex.remote}};
  for (auto& [k, v] : ex.logFields) f[k] = v;
  if (res) {
    // What served it and what it cost, as the response tells the client.
    for (auto [header, field] :
         {std::pair{"x-aion-task-id", "taskId"}, std::pair{"x-aion-route", "taskRoute"}})
      if (auto it = res->find(header); it != res->end()) f[field] = std::string(it->value());
    if (auto it = res->find("x-aion-cost-usd"); it != res->end())
      f["costUsd"] = std::strtod(std::string(it->value()).c_str(), nullptr);
  }
  telemetry::logEvent("request", f);
}

asio::awaitable<void> Server::session(tcp::socket socket) {
  ++*open_;
  struct Closer {
    std::shared_ptr<std::atomic<size_t>> n;
    ~Closer() { --*n; }
  } closer{open_};
  boost::system::error_code ec;
  std::string remote;
  if (auto ep = socket.remote_endpoint(ec); !ec) remote = ep.address().to_string();
  beast::flat_buffer buffer;
  beast::tcp_stream tcp(std::move(socket));
  std::optional<Stream> maybe = co_await secure(std::move(tcp), buffer);
  if (!maybe) co_return;
  Stream& stream = *maybe;
  bool first = true;
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(limits_.maxHeaderBytes));
    parser.body_limit(limits_.maxBodyBytes);
    // A kept-alive connection may idle for idleTimeout before its next
    // request; once the request's first byte is in, the whole request must
    // arrive within readTimeout (a trickled request is cut, whichever it is).
    if (buffer.size() == 0) {
      stream.expires_after(first ? limits_.readTimeout : limits_.idleTimeout);
      auto [fec, fn] = co_await stream.async_read_some(buffer.prepare(4096),
                                                       asio::as_tuple(asio::use_awaitable));
      if (fec) break;
      buffer.commit(fn);
    }
    first = false;
    stream.expires_after(limits_.readTimeout);
    auto [rec, n] =
        co_await bhttp::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    auto started = std::chrono::steady_clock::now();
    std::string rid = newRequestId();
    if (rec) {
      std::optional<Response> reject;
      if (rec == bhttp::error::body_limit) {
        reject = rejectUnparsed(
            Error(ErrorCode::kPayloadTooLarge,
                  "request body larger than " + std::to_string(limits_.maxBodyBytes) + " bytes"),
            rid);
      } else if (rec == bhttp::error::header_limit) {
        reject = rejectUnparsed(Error(ErrorCode::kHeadersTooLarge,
                                      "request headers larger than " +
                                          std::to_string(limits_.maxHeaderBytes) + " bytes"),
                                rid);
      } else if (rec != bhttp::error::end_of_stream && rec != beast::error::timeout &&
                 rec != asio::error::connection_reset && rec != asio::error::eof) {
        reject = rejectUnparsed(
            Error(ErrorCode::kInvalidRequest, "malformed HTTP request: " + rec.message()), rid);
      }
      if (reject) {
        stream.expires_after(limits_.writeTimeout);
        co_await bhttp::async_write(stream, *reject, asio::as_tuple(asio::use_awaitable));
        metrics_.httpRequest(name_, "(unparsed)", reject->result_int(), 0);
      }
      break;
    }
    const Request& req = parser.get();
    std::string_view target = req.target();
    auto qpos = target.find('?');
    Exchange ex{req, buffer, target.substr(0, qpos),  {},     {}, remote,
                rid, stream, stream.tls() != nullptr, limits_};
    if (qpos != std::string_view::npos) ex.query = parseQuery(target.substr(qpos + 1));
    auto join = telemetry::joinTrace(req["traceparent"], headerList(req, "tracestate"));
    ex.traceId = std::move(join.traceId);
    ex.traceState = std::move(join.traceState);
    ex.parentSpanId = std::move(join.parentSpanId);
    ex.sampled = join.sampled;
    // A span id only when spans are recorded: nothing else reads it.
    bool recorded = telemetry::recording(ex.sampled);
    if (recorded) ex.spanId = telemetry::newSpanId();
    int64_t startNs = recorded ? telemetry::unixNanos() : 0;
    auto m = routes_.match(req.method(), ex.path);
    ex.params = m.params;
    bool streamed = false;
    stream.expires_never();
    Response res = co_await dispatch(ex, m, streamed);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::string label = m.handler ? m.pattern : (m.pathKnown ? "(method)" : "(unmatched)");
    if (streamed) {
      metrics_.httpRequest(name_, label, 200, secs);
      logRequest(ex, label, 200, secs, nullptr);
      spanOf(ex, label, 200, startNs);
      break;
    }
    res.set("x-aion-trace-id", ex.traceId);
    bool keep = req.keep_alive() && res.keep_alive() && !ex.closeAfter;
    res.keep_alive(keep);
    stream.expires_after(limits_.writeTimeout);
    auto [wec, _] = co_await bhttp::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
    metrics_.httpRequest(name_, label, res.result_int(), secs);
    logRequest(ex, label, res.result_int(), secs, &res);
    spanOf(ex, label, res.result_int(), startNs);
    if (wec || !keep) break;
  }
  if (auto* t = stream.tls()) {
    stream.expires_after(std::chrono::seconds(2));
    co_await t->async_shutdown(asio::as_tuple(asio::use_awaitable));
  } else {
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }
  stream.tcp().close();
}

asio::awaitable<std::optional<Stream>> Server::secure(beast::tcp_stream tcp,
                                                      beast::flat_buffer& buffer) {
  if (!tls_) co_return std::optional<Stream>(std::in_place, std::move(tcp));
  tcp.expires_after(limits_.readTimeout);
  auto [dec, isTls] =
      co_await beast::async_detect_ssl(tcp, buffer, asio::as_tuple(asio::use_awaitable));
  if (dec) co_return std::nullopt;
  if (!isTls) {
    // Someone spoke plain HTTP to an HTTPS port: say so instead of a TLS alert.
    auto r = rejectUnparsed(
        Error(ErrorCode::kInvalidRequest, "this port serves HTTPS only; use https://"),
        newRequestId());
    co_await bhttp::async_write(tcp, r, asio::as_tuple(asio::use_awaitable));
    metrics_.httpRequest(name_, "(plain-on-tls)", r.result_int(), 0);
    boost::system::error_code ec;
    tcp.socket().shutdown(tcp::socket::shutdown_send, ec);
    co_return std::nullopt;
  }
  Stream stream(std::move(tcp), *tls_);
  auto [hec, used] = co_await stream.tls()->async_handshake(
      asio::ssl::stream_base::server, buffer.data(), asio::as_tuple(asio::use_awaitable));
  if (hec) {
    spdlog::debug("{}: TLS handshake: {}", name_, hec.message());
    co_return std::nullopt;
  }
  buffer.consume(used);
  co_return std::optional<Stream>(std::move(stream));
}

}  // namespace aion::http
