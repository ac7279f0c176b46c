// The policy files (docs/policies.md) as aiond loads them at start-up and on
// reload: policies.yml, models.yml, modules.yml and intents.yml read and
// validated as one set, with cross-references (intents to models and
// modules), params schemas, module manifests named by modules.yml and the
// module registry.
//
// Input: "=== policies.yml", "=== models.yml", "=== modules.yml" and
// "=== intents.yml" sections; a missing section is a missing file. The
// module dir holds the signed fixture of module_fixture.h (echo.module.json,
// module.wasm, ...) and a registry with one module, echo-reg.
#include <spdlog/spdlog.h>

#include <cstdint>

#include "fuzz_util.h"
#include "module_fixture.h"
#include "policy/loader.h"

namespace {
using namespace aion;
namespace fs = std::filesystem;
fs::path moduleDir, policyDir;
constexpr const char* kFiles[] = {"policies.yml", "models.yml", "modules.yml", "intents.yml"};
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  moduleDir = fuzz::scratchDir() / "modules";
  policyDir = fuzz::scratchDir() / "policies";
  fs::create_directories(moduleDir);
  fs::create_directories(policyDir);
  fuzz::writeModuleFixture(moduleDir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (fuzz::namesSpecialFile(text)) return 0;
  auto sections = fuzz::sections(text);
  for (const char* f : kFiles) {
    auto it = sections.find(f);
    if (it == sections.end())
      fs::remove(policyDir / f);
    else
      fuzz::writeText(policyDir / f, it->second);
  }
  policy::LoadOptions opts;
  opts.moduleDir = moduleDir;
  opts.registryDir = moduleDir / "registry";
  opts.trust = fuzz::fixtureTrust(false);
  opts.maxFileBytes = 64 << 10;
  auto set = policy::loadPolicyDir(policyDir, opts);
  if (!set) {
    if (set.error().empty()) fuzz::violated("a refused policy set without a reason");
    return 0;
  }
  // What a loaded set promises its readers (the router, the control plane).
  for (auto& [name, in] : (*set)->intents) {
    if (in.candidates.empty()) fuzz::violated("an intent without candidates");
    for (auto& c : in.candidates) {
      bool known = c.kind == policy::RouteKind::kModule ? (*set)->modules.count(c.target) > 0
                                                        : (*set)->models.count(c.target) > 0;
      if (!known) fuzz::violated("a candidate naming an unknown route");
    }
  }
  for (auto& [name, m] : (*set)->models)
    if (!(*set)->providers.count(m.provider)) fuzz::violated("a model of an unknown provider");
  return 0;
}
