#include "common/principal.h"

#include <array>

namespace aion {
namespace {
constexpr std::array<std::pair<Role, std::string_view>, 4> kRoles{{
    {Role::kAdmin, "admin"},
    {Role::kManager, "manager"},
    {Role::kUser, "user"},
    {Role::kViewer, "viewer"},
}};
}  // namespace

std::optional<Role> parseRole(std::string_view s) {
  for (auto& [r, n] : kRoles)
    if (n == s) return r;
  return std::nullopt;
}

std::string_view roleName(Role r) {
  for (auto& [x, n] : kRoles)
    if (x == r) return n;
  return "?";
}

std::string roleSetString(RoleSet s) {
  std::string out;
  for (auto& [r, n] : kRoles) {
    if (s & roleBit(r)) {
      if (!out.empty()) out += '|';
      out += n;
    }
  }
  return out;
}

}  // namespace aion
