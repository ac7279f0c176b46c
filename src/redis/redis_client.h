#pragma once
// A small pool of blocking hiredis connections with timeouts and reconnect.
// Calls block the calling thread: use it off I/O threads.
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/error.h"

struct redisContext;

namespace aion::redis {

struct RedisUrl {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;
  int db = 0;
};

//! Parses redis://[:password@]host[:port][/db].
Result<RedisUrl> parseUrl(std::string_view url);

//! A reply reduced to what aionOS uses.
struct Reply {
  enum class Kind { kNil, kInteger, kString, kArray, kStatus } kind = Kind::kNil;
  int64_t integer = 0;
  std::string str;
  std::vector<Reply> elements;
};

class RedisClient {
 public:
  RedisClient(RedisUrl url, size_t poolSize, std::chrono::milliseconds timeout);
  ~RedisClient();

  //! Runs one command (argv form, binary-safe). kUnavailable when Redis cannot
  //! be reached or answers with an error.
  Result<Reply> command(const std::vector<std::string>& argv);
  const RedisUrl& url() const { return url_; }

 private:
  struct Conn;
  std::unique_ptr<Conn> acquire(std::string& err);
  void release(std::unique_ptr<Conn> c);

  RedisUrl url_;
  size_t poolSize_;
  std::chrono::milliseconds timeout_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Conn>> idle_;
};

}  // namespace aion::redis
