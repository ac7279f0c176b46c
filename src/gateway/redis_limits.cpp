#include "gateway/redis_limits.h"

#include <spdlog/spdlog.h>

#include "common/ids.h"

namespace aion::gateway {
namespace {

// The window is computed from Redis's clock so gateways on different hosts
// agree on it. Returns {count, ms until the window ends}.
constexpr const char* kRateScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local w = tonumber(ARGV[1])
local start = now - (now % w)
local key = KEYS[1] .. ':' .. start
local n = redis.call('INCR', key)
if n == 1 then redis.call('PEXPIRE', key, w) end
return {n, start + w - now}
)lua";

// Value: 'P' .. hash while the first request runs, 'D' .. hash .. '|' .. answer after.
constexpr const char* kBeginScript = R"lua(
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], 'P' .. ARGV[1], 'PX', ARGV[2])
  return ''
end
return v
)lua";
constexpr const char* kCompleteScript = R"lua(
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 1) == 'P' then
  redis.call('SET', KEYS[1], 'D' .. string.sub(v, 2) .. '|' .. ARGV[1], 'KEEPTTL')
end
return 1
)lua";
constexpr const char* kAbandonScript = R"lua(
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 1) == 'P' then redis.call('DEL', KEYS[1]) end
return 1
)lua";

void degraded(telemetry::Metrics& m, const char* feature, const Error& e) {
  static std::atomic<int64_t> lastLog{0};
  m.degraded(feature);
  int64_t now = nowMs(), last = lastLog.load();
  if (now - last > 10000 && lastLog.compare_exchange_strong(last, now))
    spdlog::warn("redis unavailable, {} degraded: {}", feature, e.message);
}

}  // namespace

RedisRateLimiter::RedisRateLimiter(redis::RedisClient& client, RateLimiter& fallback,
                                   telemetry::Metrics& metrics)
    : client_(client), fallback_(fallback), metrics_(metrics) {}

RateDecision RedisRateLimiter::hit(const std::string& bucket, uint64_t limit,
                                   std::chrono::seconds window) {
  auto r = client_.command(
      {"EVAL", kRateScript, "1", "aion:rl:" + bucket, std::to_string(window.count() * 1000)});
  if (!r || r->elements.size() != 2) {
    degraded(metrics_, "ratelimit",
             r ? Error(ErrorCode::kUnavailable, "unexpected reply") : r.error());
    return fallback_.hit(bucket, limit, window);
  }
  auto count = static_cast<uint64_t>(r->elements[0].integer);
  RateDecision d;
  d.limit = limit;
  d.allowed = count <= limit;
  d.remaining = d.allowed ? limit - count : 0;
  d.resetSeconds = (r->elements[1].integer + 999) / 1000;
  return d;
}

RedisIdempotencyStore::RedisIdempotencyStore(redis::RedisClient& client, std::chrono::seconds ttl,
                                             telemetry::Metrics& metrics)
    : client_(client), ttlMs_(ttl.count() * 1000), metrics_(metrics) {}

IdempotencyStore::Begin RedisIdempotencyStore::begin(const std::string& key,
                                                     const std::string& bodyHash,
                                                     Stored& response) {
  auto r = client_.command(
      {"EVAL", kBeginScript, "1", "aion:idem:" + key, bodyHash, std::to_string(ttlMs_)});
  if (!r) {
    degraded(metrics_, "idempotency", r.error());
    return Begin::kFirst;  // serve without idempotency rather than fail the request
  }
  const std::string& v = r->str;
  if (v.empty()) return Begin::kFirst;
  if (v.compare(1, bodyHash.size(), bodyHash) != 0) return Begin::kConflict;
  if (v[0] == 'P') return Begin::kInProgress;
  // D<hash>|<status>|<body>
  size_t p1 = 1 + bodyHash.size() + 1;
  size_t p2 = v.find('|', p1);
  if (p2 == std::string::npos) return Begin::kConflict;
  response.status = static_cast<unsigned>(std::stoul(v.substr(p1, p2 - p1)));
  response.body = v.substr(p2 + 1);
  return Begin::kReplay;
}

void RedisIdempotencyStore::complete(const std::string& key, Stored response) {
  auto r = client_.command({"EVAL", kCompleteScript, "1", "aion:idem:" + key,
                            std::to_string(response.status) + "|" + response.body});
  if (!r) degraded(metrics_, "idempotency", r.error());
}

void RedisIdempotencyStore::abandon(const std::string& key) {
  auto r = client_.command({"EVAL", kAbandonScript, "1", "aion:idem:" + key});
  if (!r) degraded(metrics_, "idempotency", r.error());
}

}  // namespace aion::gateway
