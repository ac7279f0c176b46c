#include "control/control_api.h"

namespace aion::control {

Result<ModelEntry> findModel(const std::vector<ModelEntry>& models, const std::string& name,
                             const std::string& intent) {
  const ModelEntry* other = nullptr;
  for (auto& m : models) {
    bool match = m.id == name;
    for (auto& a : m.aliases) match = match || a == name;
    if (!match) continue;
    if (intent.empty() || m.intent == intent) return m;
    other = &m;
  }
  if (other)
    return fail(ErrorCode::kInvalidRequest,
                "model '" + name + "' serves " + other->intent + ", not " + intent,
                {{"param", "model"}, {"openaiCode", "model_not_supported"}});
  return fail(ErrorCode::kNotFound,
              "The model '" + name +
                  "' does not exist or you do not have access to it (GET /v1/models lists them).",
              {{"param", "model"}, {"openaiCode", "model_not_found"}});
}

}  // namespace aion::control
