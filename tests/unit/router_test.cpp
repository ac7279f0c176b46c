// Router v1 cases live in tests/router/cases/*.yaml (STYLE.md §4): a policy
// set (over tests/router/base.yaml), a task, live state, and the expected
// plan or error. Adding a case needs no code.
#include "router/router.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

#include "policy/loader.h"
#include "router/plan_json.h"
#include "temp_dir.h"

namespace aion::router {
namespace {
namespace fs = std::filesystem;

const fs::path kDir = fs::path(AION_TEST_DATA_DIR) / "router";

std::vector<std::string> caseNames() {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(kDir / "cases"))
    if (e.path().extension() == ".yaml") out.push_back(e.path().stem().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string emit(const YAML::Node& n) {
  YAML::Emitter out;
  out << n;
  return out.c_str();
}

struct Loaded {
  policy::PolicySetPtr set;
  std::string errors;
};

Loaded loadCase(const YAML::Node& c, const testing::TempDir& dir) {
  YAML::Node base = YAML::LoadFile((kDir / "base.yaml").string());
  auto section = [&](const char* key) { return c[key] ? c[key] : base[key]; };
  YAML::Node intents;
  intents["intents"] = c["intents"];
  dir.write("p/intents.yml", emit(intents));
  dir.write("p/policies.yml", emit(section("policies")));
  dir.write("p/models.yml", emit(section("models")));
  dir.write("p/modules.yml", emit(section("modules")));
  for (auto m : section("modules")["modules"])
    dir.write("mods/" + m.second["artifact"].as<std::string>(), "x");
  policy::LoadOptions o;
  o.moduleDir = dir.path() / "mods";
  o.trust.allowUnsigned = true;
  auto r = policy::loadPolicyDir(dir.path() / "p", o);
  if (!r) {
    std::string e;
    for (auto& s : r.error()) e += s + "\n";
    return {nullptr, e};
  }
  return {*r, ""};
}

class RouterCase : public ::testing::TestWithParam<std::string> {};

TEST_P(RouterCase, MatchesExpectation) {
  YAML::Node c = YAML::LoadFile((kDir / "cases" / (GetParam() + ".yaml")).string());
  testing::TempDir dir;
  auto loaded = loadCase(c, dir);
  ASSERT_TRUE(loaded.set) << loaded.errors;

  TaskInput task;
  auto t = c["task"];
  task.tenant = t["tenant"] ? t["tenant"].as<std::string>() : "default";
  task.intent = t["intent"].as<std::string>();
  task.paramsBytes = t["params_bytes"].as<size_t>();
  if (t["privacy"]) task.privacy = policy::parsePrivacy(t["privacy"].as<std::string>());
  if (t["budget_usd"]) task.budgetUsd = t["budget_usd"].as<double>();
  if (t["only_route"]) task.onlyRoute = t["only_route"].as<std::string>();
  LiveState live;
  if (auto l = c["live"]) {
    for (auto s : l["latency"])
      live.latency[s.first.as<std::string>()] = {0, s.second["p95"].as<double>(),
                                                 s.second["count"].as<uint64_t>()};
    for (auto u : l["unavailable"])
      live.unavailable[u.first.as<std::string>()] = u.second.as<std::string>();
    for (auto u : l["unavailable_modules"])
      live.unavailableModules[u.first.as<std::string>()] = u.second.as<std::string>();
    for (auto g : l["gpus"]) live.gpus.push_back({g.first.as<std::string>(), g.second.as<int>()});
  }

  auto plan = decide(task, *loaded.set, live);
  auto expect = c["expect"];
  if (expect["error"]) {
    ASSERT_FALSE(plan) << "expected error " << expect["error"].as<std::string>();
    EXPECT_EQ(errorCodeName(plan.error().code), expect["error"].as<std::string>())
        << plan.error().message;
    return;
  }
  ASSERT_TRUE(plan) << plan.error().message;
  std::vector<std::string> got;
  for (auto& r : plan->routes) got.push_back(r.key());
  EXPECT_EQ(got, expect["routes"].as<std::vector<std::string>>());
  if (expect["budget"]) {
    EXPECT_DOUBLE_EQ(plan->budgetUsd, expect["budget"].as<double>());
  }
  auto reasonOf = [&](const std::string& key, bool kept) -> std::string {
    for (auto& cr : plan->candidates)
      if (cr.route.key() == key && cr.kept == kept) return router::reasonOf(cr, plan->budgetUsd);
    return "<no " + std::string(kept ? "kept" : "dropped") + " candidate " + key + ">";
  };
  for (auto d : expect["dropped"]) {
    auto reason = reasonOf(d.first.as<std::string>(), false);
    EXPECT_NE(reason.find(d.second.as<std::string>()), std::string::npos) << reason;
  }
  for (auto d : expect["kept_reason"]) {
    auto reason = reasonOf(d.first.as<std::string>(), true);
    EXPECT_NE(reason.find(d.second.as<std::string>()), std::string::npos) << reason;
  }
  // Every candidate is explained, kept or not; a named route is the only candidate.
  EXPECT_EQ(plan->candidates.size(),
            task.onlyRoute.empty() ? loaded.set->intent(task.intent)->candidates.size() : 1u);

  // A task keeps its plan compact; task views and the route event show it whole.
  auto full = toJson(*plan);
  auto stored = storedJson(*plan);
  EXPECT_FALSE(stored.contains("primary"));
  if (!task.onlyRoute.empty()) {
    EXPECT_FALSE(stored.contains("candidates"));
  }
  EXPECT_EQ(boost::json::serialize(planView(stored)), boost::json::serialize(full));
  EXPECT_EQ(boost::json::serialize(planView(full)), boost::json::serialize(full));
  auto brief = [](const boost::json::object& p) {
    boost::json::object b;
    for (auto& [k, v] : p)
      if (k != "candidates") b.emplace(k, v);
    return b;
  };
  store::Event e;
  e.type = "route";
  e.data = boost::json::object{{"status", "routed"}, {"plan", brief(stored)}};
  boost::json::object shown{{"status", "routed"}, {"plan", brief(full)}};
  EXPECT_EQ(boost::json::serialize(eventDataView(e)), boost::json::serialize(shown));
}

INSTANTIATE_TEST_SUITE_P(Cases, RouterCase, ::testing::ValuesIn(caseNames()),
                         [](const auto& info) { return info.param; });

TEST(Router, DecisionIsDeterministic) {
  YAML::Node c = YAML::LoadFile((kDir / "cases/03_hybrid_remote_first.yaml").string());
  testing::TempDir dir;
  auto loaded = loadCase(c, dir);
  ASSERT_TRUE(loaded.set) << loaded.errors;
  TaskInput task{.tenant = "default", .intent = "redact-chat", .paramsBytes = 400};
  auto a = decide(task, *loaded.set, {});
  auto b = decide(task, *loaded.set, {});
  ASSERT_TRUE(a && b);
  EXPECT_EQ(boost::json::serialize(toJson(*a)), boost::json::serialize(toJson(*b)));
}

TEST(Router, NoRouteCarriesTheExplanation) {
  YAML::Node c = YAML::LoadFile((kDir / "cases/12_no_route.yaml").string());
  testing::TempDir dir;
  auto loaded = loadCase(c, dir);
  ASSERT_TRUE(loaded.set) << loaded.errors;
  auto r = decide({.tenant = "default", .intent = "chat", .paramsBytes = 10}, *loaded.set, {});
  ASSERT_FALSE(r);
  auto& cands = r.error().details.at("candidates").as_array();
  ASSERT_EQ(cands.size(), 1u);
  EXPECT_EQ(cands[0].at("kept"), false);
}

TEST(Router, NamedRouteNoRouteExplainsThatRouteAlone) {
  YAML::Node c = YAML::LoadFile((kDir / "cases/20_named_route_dropped.yaml").string());
  testing::TempDir dir;
  auto loaded = loadCase(c, dir);
  ASSERT_TRUE(loaded.set) << loaded.errors;
  LiveState live;
  live.unavailable["openai"] = "credential OPENAI_API_KEY not set";
  auto r = decide(
      {.tenant = "default", .intent = "chat", .paramsBytes = 10, .onlyRoute = "model:gpt-small"},
      *loaded.set, live);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("gpt-small: provider 'openai' unavailable"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(r.error().message.find("summarize"), std::string::npos) << r.error().message;
  auto& cands = r.error().details.at("candidates").as_array();
  ASSERT_EQ(cands.size(), 1u);
  EXPECT_EQ(cands[0].at("target"), "gpt-small");
}

}  // namespace
}  // namespace aion::router
