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

}  // namespace aion::control
