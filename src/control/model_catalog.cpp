#include "control/model_catalog.h"

namespace aion::control {

std::vector<ModelEntry> modelCatalog(const policy::PolicySet& ps) {
  std::vector<ModelEntry> out;
  for (const char* name : {"chat", "embed"}) {
    const auto* intent = ps.intent(name);
    if (!intent) continue;
    out.push_back({.id = std::string(name) == "chat" ? "auto" : "auto-embed",
                   .intent = name,
                   .ownedBy = "aionos"});
    for (auto& c : intent->candidates) {
      ModelEntry e;
      e.intent = name;
      e.route = std::string(policy::routeKindName(c.kind)) + ":" + c.target;
      if (c.kind == policy::RouteKind::kModule) {
        e.id = e.route;
        e.ownedBy = "aionos";
      } else {
        const auto& m = ps.models.at(c.target);
        e.id = c.target;
        e.ownedBy = m.provider;
        e.aliases.push_back(m.provider + "/" + m.upstream);
        if (m.upstream != c.target) e.aliases.push_back(m.provider + "/" + c.target);
      }
      out.push_back(std::move(e));
    }
  }
  return out;
}

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
