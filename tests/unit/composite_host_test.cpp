// CompositeModuleHost: dispatch by kind, manifest schemas, per-module
// concurrency. The per-kind hosts are stood in by a small scripted host so
// the composite's own rules are what is tested.
#include "modhost/composite_host.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <thread>

namespace aion::modhost {
namespace {
namespace json = boost::json;

// Answers {"kind": K, "echo": input} after params.ms milliseconds.
class ScriptedHost final : public ModuleHost {
 public:
  explicit ScriptedHost(std::string kind) : kind_(std::move(kind)) {}
  std::expected<void, std::vector<std::string>> load(const policy::PolicySet& set) override {
    if (set.modules.count("poison-" + kind_))
      return std::unexpected(std::vector<std::string>{"bad"});
    loadedNames.clear();
    for (auto& [n, _] : set.modules) loadedNames.push_back(n);
    return {};
  }
  std::vector<std::string> loadedNames;
  Result<CallResult> call(const std::string&, std::string_view input,
                          const CallOptions& opts) override {
    auto in = json::parse(input).as_object();
    int ms = in.contains("ms") ? static_cast<int>(in["ms"].as_int64()) : 0;
    if (ms > opts.timeoutMs) {
      std::this_thread::sleep_for(std::chrono::milliseconds(opts.timeoutMs));
      return fail(ErrorCode::kTimeout, "slow");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    ++calls;
    return CallResult{json::object{{"kind", kind_}, {"echo", in}}, 0, ""};
  }
  json::array describe() const override { return {}; }
  std::atomic<int> calls{0};

 private:
  std::string kind_;
};

struct CompositeTest : ::testing::Test {
  ScriptedHost* wasm = nullptr;
  ScriptedHost* sub = nullptr;
  std::unique_ptr<CompositeModuleHost> host;
  policy::PolicySet set;

  void SetUp() override {
    std::map<std::string, std::unique_ptr<ModuleHost>> hosts;
    auto w = std::make_unique<ScriptedHost>("wasm");
    auto s = std::make_unique<ScriptedHost>("subprocess");
    wasm = w.get();
    sub = s.get();
    hosts["wasm"] = std::move(w);
    hosts["subprocess"] = std::move(s);
    host = std::make_unique<CompositeModuleHost>(std::move(hosts));
  }
  policy::Module& add(const std::string& name, const std::string& kind) {
    auto& m = set.modules[name];
    m.name = name;
    m.verification = {policy::Verification::State::kUnsigned, "test module", {}, {}};
    m.kind = kind;
    return m;
  }
  Result<CallResult> call(const std::string& name, const std::string& in, int timeoutMs = 2000) {
    return host->call(name, in, {.timeoutMs = timeoutMs, .cancel = nullptr});
  }
};

TEST_F(CompositeTest, DispatchesByKindAndSkipsRefusedModules) {
  add("a", "wasm");
  add("b", "subprocess");
  add("bad", "wasm").verification = {
      policy::Verification::State::kRefused, "digest mismatch", {}, {}};
  ASSERT_TRUE(host->load(set));
  EXPECT_EQ(call("a", "{}")->output.at("kind"), "wasm");
  EXPECT_EQ(call("b", "{}")->output.at("kind"), "subprocess");
  auto r = call("bad", "{}");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(wasm->calls + sub->calls, 2);
}

TEST_F(CompositeTest, UnknownKindRejectsTheSet) {
  add("a", "wasm");
  ASSERT_TRUE(host->load(set));
  add("gpu", "cuda");
  auto r = host->load(set);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().front().find("modules.gpu: kind 'cuda'"), std::string::npos);
  EXPECT_TRUE(call("a", "{}"));  // the previous set still serves
}

TEST_F(CompositeTest, AFailedLoadPutsEveryHostBackOnTheLastGoodSet) {
  add("a", "wasm");
  add("b", "subprocess");
  ASSERT_TRUE(host->load(set));
  set.modules.erase("a");
  add("c", "wasm");
  add("poison-subprocess", "subprocess");  // the subprocess host refuses this set
  ASSERT_FALSE(host->load(set));
  EXPECT_EQ(wasm->loadedNames, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(call("a", "{}"));
}

TEST_F(CompositeTest, InputAndOutputSchemas) {
  auto& m = add("a", "wasm");
  m.inputSchema = policy::JsonSchema(json::parse(R"({"type":"object","required":["text"]})"));
  m.outputSchema = policy::JsonSchema(json::parse(R"({"type":"object","required":["summary"]})"));
  ASSERT_TRUE(host->load(set));
  auto in = call("a", "{}");
  ASSERT_FALSE(in);
  EXPECT_EQ(in.error().code, ErrorCode::kInvalidParams);
  EXPECT_NE(in.error().message.find("input_schema"), std::string::npos) << in.error().message;
  EXPECT_EQ(wasm->calls, 0);  // never reached the module
  auto out = call("a", R"({"text":"x"})");
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code, ErrorCode::kModuleFailed);
  EXPECT_NE(out.error().message.find("output does not match its output_schema: output"),
            std::string::npos)
      << out.error().message;
}

TEST_F(CompositeTest, ConcurrencyLimitMakesCallsWaitThenTimeOut) {
  add("one", "subprocess").limits.concurrency = 1;
  ASSERT_TRUE(host->load(set));
  std::atomic<bool> started{false};
  std::jthread holder([&] {
    started = true;
    EXPECT_TRUE(call("one", R"({"ms":600})"));
  });
  while (!started) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto r = call("one", R"({"ms":0})", 100);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
  EXPECT_NE(r.error().message.find("concurrency limit (1) reached"), std::string::npos);
  // A caller with time to spare gets the slot once it frees.
  auto waited = call("one", R"({"ms":0})", 3000);
  EXPECT_TRUE(waited);
}

TEST_F(CompositeTest, CancelWhileWaitingForASlot) {
  add("one", "wasm").limits.concurrency = 1;
  ASSERT_TRUE(host->load(set));
  std::jthread holder([&] { (void)call("one", R"({"ms":800})"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::atomic<bool> cancel{true};
  auto r = host->call("one", "{}", {.timeoutMs = 3000, .cancel = &cancel});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kCanceled);
}

}  // namespace
}  // namespace aion::modhost
