// W3C trace context parsing, the ids aionOS makes, and the metrics' label sets.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <thread>

#include "telemetry/metrics.h"
#include "telemetry/trace.h"
#include "telemetry/tracer.h"

namespace aion::telemetry {
namespace {

TEST(Trace, ParsesTraceparentAndRefusesWhatTheSpecRefuses) {
  auto tp = parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(tp);
  EXPECT_EQ(tp->traceId, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(tp->parentId, "00f067aa0ba902b7");
  EXPECT_TRUE(tp->sampled);
  EXPECT_FALSE(
      parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")->sampled);
  // A later version may carry more fields after the flags.
  EXPECT_TRUE(parseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"));
  for (const char* bad :
       {"",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",       // no flags
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    // upper case
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // zero parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // version ff
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // 00 has no more fields
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",  // dashes misplaced
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bg-01"}) {
    EXPECT_FALSE(parseTraceparent(bad)) << bad;
  }
}

TEST(Trace, TracestateIsCheckedAndPassedOnNormalised) {
  // Several header lines arrive joined by commas; blanks and empty members go.
  EXPECT_EQ(parseTracestate("congo=t61rcWkgMzE, rojo=00f067aa0ba902b7"),
            "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
  EXPECT_EQ(parseTracestate(" ,\tvendor@sys=a b,,"), "vendor@sys=a b");
  EXPECT_EQ(parseTracestate("0tenant@aws=1"),
            "0tenant@aws=1");  // a tenant id may start with a digit
  EXPECT_EQ(parseTracestate(""), "");
  EXPECT_EQ(parseTracestate("k=v \t"), "k=v");  // blanks around a member are not its value
  for (const char* bad : {"novalue", "Upper=1", "0key=1", "k=a,k=b", "k=a=b", "k=\x01",
                          "t@sys-too-long-id=1", "@sys=1", "t@=1", "k= "}) {
    EXPECT_FALSE(parseTracestate(bad)) << bad;
  }
  std::string many;
  for (int i = 0; i < 33; ++i) many += "k" + std::to_string(i) + "=v,";
  EXPECT_FALSE(parseTracestate(many)) << "33 members";
  many.resize(many.rfind("k32"));
  EXPECT_TRUE(parseTracestate(many)) << "32 members";

  // Over 512 characters: members over 128 characters go first, then from the end.
  std::string longValue(200, 'x'), mid(100, 'y');
  std::string big =
      "a=" + mid + ",b=" + longValue + ",c=" + mid + ",d=" + mid + ",e=" + mid + ",f=" + longValue;
  auto cut = parseTracestate(big);
  ASSERT_TRUE(cut);
  EXPECT_EQ(*cut, "a=" + mid + ",c=" + mid + ",d=" + mid + ",e=" + mid);
  EXPECT_LE(cut->size(), 512u);
  std::string small = "a=" + mid;
  for (char k = 'b'; k <= 'h'; ++k) small += std::string(",") + k + "=" + mid;  // 8 x 102 + 7
  cut = parseTracestate(small);
  ASSERT_TRUE(cut);
  EXPECT_EQ(cut->size(), 4u * 102 + 3) << "whole members from the end (5 would be 514)";
  EXPECT_EQ(cut->substr(0, 2), "a=");
}

TEST(Trace, TracestateIsKeptOnlyWithAValidTraceparent) {
  auto j = joinTrace("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "congo=t61");
  EXPECT_EQ(j.traceId, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(j.traceState, "congo=t61");
  // A new trace has no caller's state to pass on.
  EXPECT_EQ(joinTrace("garbage", "congo=t61").traceState, "");
  EXPECT_EQ(joinTrace("", "congo=t61").traceState, "");
  // A malformed tracestate is dropped whole; the trace is still joined.
  j = joinTrace("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "Bad Key=1");
  EXPECT_EQ(j.traceId, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(j.traceState, "");
}

TEST(Trace, NewIdsAreValidAndDistinct) {
  auto a = newTraceId(), b = newTraceId();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  auto span = newSpanId();
  EXPECT_EQ(span.size(), 16u);
  auto header = traceparent(a, span);
  auto back = parseTraceparent(header);
  ASSERT_TRUE(back) << header;
  EXPECT_EQ(back->traceId, a);
  EXPECT_EQ(back->parentId, span);
  EXPECT_TRUE(back->sampled);
}

namespace aion::telemetry {
namespace {

std::optional<std::string> none(const char*) {
  return std::nullopt;
}

TEST(Tracer, OptionsFromTheStandardVariables) {
  auto off = tracerOptionsFromEnv(none);
  ASSERT_TRUE(off);
  EXPECT_TRUE(off->endpoint.empty());
  std::map<std::string, std::string> env{{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/"},
                                         {"OTEL_SERVICE_NAME", "gw"},
                                         {"OTEL_TRACES_SAMPLER", "traceidratio"},
                                         {"OTEL_TRACES_SAMPLER_ARG", "0.25"}};
  auto look = [&](const char* k) -> std::optional<std::string> {
    auto it = env.find(k);
    return it == env.end() ? std::nullopt : std::optional(it->second);
  };
  auto o = tracerOptionsFromEnv(look);
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->endpoint, "http://c:4318/v1/traces");
  EXPECT_EQ(o->serviceName, "gw");
  EXPECT_DOUBLE_EQ(o->ratio, 0.25);
  env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = "http://t:1/x";  // the signal's own wins
  EXPECT_EQ(tracerOptionsFromEnv(look)->endpoint, "http://t:1/x");
  env["OTEL_SDK_DISABLED"] = "true";
  EXPECT_TRUE(tracerOptionsFromEnv(look)->endpoint.empty());
  env.erase("OTEL_SDK_DISABLED");
  for (auto [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://t:1/x"},
           {"OTEL_TRACES_SAMPLER", "sometimes"},
           {"OTEL_TRACES_SAMPLER_ARG", "1.5"},
           {"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}}) {
    auto saved = env;
    env[k] = v;
    auto bad = tracerOptionsFromEnv(look);
    ASSERT_FALSE(bad) << k;
    EXPECT_EQ(bad.error().message.rfind(k.substr(0, 26), 0), 0u) << bad.error().message;
    env = saved;
  }
}

TEST(Tracer, SamplersFollowTheParentOrTheRatio) {
  Metrics m;
  TracerOptions o;
  o.endpoint = "http://127.0.0.1:9/v1/traces";  // never reached: nothing is recorded here
  Tracer parentBased(o, m);
  EXPECT_TRUE(parentBased.sample(newTraceId(), std::nullopt));
  EXPECT_FALSE(parentBased.sample(newTraceId(), false));
  EXPECT_TRUE(parentBased.sample(newTraceId(), true));
  o.sampler = "traceidratio";
  o.ratio = 0.5;
  Tracer ratio(o, m);
  EXPECT_TRUE(ratio.sample("00000000000000000000000000000001", false));  // ignores the parent
  EXPECT_FALSE(ratio.sample("0000000000000000ffffffffffffffff", true));
  o.sampler = "always_off";
  EXPECT_FALSE(Tracer(o, m).sample(newTraceId(), true));
  TracerOptions off;
  EXPECT_FALSE(Tracer(off, m).sample(newTraceId(), true));
}

}  // namespace
}  // namespace aion::telemetry

// Each thread remembers the children of the label sets it has recorded;
// that memory must never mix label sets or hand one instance's child to
// another instance.
TEST(Metrics, RememberedLabelSetsStayApartAndBelongToTheirInstance) {
  auto line = [](const std::string& text, const std::string& prefix) {
    auto at = text.find(prefix);
    if (at == std::string::npos) return std::string();
    return text.substr(at, text.find('\n', at) - at);
  };
  {
    Metrics m;
    for (int i = 0; i < 3; ++i) m.taskFinished("summarize", "succeeded", 0.01);
    m.taskFinished("summarize", "failed", 0.01);
    m.taskFinished("chat", "succeeded", 0.01);
    // The same values under other names are another label set.
    m.spend("openai", "gpt-4o-mini", "t1", 5, 7, 0.5);
    auto text = m.serialize();
    EXPECT_EQ(line(text, "aion_tasks_finished_total{intent=\"summarize\",status=\"succeeded\"}"),
              "aion_tasks_finished_total{intent=\"summarize\",status=\"succeeded\"} 3");
    EXPECT_EQ(line(text, "aion_tasks_finished_total{intent=\"summarize\",status=\"failed\"}"),
              "aion_tasks_finished_total{intent=\"summarize\",status=\"failed\"} 1");
    EXPECT_EQ(line(text, "aion_tasks_finished_total{intent=\"chat\",status=\"succeeded\"}"),
              "aion_tasks_finished_total{intent=\"chat\",status=\"succeeded\"} 1");
    EXPECT_NE(text.find("direction=\"prompt\",model=\"gpt-4o-mini\",provider=\"openai\","
                        "tenant=\"t1\"} 5"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("direction=\"completion\",model=\"gpt-4o-mini\",provider=\"openai\","
                        "tenant=\"t1\"} 7"),
              std::string::npos);
  }
  // A new instance (maybe at the old one's address) starts from zero.
  Metrics again;
  again.taskFinished("summarize", "succeeded", 0.01);
  EXPECT_EQ(line(again.serialize(),
                 "aion_tasks_finished_total{intent=\"summarize\",status=\"succeeded\"}"),
            "aion_tasks_finished_total{intent=\"summarize\",status=\"succeeded\"} 1");
  // Another thread records into the same children.
  std::thread([&] { again.taskFinished("summarize", "succeeded", 0.01); }).join();
  EXPECT_EQ(line(again.serialize(),
                 "aion_tasks_finished_total{intent=\"summarize\",status=\"succeeded\"}"),
            "aion_tasks_finished_total{intent=\"summarize\",status=\"succeeded\"} 2");
}

}  // namespace
}  // namespace aion::telemetry
