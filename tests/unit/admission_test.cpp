// The one admission chain: per-IP limit, authentication, per-key limit and
// stream slots in that order; idempotent submission compared as parsed JSON.
#include "gateway/admission.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include "telemetry/metrics.h"

namespace aion::gateway {
namespace {
namespace asio = boost::asio;
namespace json = boost::json;

struct AdmissionTest : ::testing::Test {
  int64_t now = 1795600000000;
  auth::KeyRing keys{*auth::parseApiKeys("good:user,admin:admin"), auth::TenancyMode::kSingle};
  InProcessRateLimiter limiter{[this] { return now; }};
  InProcessIdempotencyStore idem{[this] { return now; }, std::chrono::seconds(60), 100};
  telemetry::Metrics metrics;
  StreamSlots streams{2, metrics.openStreams()};
  asio::thread_pool blocking{1};
  std::unique_ptr<Admission> adm;

  void make(uint64_t perKey, uint64_t perIp) {
    adm = std::make_unique<Admission>(
        keys, limiter, idem, streams, blocking.get_executor(),
        Admission::Options{perKey, perIp, std::chrono::seconds(60), &metrics});
  }
  //! The value of one series in the exposition ("" when absent).
  std::string metric(const std::string& series) {
    auto text = metrics.serialize();
    auto at = text.find("\n" + series + " ");
    if (at == std::string::npos) return "";
    at += series.size() + 2;
    return text.substr(at, text.find('\n', at) - at);
  }
  template <typename T>
  T run(asio::awaitable<T> a) {
    asio::io_context io;
    auto f = asio::co_spawn(io, std::move(a), asio::use_future);
    io.run();
    return f.get();
  }
  Result<Admitted> admit(std::string key, bool stream = false, std::string ip = "10.0.0.1") {
    return run(adm->admit({std::move(key), "", std::move(ip)}, stream));
  }
};

TEST_F(AdmissionTest, PerIpLimitComesBeforeAuthenticationSoGuessingIsLimited) {
  make(0, 2);
  EXPECT_EQ(admit("wrong").error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(admit("wrong").error().code, ErrorCode::kUnauthenticated);
  auto third = admit("good");  // even a good key: the address is over its limit
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().code, ErrorCode::kRateLimited);
  EXPECT_EQ(third.error().details.at("retryAfterSeconds").as_int64(), 20);  // to the window's end
  EXPECT_TRUE(admit("good", false, "10.0.0.2"));  // another address is not affected
  EXPECT_EQ(metric(R"(aion_gateway_rejections_total{reason="unauthenticated"})"), "2");
  EXPECT_EQ(metric(R"(aion_gateway_rejections_total{reason="rate_limit_ip"})"), "1");
}

TEST_F(AdmissionTest, PerKeyLimitAndTheTighterDecisionIsShown) {
  make(2, 100);
  auto a = admit("good");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->who.roles, roleBit(Role::kUser));
  ASSERT_TRUE(a->rate);
  EXPECT_EQ(a->rate->remaining, 1u);  // the key's, tighter than the address's 99
  EXPECT_TRUE(admit("good"));
  EXPECT_EQ(admit("good").error().code, ErrorCode::kRateLimited);
  EXPECT_TRUE(admit("admin"));  // another key has its own budget
  now += 60000;
  EXPECT_TRUE(admit("good"));  // a new window
  EXPECT_EQ(metric(R"(aion_gateway_rejections_total{reason="rate_limit_key"})"), "1");
}

TEST_F(AdmissionTest, StreamSlotsAreTakenOnlyAfterAuthenticationAndFreedWithTheStream) {
  make(0, 0);
  EXPECT_FALSE(admit("wrong", true));  // refused before taking a slot
  auto s1 = admit("good", true), s2 = admit("good", true);
  ASSERT_TRUE(s1 && s2);
  EXPECT_TRUE(s1->slot && s2->slot);
  auto s3 = admit("good", true);
  ASSERT_FALSE(s3);
  EXPECT_EQ(s3.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(s3.error().details.at("retryAfterSeconds").as_int64(), 1);
  EXPECT_FALSE(adm->streamSlot());  // the same cap for a request that turns out to stream
  s1->slot.reset();
  EXPECT_TRUE(adm->streamSlot());
  EXPECT_EQ(metric(R"(aion_gateway_rejections_total{reason="stream_limit"})"), "2");
}

TEST_F(AdmissionTest, IdempotencyComparesParsedJsonAndReplaysTheFirstAnswer) {
  make(0, 0);
  Principal who{.keyId = "k", .roles = roleBit(Role::kUser), .tenant = "default"};
  int ran = 0;
  auto work = [&]() -> asio::awaitable<Result<IdempotentAnswer>> {
    ++ran;
    co_return IdempotentAnswer{202, json::object{{"taskId", "tsk_" + std::to_string(ran)}}};
  };
  auto first = run(adm->once(who, "k1", json::parse(R"({"a":1,"b":{"x":[1,2]}})"), work));
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->replayed);
  // the same request with keys in another order and other whitespace
  auto again = run(adm->once(who, "k1", json::parse(R"({ "b": {"x": [1, 2]}, "a": 1 })"), work));
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->body, first->body);
  EXPECT_EQ(ran, 1);
  auto other = run(adm->once(who, "k1", json::parse(R"({"a":2})"), work));
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::kConflict);
  Principal beta = who;
  beta.tenant = "beta";  // keys are scoped per tenant
  EXPECT_FALSE(run(adm->once(beta, "k1", json::parse(R"({"a":2})"), work))->replayed);
  EXPECT_FALSE(run(adm->once(who, std::string(256, 'k'), json::object{}, work)));
  EXPECT_FALSE(run(adm->once(who, "bad key", json::object{}, work)));
  EXPECT_EQ(ran, 2);
  EXPECT_EQ(metric(R"(aion_gateway_idempotency_requests_total{outcome="first"})"), "2");
  EXPECT_EQ(metric(R"(aion_gateway_idempotency_requests_total{outcome="replayed"})"), "1");
  EXPECT_EQ(metric(R"(aion_gateway_idempotency_requests_total{outcome="conflict"})"), "1");
}

TEST_F(AdmissionTest, AFailedFirstAttemptLetsTheRetryRun) {
  make(0, 0);
  Principal who{.keyId = "k", .roles = roleBit(Role::kUser), .tenant = "default"};
  bool failNext = true;
  auto work = [&]() -> asio::awaitable<Result<IdempotentAnswer>> {
    if (std::exchange(failNext, false)) co_return fail(ErrorCode::kUnavailable, "store down");
    co_return IdempotentAnswer{202, json::object{{"ok", true}}};
  };
  EXPECT_FALSE(run(adm->once(who, "k2", json::object{{"a", 1}}, work)));
  auto retry = run(adm->once(who, "k2", json::object{{"a", 1}}, work));
  ASSERT_TRUE(retry);
  EXPECT_FALSE(retry->replayed);
}

}  // namespace
}  // namespace aion::gateway
