#include "redis/redis_client.h"

#include <hiredis/hiredis.h>

#include <charconv>

namespace aion::redis {

struct RedisClient::Conn {
  redisContext* ctx = nullptr;
  ~Conn() {
    if (ctx) redisFree(ctx);
  }
};

Result<RedisUrl> parseUrl(std::string_view url) {
  RedisUrl u;
  constexpr std::string_view kScheme = "redis://";
  if (!url.starts_with(kScheme))
    return fail(ErrorCode::kInvalidRequest, "must start with redis://");
  url.remove_prefix(kScheme.size());
  if (auto at = url.rfind('@'); at != std::string_view::npos) {
    auto cred = url.substr(0, at);
    if (auto colon = cred.find(':'); colon != std::string_view::npos) cred = cred.substr(colon + 1);
    u.password = std::string(cred);
    url.remove_prefix(at + 1);
  }
  if (auto slash = url.find('/'); slash != std::string_view::npos) {
    auto db = url.substr(slash + 1);
    if (!db.empty()) {
      auto [p, ec] = std::from_chars(db.data(), db.data() + db.size(), u.db);
      if (ec != std::errc() || p != db.data() + db.size() || u.db < 0)
        return fail(ErrorCode::kInvalidRequest, "database must be a number");
    }
    url = url.substr(0, slash);
  }
  if (auto colon = url.rfind(':'); colon != std::string_view::npos) {
    auto port = url.substr(colon + 1);
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), u.port);
    if (ec != std::errc() || p != port.data() + port.size() || u.port < 1 || u.port > 65535)
      return fail(ErrorCode::kInvalidRequest, "port must be 1-65535");
    url = url.substr(0, colon);
  }
  if (url.empty()) return fail(ErrorCode::kInvalidRequest, "host is missing");
  u.host = std::string(url);
  return u;
}

namespace {

Reply convert(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      out.kind = Reply::Kind::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
      out.kind = Reply::Kind::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.kind = Reply::Kind::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      out.kind = Reply::Kind::kArray;
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      break;
  }
  return out;
}

}  // namespace

RedisClient::RedisClient(RedisUrl url, size_t poolSize, std::chrono::milliseconds timeout)
    : url_(std::move(url)), poolSize_(poolSize), timeout_(timeout) {}

RedisClient::~RedisClient() = default;

std::unique_ptr<RedisClient::Conn> RedisClient::acquire(std::string& err) {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  timeval tv{static_cast<time_t>(timeout_.count() / 1000),
             static_cast<suseconds_t>((timeout_.count() % 1000) * 1000)};
  auto c = std::make_unique<Conn>();
  c->ctx = redisConnectWithTimeout(url_.host.c_str(), url_.port, tv);
  if (!c->ctx || c->ctx->err) {
    err = c->ctx ? c->ctx->errstr : "out of memory";
    return nullptr;
  }
  redisSetTimeout(c->ctx, tv);
  auto init = [&](std::vector<std::string> argv) {
    std::vector<const char*> a;
    std::vector<size_t> l;
    for (auto& s : argv) {
      a.push_back(s.data());
      l.push_back(s.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(c->ctx, static_cast<int>(a.size()), a.data(), l.data()));
    bool ok = r && r->type != REDIS_REPLY_ERROR;
    if (!ok) err = r ? std::string(r->str, r->len) : c->ctx->errstr;
    if (r) freeReplyObject(r);
    return ok;
  };
  if (!url_.password.empty() && !init({"AUTH", url_.password})) return nullptr;
  if (url_.db != 0 && !init({"SELECT", std::to_string(url_.db)})) return nullptr;
  return c;
}

void RedisClient::release(std::unique_ptr<Conn> c) {
  std::lock_guard lock(mu_);
  if (idle_.size() < poolSize_) idle_.push_back(std::move(c));
}

Result<Reply> RedisClient::command(const std::vector<std::string>& argv) {
  std::string err;
  auto c = acquire(err);
  if (!c)
    return fail(ErrorCode::kUnavailable,
                "redis " + url_.host + ":" + std::to_string(url_.port) + ": " + err);
  std::vector<const char*> a;
  std::vector<size_t> l;
  for (auto& s : argv) {
    a.push_back(s.data());
    l.push_back(s.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(c->ctx, static_cast<int>(a.size()), a.data(), l.data()));
  if (!r) {  // I/O error: the connection is unusable; drop it
    return fail(ErrorCode::kUnavailable, std::string("redis: ") + c->ctx->errstr);
  }
  if (r->type == REDIS_REPLY_ERROR) {
    std::string msg(r->str, r->len);
    freeReplyObject(r);
    release(std::move(c));
    return fail(ErrorCode::kUnavailable, "redis: " + msg);
  }
  Reply out = convert(r);
  freeReplyObject(r);
  release(std::move(c));
  return out;
}

}  // namespace aion::redis
