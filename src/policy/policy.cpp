#include "policy/policy.h"

namespace aion::policy {

std::optional<PrivacyMode> parsePrivacy(std::string_view s) {
  if (s == "local-only") return PrivacyMode::kLocalOnly;
  if (s == "hybrid") return PrivacyMode::kHybrid;
  if (s == "allow-api") return PrivacyMode::kAllowApi;
  return std::nullopt;
}

std::string_view privacyName(PrivacyMode m) {
  switch (m) {
    case PrivacyMode::kLocalOnly:
      return "local-only";
    case PrivacyMode::kHybrid:
      return "hybrid";
    case PrivacyMode::kAllowApi:
      return "allow-api";
  }
  return "local-only";
}

std::string_view routeKindName(RouteKind k) {
  return k == RouteKind::kModule ? "module" : "model";
}

const Intent* PolicySet::intent(const std::string& n) const {
  auto it = intents.find(n);
  return it == intents.end() ? nullptr : &it->second;
}

}  // namespace aion::policy
