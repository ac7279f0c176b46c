#pragma once
// A connection's byte stream: plain TCP, or TLS over TCP when the listener has
// a certificate. Models Beast's AsyncStream, so HTTP parsing, SSE writes and
// WebSocket sessions run unchanged over either.
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <variant>

namespace aion::http {

namespace asio = boost::asio;
namespace beast = boost::beast;

class Stream {
 public:
  using Tls = beast::ssl_stream<beast::tcp_stream>;
  using executor_type = beast::tcp_stream::executor_type;

  explicit Stream(beast::tcp_stream s) : v_(std::move(s)) {}
  Stream(beast::tcp_stream s, asio::ssl::context& ctx)
      : v_(std::in_place_type<Tls>, std::move(s), ctx) {}

  executor_type get_executor() { return tcp().get_executor(); }
  beast::tcp_stream& tcp() {
    return std::visit([](auto& s) -> beast::tcp_stream& { return beast::get_lowest_layer(s); }, v_);
  }
  //! The TLS layer, or nullptr on a plain connection.
  Tls* tls() { return std::get_if<Tls>(&v_); }

  // Deadlines and the socket live on the TCP layer (beast::get_lowest_layer
  // of a WebSocket over this stream is this stream).
  template <class Duration>
  void expires_after(Duration d) {
    tcp().expires_after(d);
  }
  void expires_never() { tcp().expires_never(); }
  asio::ip::tcp::socket& socket() { return tcp().socket(); }

  template <class Buffers, class Token>
  auto async_read_some(const Buffers& b, Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code, size_t)>(
        [this](auto handler, const Buffers& buf) {
          std::visit([&](auto& s) { s.async_read_some(buf, std::move(handler)); }, v_);
        },
        token, b);
  }
  template <class Buffers, class Token>
  auto async_write_some(const Buffers& b, Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code, size_t)>(
        [this](auto handler, const Buffers& buf) {
          std::visit([&](auto& s) { s.async_write_some(buf, std::move(handler)); }, v_);
        },
        token, b);
  }

  // Beast closes the lowest layer on WebSocket failures.
  friend void beast_close_socket(Stream& s) { beast::close_socket(s.tcp()); }

  // WebSocket close handshake over either layer (found by ADL from Beast).
  friend void teardown(beast::role_type role, Stream& s, boost::system::error_code& ec) {
    std::visit(
        [&](auto& x) {
          using beast::websocket::teardown;
          teardown(role, x, ec);
        },
        s.v_);
  }
  template <class Handler>
  friend void async_teardown(beast::role_type role, Stream& s, Handler&& h) {
    std::visit(
        [&](auto& x) {
          using beast::websocket::async_teardown;
          async_teardown(role, x, std::move(h));
        },
        s.v_);
  }

 private:
  std::variant<beast::tcp_stream, Tls> v_;
};

}  // namespace aion::http
