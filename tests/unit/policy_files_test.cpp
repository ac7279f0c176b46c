#include "control/policy_files.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include "temp_dir.h"

namespace aion::control {
namespace {

using testing::TempDir;

const char* kIntents = R"(version: 1
intents:
  summarize:
    privacy: local-only
    params_schema: {type: object, required: [text]}
    candidates:
      - module: summarize
)";
const char* kModules = R"(version: 1
modules:
  summarize:
    version: 0.1.0
    kind: wasm
    artifact: summarize.wasm
    intents: [summarize]
)";

struct PolicyFiles : ::testing::Test {
  TempDir dir;
  policy::LoadOptions opts;
  void SetUp() override {
    dir.write("mods/summarize.wasm", "wasm bytes");
    dir.write("p/intents.yml", kIntents);
    dir.write("p/policies.yml", "version: 1\n");
    dir.write("p/models.yml", "version: 1\nproviders: {}\nmodels: {}\n");
    dir.write("p/modules.yml", kModules);
    opts.moduleDir = dir.path() / "mods";
    opts.trust.allowUnsigned = true;
  }
  std::filesystem::path policyDir() const { return dir.path() / "p"; }
  std::string read(const std::string& name) const {
    std::ifstream in(policyDir() / name, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
};

TEST(PolicyFileNames, OnlyTheFourFilesAreAccepted) {
  for (auto n : kPolicyFileNames) EXPECT_TRUE(checkPolicyFileName(n)) << n;
  for (const std::string& bad :
       std::vector<std::string>{"", "../intents.yml", "intents.yml/..", "/etc/passwd", "..", ".",
                                "intents.yaml", "INTENTS.yml", "intents.yml\n", "sub/intents.yml",
                                "intents.yml%00", std::string("intents.yml\0x", 13)}) {
    auto r = checkPolicyFileName(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);
    for (char c : r.error().message) EXPECT_TRUE(c >= 0x20 && c <= 0x7e) << "echoed raw input";
  }
}

TEST_F(PolicyFiles, ReadRefusesOtherNamesAndTooLargeFiles) {
  EXPECT_EQ(*readPolicyFile(policyDir(), "policies.yml", 1 << 20), "version: 1\n");
  EXPECT_FALSE(readPolicyFile(policyDir(), "../p/policies.yml", 1 << 20));
  auto big = readPolicyFile(policyDir(), "intents.yml", 10);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, ErrorCode::kPayloadTooLarge);
}

TEST_F(PolicyFiles, ValidReplacementLoadsWithoutTouchingTheFolder) {
  std::string text = std::string(kIntents) + "    description: edited\n";
  auto before = read("intents.yml");
  auto r = validateReplacement(policyDir(), "policies.yml",
                               "version: 1\nbudget: {default_usd: 0.01}\n", opts);
  ASSERT_TRUE(r) << (r ? "" : r.error().front());
  EXPECT_DOUBLE_EQ((*r)->policies.budget.defaultUsd, 0.01);
  EXPECT_EQ(read("intents.yml"), before);
  EXPECT_EQ(read("policies.yml"), "version: 1\n");
}

TEST_F(PolicyFiles, BrokenReplacementIsLocatedAtItsLine) {
  auto r = validateReplacement(policyDir(), "intents.yml",
                               "version: 1\nintents:\n  summarize:\n    privacy: [oops\n", opts);
  ASSERT_FALSE(r);
  ASSERT_FALSE(r.error().empty());
  auto loc = locatePolicyError(r.error().front());
  EXPECT_EQ(loc.at("file").as_string(), "intents.yml");
  EXPECT_GT(loc.at("line").as_int64(), 0);
  EXPECT_EQ(read("intents.yml"), kIntents);
}

TEST_F(PolicyFiles, CrossFileProblemsAreFoundInTheWholeSet) {
  // modules.yml without the module that intents.yml routes to.
  auto r = validateReplacement(policyDir(), "modules.yml", "version: 1\nmodules: {}\n", opts);
  ASSERT_FALSE(r);
  bool namesIntents = false;
  for (auto& e : r.error()) namesIntents = namesIntents || e.rfind("intents.yml:", 0) == 0;
  EXPECT_TRUE(namesIntents) << r.error().front();
}

TEST_F(PolicyFiles, WriteIsAtomicAndLeavesNoTempFile) {
  auto p = policyDir() / "policies.yml";
  ASSERT_TRUE(writeFileAtomically(p, "version: 1\n# new\n"));
  EXPECT_EQ(read("policies.yml"), "version: 1\n# new\n");
  size_t n = 0;
  for (auto& e : std::filesystem::directory_iterator(policyDir())) (void)e, ++n;
  EXPECT_EQ(n, 4u);
  auto bad = writeFileAtomically(dir.path() / "no-such-dir" / "x.yml", "x");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kUnavailable);
}

TEST(PolicyErrorLocation, SplitsFileLineAndMessage) {
  auto a = locatePolicyError("models.yml:12: models.x.price: must be a number");
  EXPECT_EQ(a.at("file").as_string(), "models.yml");
  EXPECT_EQ(a.at("line").as_int64(), 12);
  EXPECT_EQ(a.at("message").as_string(), "models.x.price: must be a number");
  auto b = locatePolicyError("modules.yml: file is missing");
  EXPECT_EQ(b.at("line").as_int64(), 0);
  EXPECT_EQ(b.at("message").as_string(), "file is missing");
  auto c = locatePolicyError("something else entirely");
  EXPECT_TRUE(c.at("file").is_null());
}

}  // namespace
}  // namespace aion::control
