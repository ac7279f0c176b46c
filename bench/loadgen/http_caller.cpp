#include "http_caller.h"

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <stdexcept>

namespace aion::bench {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr int kIoError = -1;

class HttpCaller final : public Caller {
 public:
  explicit HttpCaller(const HttpTarget& t) : socket_(ioc_) {
    endpoints_ = tcp::resolver(ioc_).resolve(t.host, t.port);
    req_.method(bhttp::string_to_verb(t.method));
    if (req_.method() == bhttp::verb::unknown)
      throw std::runtime_error("unknown HTTP method " + t.method);
    req_.target(t.target);
    req_.version(11);
    req_.set(bhttp::field::host, t.host + ":" + t.port);
    for (auto& [k, v] : t.headers) req_.set(k, v);
    if (!t.body.empty() || req_.method() == bhttp::verb::post) req_.body() = t.body;
    req_.prepare_payload();
    boost::system::error_code ec;
    if (!connect(ec))
      throw std::runtime_error("connect " + t.host + ":" + t.port + ": " + ec.message());
  }

  Outcome call() override {
    boost::system::error_code ec;
    if (!socket_.is_open() && !connect(ec)) return {kIoError, false};
    bhttp::write(socket_, req_, ec);
    if (!ec) {
      res_ = {};
      bhttp::read(socket_, buf_, res_, ec);
    }
    if (ec) {
      socket_.close(ec);
      return {kIoError, false};
    }
    if (!res_.keep_alive()) socket_.close(ec);
    int status = static_cast<int>(res_.result_int());
    return {status, status >= 200 && status < 300};
  }

  std::string label(int code) const override {
    return code == kIoError ? "io_error" : std::to_string(code);
  }

 private:
  bool connect(boost::system::error_code& ec) {
    buf_.clear();
    asio::connect(socket_, endpoints_, ec);
    if (ec) return false;
    socket_.set_option(tcp::no_delay(true), ec);
    return !ec;
  }

  asio::io_context ioc_;
  tcp::socket socket_;
  tcp::resolver::results_type endpoints_;
  bhttp::request<bhttp::string_body> req_;
  bhttp::response<bhttp::string_body> res_;
  beast::flat_buffer buf_;
};

}  // namespace

HttpTarget parseHttpUrl(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) throw std::runtime_error("only http:// URLs: " + url);
  auto rest = url.substr(scheme.size());
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  HttpTarget t;
  t.target = slash == std::string::npos ? "/" : rest.substr(slash);
  auto colon = authority.rfind(':');
  t.host = authority.substr(0, colon);
  t.port = colon == std::string::npos ? "80" : authority.substr(colon + 1);
  return t;
}

std::unique_ptr<Caller> makeHttpCaller(const HttpTarget& t) {
  return std::make_unique<HttpCaller>(t);
}

}  // namespace aion::bench
