#pragma once
// Who is calling: the result of authenticating an API key.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aion {

enum class Role : uint8_t { kAdmin = 1, kManager = 2, kUser = 4, kViewer = 8 };
using RoleSet = uint8_t;

constexpr RoleSet roleBit(Role r) {
  return static_cast<RoleSet>(r);
}
std::optional<Role> parseRole(std::string_view s);
std::string_view roleName(Role r);
std::string roleSetString(RoleSet s);  // "admin|manager"

struct Principal {
  std::string keyId;  // sha256(key)[:12], safe to log; the key itself never is
  RoleSet roles = 0;
  std::string tenant;  // resolved tenant for this request ("default" in single mode)

  bool has(Role r) const { return (roles & roleBit(r)) != 0; }
  bool hasAny(RoleSet s) const { return (roles & s) != 0; }
};

}  // namespace aion
