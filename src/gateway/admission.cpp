#include "gateway/admission.h"

#include <boost/json.hpp>

#include "common/async.h"
#include "common/digest.h"
#include "common/json_text.h"
#include "telemetry/tracer.h"

namespace aion::gateway {
namespace asio = boost::asio;
namespace json = boost::json;

Admission::Admission(const auth::KeyRing& keys, RateLimiter& limiter, IdempotencyStore& idempotency,
                     StreamSlots& streams, asio::any_io_executor blocking, Options opts)
    : keys_(keys),
      limiter_(limiter),
      idempotency_(idempotency),
      streams_(streams),
      blocking_(std::move(blocking)),
      opts_(opts) {}

// Redis-backed limits do network I/O: they run on the blocking pool.
asio::awaitable<RateDecision> Admission::hit(std::string bucket, uint64_t limit) {
  if (!limiter_.blocking()) co_return limiter_.hit(bucket, limit, opts_.rateWindow);
  co_return co_await offload(
      blocking_, [this, &bucket, limit] { return limiter_.hit(bucket, limit, opts_.rateWindow); });
}

Error Admission::limited(const RateDecision& d, Bucket bucket) {
  bool key = bucket == Bucket::kKey;
  count(key ? "rate_limit_key" : "rate_limit_ip");
  return Error(ErrorCode::kRateLimited,
               std::string("rate limit exceeded for this ") + (key ? "API key" : "client address"),
               {{"limit", d.limit},
                {"remaining", d.remaining},
                {"windowSeconds", opts_.rateWindow.count()},
                {"retryAfterSeconds", d.resetSeconds}});
}

asio::awaitable<Status> Admission::limitIp(std::string ip) {
  if (!opts_.ratePerIp || ip.empty()) co_return Status{};
  auto dec = co_await hit(std::string("ip:") + ip, opts_.ratePerIp);
  if (!dec.allowed) co_return std::unexpected(limited(dec, Bucket::kIp));
  co_return Status{};
}

asio::awaitable<Status> Admission::limitKey(const Principal& who) {
  if (!opts_.ratePerKey) co_return Status{};
  auto dec = co_await hit("key:" + who.keyId, opts_.ratePerKey);
  if (!dec.allowed) co_return std::unexpected(limited(dec, Bucket::kKey));
  co_return Status{};
}

void Admission::count(const char* reason) {
  if (opts_.metrics) opts_.metrics->rejected(reason);
}

void Admission::countIdempotency(const char* outcome) {
  if (opts_.metrics) opts_.metrics->idempotency(outcome);
}

namespace {

// The admission span's outcome: who was admitted, or why not.
void describe(telemetry::ScopedSpan& span, const Result<Admitted>& a) {
  if (!span.on()) return;
  if (!a) {
    span.attr("aion.refused", std::string(errorCodeName(a.error().code)));
    span.fail(a.error().message);
    return;
  }
  span.attr("aion.tenant", a->who.tenant);
  span.attr("aion.key_id", a->who.keyId);
}

}  // namespace

asio::awaitable<Result<Admitted>> Admission::authenticate(Credentials c) {
  telemetry::ScopedSpan span(c.traceId, c.parentSpanId, c.sampled, "admission");
  auto a = co_await authSteps(std::move(c));
  describe(span, a);
  co_return a;
}

asio::awaitable<Result<Admitted>> Admission::admit(Credentials c, bool stream) {
  telemetry::ScopedSpan span(c.traceId, c.parentSpanId, c.sampled, "admission");
  auto a = co_await admitSteps(std::move(c), stream);
  describe(span, a);
  co_return a;
}

asio::awaitable<Result<Admitted>> Admission::authSteps(Credentials c) {
  auto who = keys_.authenticate(c.apiKey, c.tenant);
  if (!who) {
    count(who.error().code == ErrorCode::kForbidden ? "forbidden" : "unauthenticated");
    co_return std::unexpected(who.error());
  }
  Admitted a;
  a.who = std::move(*who);
  if (opts_.ratePerKey) {
    auto dec = co_await hit("key:" + a.who.keyId, opts_.ratePerKey);
    if (!dec.allowed) co_return std::unexpected(limited(dec, Bucket::kKey));
    a.rate = dec;
  }
  co_return a;
}

asio::awaitable<Result<Admitted>> Admission::admitSteps(Credentials c, bool stream) {
  // Per IP first: key guessing is limited too.
  std::optional<RateDecision> ipDec;
  if (opts_.ratePerIp && !c.remoteIp.empty()) {
    auto dec = co_await hit("ip:" + c.remoteIp, opts_.ratePerIp);
    if (!dec.allowed) co_return std::unexpected(limited(dec, Bucket::kIp));
    ipDec = dec;
  }
  auto a = co_await authSteps(std::move(c));
  if (!a) co_return a;
  if (ipDec && (!a->rate || ipDec->remaining < a->rate->remaining)) a->rate = ipDec;
  if (stream) {
    auto slot = streamSlot();
    if (!slot) co_return std::unexpected(slot.error());
    a->slot = std::move(*slot);
  }
  co_return a;
}

Result<std::unique_ptr<StreamSlots::Slot>> Admission::streamSlot() {
  auto slot = streams_.acquire();
  if (!slot) count("stream_limit");
  if (!slot)
    return fail(ErrorCode::kUnavailable,
                "too many open streams (" + std::to_string(streams_.max()) + "); retry later",
                {{"retryAfterSeconds", 1}});
  return slot;
}

Status Admission::checkIdempotencyKey(std::string_view k) {
  if (k.size() > 255)
    return fail(ErrorCode::kInvalidRequest, "Idempotency-Key is longer than 255 characters");
  for (char ch : k)
    if (ch < 0x21 || ch > 0x7e)
      return fail(ErrorCode::kInvalidRequest, "Idempotency-Key must be printable ASCII");
  return {};
}

asio::awaitable<Result<IdempotentAnswer>> Admission::once(
    const Principal& who, std::string key, json::value request,
    const std::function<asio::awaitable<Result<IdempotentAnswer>>()>& work) {
  if (key.empty()) co_return co_await work();
  if (auto st = checkIdempotencyKey(key); !st) co_return std::unexpected(st.error());
  std::string scoped = who.tenant + '\n' + key;
  std::string hash = sha256Hex(canonicalJsonText(request));
  auto call = [this](auto f) -> asio::awaitable<std::invoke_result_t<decltype(f)>> {
    if (!idempotency_.blocking()) co_return f();
    co_return co_await offload(blocking_, std::move(f));
  };
  IdempotencyStore::Stored prior;
  auto begun = co_await call([&] { return idempotency_.begin(scoped, hash, prior); });
  constexpr const char* kOutcome[] = {"first", "replayed", "conflict", "in_progress"};
  countIdempotency(kOutcome[static_cast<int>(begun)]);
  switch (begun) {
    case IdempotencyStore::Begin::kFirst:
      break;
    case IdempotencyStore::Begin::kReplay: {
      boost::system::error_code ec;
      auto body = json::parse(prior.body, ec);
      co_return IdempotentAnswer{prior.status, ec ? json::value(nullptr) : body, true};
    }
    case IdempotencyStore::Begin::kConflict:
      co_return fail(ErrorCode::kConflict,
                     "Idempotency-Key was already used with a different request body");
    case IdempotencyStore::Begin::kInProgress:
      co_return fail(ErrorCode::kConflict,
                     "a request with this Idempotency-Key is still in progress",
                     {{"retryAfterSeconds", 1}});
  }
  auto r = co_await work();
  if (!r) {
    co_await call([&] {
      idempotency_.abandon(scoped);
      return true;
    });
    co_return r;
  }
  IdempotencyStore::Stored answer{r->status, jsonText(r->body)};
  co_await call([&] {
    idempotency_.complete(scoped, answer);
    return true;
  });
  co_return r;
}

}  // namespace aion::gateway
