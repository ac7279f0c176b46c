// Task submissions as POST /v1/tasks reads them: the JSON body (Content-Type
// check, depth limit), the submission's fields (parseSubmit), the params
// against the shipped intents' params_schema (what the control plane does
// before routing), and the canonical text idempotency hashes.
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <cstdint>

#include "common/json_text.h"
#include "fuzz_util.h"
#include "gateway/task_codec.h"
#include "http/handler_util.h"
#include "policy/loader.h"

namespace {
using namespace aion;
policy::PolicySetPtr shipped;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  policy::LoadOptions opts;
  opts.moduleDir = fuzz::scratchDir();  // no artifacts: modules are refused, intents load
  auto set = policy::loadPolicyDir(AION_REPO_DIR "/policies", opts);
  if (!set) fuzz::violated("the shipped policies do not load");
  shipped = *set;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  http::Request req{boost::beast::http::verb::post, "/v1/tasks", 11};
  req.set(boost::beast::http::field::content_type, "application/json");
  req.body().assign(reinterpret_cast<const char*>(data), size);
  auto body = http::parseJsonObject(req);
  if (!body) return 0;
  (void)canonicalJsonText(*body);
  Principal who{"fuzz", roleBit(Role::kUser), "default"};
  auto sub = gateway::parseSubmit(*body, who);
  if (!sub) return 0;
  if (!sub->params.is_object()) fuzz::violated("parseSubmit accepted non-object params");
  if (const auto* intent = shipped->intent(sub->intent)) {
    auto errs = intent->paramsSchema.validate(sub->params);
    if (errs.size() > 20) fuzz::violated("more errors than maxErrors");
    (void)jsonText(sub->params);
  }
  return 0;
}
