#include <gtest/gtest.h>

#include <algorithm>

#include "common/digest.h"
#include "policy/loader.h"
#include "temp_dir.h"

namespace aion::policy {
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
const char* kPolicies = "version: 1\n";
const char* kModels = "version: 1\nproviders: {}\nmodels: {}\n";
const char* kModules = R"(version: 1
modules:
  summarize:
    version: 0.1.0
    kind: wasm
    artifact: summarize.wasm
    intents: [summarize]
)";

// A policy set in a temp dir; tests override single files.
struct Fixture : ::testing::Test {
  TempDir dir;
  void SetUp() override {
    dir.write("mods/summarize.wasm", "wasm bytes");
    write(kIntents, kPolicies, kModels, kModules);
  }
  void write(const char* intents, const char* policies, const char* models, const char* modules) {
    dir.write("p/intents.yml", intents);
    dir.write("p/policies.yml", policies);
    dir.write("p/models.yml", models);
    dir.write("p/modules.yml", modules);
  }
  auto load(size_t maxBytes = 1 << 20) {
    LoadOptions o;
    o.moduleDir = dir.path() / "mods";
    o.maxFileBytes = maxBytes;
    o.trust.allowUnsigned = true;  // inline test modules carry no signature
    return loadPolicyDir(dir.path() / "p", o);
  }
  // The single error expected, or a failure listing what came instead.
  std::vector<std::string> errors() {
    auto r = load();
    if (r) return {};
    return r.error();
  }
};

bool anyStartsWith(const std::vector<std::string>& v, const std::string& prefix) {
  return std::any_of(v.begin(), v.end(), [&](auto& s) { return s.rfind(prefix, 0) == 0; });
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (auto& s : v) out += s + "\n";
  return out;
}

TEST_F(Fixture, ValidMinimalSetLoadsWithSeedDefaults) {
  auto r = load();
  ASSERT_TRUE(r) << join(r.error());
  const PolicySet& s = **r;
  EXPECT_EQ(s.policies.latency.localMs, 600);
  EXPECT_EQ(s.policies.latency.apiMs, 2000);
  EXPECT_EQ(s.policies.latency.hybridMs, 2300);
  EXPECT_DOUBLE_EQ(s.policies.budget.defaultUsd, 0.02);
  EXPECT_DOUBLE_EQ(s.policies.budget.hardCapUsd, 0.20);
  ASSERT_NE(s.intent("summarize"), nullptr);
  EXPECT_EQ(s.intent("summarize")->privacy, PrivacyMode::kLocalOnly);
  EXPECT_EQ(s.modules.at("summarize").artifactPath, (dir.path() / "mods/summarize.wasm").string());
  EXPECT_EQ(s.digest.size(), 16u);
}

TEST_F(Fixture, DigestChangesWithContent) {
  auto a = load();
  dir.write("p/policies.yml", "version: 1\nbudget: {default_usd: 0.01}\n");
  auto b = load();
  ASSERT_TRUE(a && b);
  EXPECT_NE((*a)->digest, (*b)->digest);
}

TEST_F(Fixture, MissingFile) {
  std::filesystem::remove(dir.path() / "p/models.yml");
  auto e = errors();
  ASSERT_EQ(e.size(), 1u) << join(e);
  EXPECT_EQ(e[0], "models.yml: file is missing");
}

TEST_F(Fixture, YamlSyntaxErrorHasLine) {
  dir.write("p/policies.yml", "version: 1\nbudget: {default_usd: [\n");
  auto e = errors();
  ASSERT_FALSE(e.empty());
  EXPECT_TRUE(anyStartsWith(e, "policies.yml:")) << join(e);
  EXPECT_NE(join(e).find("yaml:"), std::string::npos);
}

TEST_F(Fixture, UnknownFieldIsFlaggedWithLineAndPath) {
  write(
      "version: 1\nintents:\n  summarize:\n    privacy: local-only\n    candidate:\n      - "
      "module: summarize\n"
      "    candidates:\n      - module: summarize\n",
      kPolicies, kModels, kModules);
  auto e = errors();
  ASSERT_EQ(e.size(), 1u) << join(e);
  EXPECT_EQ(e[0], "intents.yml:5: intents.summarize.candidate: unknown field");
}

TEST_F(Fixture, InvalidPrivacy) {
  write("intents:\n  summarize:\n    privacy: public\n    candidates: [{module: summarize}]\n",
        kPolicies, kModels, kModules);
  auto e = errors();
  ASSERT_EQ(e.size(), 1u) << join(e);
  EXPECT_EQ(e[0],
            "intents.yml:3: intents.summarize.privacy: must be local-only, hybrid or allow-api");
}

TEST_F(Fixture, CandidateReferencesUnknownModuleAndUndeclaredIntent) {
  write(
      "intents:\n  summarize:\n    privacy: local-only\n    candidates: [{module: nope}]\n"
      "  other:\n    privacy: local-only\n    candidates: [{module: summarize}]\n",
      kPolicies, kModels, kModules);
  auto e = errors();
  ASSERT_EQ(e.size(), 2u) << join(e);
  EXPECT_NE(join(e).find("unknown module 'nope'"), std::string::npos);
  EXPECT_NE(join(e).find("module 'summarize' does not declare intent 'other'"), std::string::npos);
}

TEST_F(Fixture, LocalOnlyIntentMayNotListRemoteModel) {
  write(
      "intents:\n  summarize:\n    privacy: local-only\n    candidates: [{model: gpt}, {model: "
      "llama}]\n",
      kPolicies,
      "providers:\n  openai: {kind: openai, base_url: 'https://api.openai.com/v1'}\n"
      "  ollama: {kind: ollama, base_url: 'http://127.0.0.1:11434', local: true}\n"
      "models:\n  gpt: {provider: openai}\n  llama: {provider: ollama}\n",
      kModules);
  auto e = errors();
  ASSERT_EQ(e.size(), 1u) << join(e);
  EXPECT_NE(e[0].find("model 'gpt' is remote"), std::string::npos) << e[0];
}

TEST_F(Fixture, BudgetDefaultAboveHardCap) {
  dir.write("p/policies.yml", "version: 1\nbudget: {default_usd: 0.5, hard_cap_usd: 0.2}\n");
  auto e = errors();
  ASSERT_EQ(e.size(), 1u) << join(e);
  EXPECT_EQ(e[0], "policies.yml:2: budget.default_usd: must not exceed budget.hard_cap_usd");
}

TEST_F(Fixture, OutOfRangeAndWrongTypes) {
  dir.write("p/policies.yml", "latency_targets_ms: {local: -5, api: fast}\n");
  auto e = errors();
  ASSERT_EQ(e.size(), 2u) << join(e);
  EXPECT_NE(join(e).find("latency_targets_ms.local: must be between 1 and 600000"),
            std::string::npos);
  EXPECT_NE(join(e).find("latency_targets_ms.api: must be an integer"), std::string::npos);
}

TEST_F(Fixture, Sha256IsChecked) {
  std::string good = sha256Hex("wasm bytes");
  std::string modules = std::string(kModules) + "    sha256: " + good + "\n";
  write(kIntents, kPolicies, kModels, modules.c_str());
  EXPECT_TRUE(load());
  std::string bad = std::string(kModules) + "    sha256: " + std::string(64, 'a') + "\n";
  write(kIntents, kPolicies, kModels, bad.c_str());
  // A bad digest refuses that module; the set still loads and says why.
  auto r = load();
  ASSERT_TRUE(r) << join(r.error());
  auto& v = (*r)->modules.at("summarize").verification;
  EXPECT_EQ(v.state, Verification::State::kRefused);
  EXPECT_NE(v.reason.find("artifact is sha256:" + good), std::string::npos) << v.reason;
  std::string malformed = std::string(kModules) + "    sha256: nothex\n";
  write(kIntents, kPolicies, kModels, malformed.c_str());
  EXPECT_TRUE(anyStartsWith(errors(), "modules.yml:8: modules.summarize.sha256")) << join(errors());
}

TEST_F(Fixture, MissingArtifact) {
  std::filesystem::remove(dir.path() / "mods/summarize.wasm");
  auto r = load();
  ASSERT_TRUE(r) << join(r.error());
  auto& v = (*r)->modules.at("summarize").verification;
  EXPECT_FALSE((*r)->modules.at("summarize").usable());
  EXPECT_NE(v.reason.find("artifact not found"), std::string::npos) << v.reason;
  // A directory is refused the same way (reading one used to throw out of the loader).
  std::filesystem::create_directories(dir.path() / "mods/summarize.wasm");
  r = load();
  ASSERT_TRUE(r) << join(r.error());
  EXPECT_NE((*r)->modules.at("summarize").verification.reason.find("artifact not found"),
            std::string::npos);
}

TEST_F(Fixture, UnsignedRefusedUnlessAllowed) {
  LoadOptions o;
  o.moduleDir = dir.path() / "mods";
  auto r = loadPolicyDir(dir.path() / "p", o);
  ASSERT_TRUE(r) << join(r.error());
  auto& v = (*r)->modules.at("summarize").verification;
  EXPECT_EQ(v.state, Verification::State::kRefused);
  EXPECT_NE(v.reason.find("AION_MODULES_ALLOW_UNSIGNED"), std::string::npos) << v.reason;
  auto allowed = load();
  ASSERT_TRUE(allowed);
  EXPECT_EQ((*allowed)->modules.at("summarize").verification.state, Verification::State::kUnsigned);
}

TEST_F(Fixture, UnsupportedSchemaKeyword) {
  write(
      "intents:\n  summarize:\n    privacy: local-only\n    params_schema: {type: object, pattern: "
      "'x'}\n"
      "    candidates: [{module: summarize}]\n",
      kPolicies, kModels, kModules);
  auto e = errors();
  ASSERT_EQ(e.size(), 1u) << join(e);
  EXPECT_NE(e[0].find("intents.summarize.params_schema.pattern: unsupported schema keyword"),
            std::string::npos);
}

TEST_F(Fixture, OversizedFileRejected) {
  auto r = load(16);
  ASSERT_FALSE(r);
  EXPECT_TRUE(anyStartsWith(r.error(), "intents.yml: file is larger than 16 bytes"))
      << join(r.error());
}

TEST_F(Fixture, ErrorsFromAllFilesReportedTogether) {
  write("intents:\n  summarize:\n    privacy: nope\n    candidates: [{module: summarize}]\n",
        "budget: 3\n", "models: {m: {provider: ghost}}\n", "modules: {x: {kind: subprocess}}\n");
  auto e = errors();
  EXPECT_TRUE(anyStartsWith(e, "intents.yml:")) << join(e);
  EXPECT_TRUE(anyStartsWith(e, "policies.yml:")) << join(e);
  EXPECT_TRUE(anyStartsWith(e, "models.yml:")) << join(e);
  EXPECT_TRUE(anyStartsWith(e, "modules.yml:")) << join(e);
  EXPECT_NE(join(e).find("modules.x.artifact: is required"), std::string::npos) << join(e);
}

TEST_F(Fixture, HostileInputDoesNotCrash) {
  // Aliases, deep nesting, binary garbage, a non-mapping top level.
  const char* hostile[] = {"a: &x [*x]\n",
                           "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
                           "\xff\xfe\x00garbage",
                           "- just\n- a list\n",
                           "intents: 5\n",
                           ""};
  for (auto* h : hostile) {
    dir.write("p/intents.yml", h);
    EXPECT_FALSE(load()) << h;
  }
}

// Found by the policy_yaml fuzz target: aliases make a document a graph. A
// node that contains itself sent yamlToJson into endless recursion (a stack
// overflow) and made the loaders insert into a map they were iterating; a
// few lines of aliases expanded to millions of nodes.
TEST_F(Fixture, AliasCyclesDepthAndExpansionAreRefused) {
  write(R"(version: 1
intents:
  summarize:
    privacy: local-only
    params_schema: &s {type: object, properties: {a: *s}}
    candidates: [{module: summarize}]
)",
        kPolicies, kModels, kModules);
  auto e = errors();
  EXPECT_NE(join(e).find("intents.yml: yaml: an alias refers to a node that contains it"),
            std::string::npos)
      << join(e);

  write(kIntents, kPolicies, "version: 1\nproviders: &p {a: *p, b: {kind: openai}}\n", kModules);
  e = errors();
  EXPECT_NE(join(e).find("models.yml: yaml: an alias"), std::string::npos) << join(e);

  std::string laughs = "version: 1\nintents:\n  summarize:\n    privacy: local-only\n";
  laughs += "    candidates: [{module: summarize}]\n    params_schema:\n      type: object\n";
  laughs += "      title: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i <= 6; ++i) {
    std::string prev = "*a" + std::to_string(i - 1);
    laughs += "      t" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) laughs += (j ? ", " : "") + prev;
    laughs += "]\n";
  }
  write(laughs.c_str(), kPolicies, kModels, kModules);
  e = errors();
  EXPECT_NE(join(e).find("intents.yml: yaml: too many nodes once aliases are expanded"),
            std::string::npos)
      << join(e);

  std::string deep = "version: 1\nbudget: {default_usd: 0.01}\ntenants: {t: {x: ";
  deep += std::string(70, '[') + std::string(70, ']') + "}}\n";
  write(kIntents, deep.c_str(), kModels, kModules);
  e = errors();
  EXPECT_NE(join(e).find("policies.yml: yaml: nested deeper than 64 levels"), std::string::npos)
      << join(e);

  // Aliases that form no cycle stay allowed.
  write(R"(version: 1
intents:
  summarize:
    privacy: local-only
    params_schema: {type: object, properties: {a: &str {type: string}, b: *str}}
    candidates: [{module: summarize}]
)",
        kPolicies, kModels, kModules);
  auto r = load();
  EXPECT_TRUE(r) << join(r.error());
}

TEST(ShippedPolicies, LoadWithBuiltModules) {
  TempDir mods;
  mods.write("summarize.wasm", "x");
  mods.write("classify.wasm", "y");
  mods.write("redact.wasm", "z");
  LoadOptions o;
  o.moduleDir = mods.path();
  auto r = loadPolicyDir(std::filesystem::path(AION_REPO_DIR) / "policies", o);
  ASSERT_TRUE(r) << join(r.error());
  EXPECT_TRUE((*r)->intent("summarize"));
  EXPECT_TRUE((*r)->intent("classify"));
  ASSERT_TRUE((*r)->intent("chat-hybrid"));
  EXPECT_EQ((*r)->intent("chat-hybrid")->redactModule, "redact");
  EXPECT_EQ((*r)->intent("chat")->candidates.back().target, "summarize");  // the local fallback
  EXPECT_EQ((*r)->intent("retrieve")->vectors, VectorMode::kSearch);
  EXPECT_EQ((*r)->intent("chat")->vectors, VectorMode::kContext);
  EXPECT_EQ((*r)->vectorModule, "embed");
}

TEST_F(Fixture, VectorsLoadAndAreValidated) {
  const char* modules = R"(version: 1
modules:
  summarize:
    version: 0.1.0
    kind: wasm
    artifact: summarize.wasm
    intents: [summarize, find]
  other:
    version: 0.1.0
    kind: wasm
    artifact: summarize.wasm
    intents: [find]
)";
  write(R"(version: 1
intents:
  find:
    privacy: local-only
    vectors: {mode: search, module: summarize}
    candidates:
      - module: summarize
  summarize:
    privacy: local-only
    vectors: {mode: context, module: summarize}
    candidates:
      - module: summarize
)",
        kPolicies, kModels, modules);
  auto ok = load();
  ASSERT_TRUE(ok) << join(ok.error());
  EXPECT_EQ((*ok)->intent("find")->vectors, VectorMode::kSearch);
  EXPECT_EQ((*ok)->intent("summarize")->vectors, VectorMode::kContext);
  EXPECT_EQ((*ok)->vectorModule, "summarize");

  write(R"(version: 1
intents:
  find:
    privacy: local-only
    vectors: {mode: search, module: summarize}
    candidates:
      - module: other
  summarize:
    privacy: local-only
    vectors: {mode: nearest, module: other}
    candidates:
      - module: summarize
)",
        kPolicies, kModels, modules);
  auto e = errors();
  for (const char* want :
       {"intents.yml:7: intents.find.candidates: a search intent",
        "intents.yml:10: intents.summarize.vectors.mode: must be search or context",
        "intents.yml:10: intents.summarize.vectors.module: every intent must embed"})
    EXPECT_TRUE(anyStartsWith(e, want)) << want << "\n" << join(e);

  write(R"(version: 1
intents:
  summarize:
    privacy: local-only
    vectors: true
    candidates:
      - module: summarize
)",
        kPolicies, kModels, kModules);
  EXPECT_TRUE(anyStartsWith(errors(), "intents.yml:5: intents.summarize.vectors: must be"))
      << join(errors());
  write(R"(version: 1
intents:
  summarize:
    privacy: local-only
    vectors: false
    candidates:
      - module: summarize
)",
        kPolicies, kModels, kModules);
  auto none = load();
  ASSERT_TRUE(none) << join(none.error());
  EXPECT_EQ((*none)->intent("summarize")->vectors, VectorMode::kNone);
  EXPECT_EQ((*none)->vectorModule, "");
}

TEST_F(Fixture, ProvidersModelsBudgetsAndRedactionAreValidated) {
  write(R"(version: 1
intents:
  summarize:
    privacy: hybrid
    redaction: {module: nosuch}
    candidates:
      - module: summarize
)",
        R"(version: 1
budgets:
  tenants:
    "*": {day_usd: -1}
    acme: {}
  keys:
    k1: {week_usd: 3}
)",
        R"(version: 1
providers:
  p1: {kind: openai}
  p2: {kind: azure, base_url_env: AZ, api: tgi}
  p3: {kind: huggingface, base_url: "http://h", api: grpc, timeouts_ms: {read: 0}, retries: {max: 99}}
models:
  m1: {provider: p1, type: image}
)",
        kModules);
  auto e = errors();
  for (const char* want :
       {"models.yml:3: providers.p1: needs base_url or base_url_env",
        "models.yml:4: providers.p2.api: only for kind huggingface",
        "models.yml:5: providers.p3.api: must be tgi or openai",
        "models.yml:5: providers.p3.timeouts_ms.read: must be",
        "models.yml:5: providers.p3.retries.max: must be",
        "models.yml:7: models.m1.type: must be chat or embedding",
        "policies.yml:4: budgets.tenants.*.day_usd: must be",
        "policies.yml:5: budgets.tenants.acme: needs day_usd or month_usd",
        "policies.yml:7: budgets.keys.k1.week_usd: unknown field",
        "intents.yml:5: intents.summarize.redaction.module: unknown module 'nosuch'"})
    EXPECT_TRUE(anyStartsWith(e, want)) << want << "\n got: " << ::testing::PrintToString(e);
}

TEST_F(Fixture, ProviderDefaultsAndBudgetsLoad) {
  write(kIntents, "version: 1\nbudgets: {tenants: {acme: {day_usd: 1.5, month_usd: 20}}}\n",
        R"(version: 1
providers:
  az: {kind: azure, base_url_env: AZURE_OPENAI_ENDPOINT, credential_env: AZURE_OPENAI_API_KEY}
  hf: {kind: huggingface, base_url: "https://hf.example"}
models:
  dep: {provider: az, model_env: AZURE_OPENAI_DEPLOYMENT}
)",
        kModules);
  auto r = load();
  ASSERT_TRUE(r) << ::testing::PrintToString(r.error());
  auto& ps = **r;
  EXPECT_EQ(ps.providers.at("az").apiVersion, "2024-10-21");
  EXPECT_EQ(ps.providers.at("hf").api, "tgi");
  EXPECT_EQ(ps.providers.at("az").retries.max, 2);
  EXPECT_EQ(ps.models.at("dep").upstream, "dep");
  EXPECT_EQ(ps.models.at("dep").type, "chat");
  EXPECT_EQ(*ps.policies.tenantBudgets.at("acme").dayUsd, 1.5);
  EXPECT_EQ(*ps.policies.tenantBudgets.at("acme").monthUsd, 20);
}

}  // namespace
}  // namespace aion::policy
