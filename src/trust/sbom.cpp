#include "trust/sbom.h"

#include <boost/json.hpp>
#include <set>

#include "common/ids.h"

namespace aion::trust {
namespace json = boost::json;

json::object makeCycloneDx(std::string_view name, std::string_view version,
                           std::string_view sha256Hex,
                           const std::vector<SbomComponent>& components) {
  json::array comps;
  for (auto& c : components) {
    json::object o{{"type", "library"}, {"name", c.name}, {"version", c.version}};
    if (!c.purl.empty()) o["purl"] = c.purl;
    if (!c.license.empty()) o["licenses"] = json::array{json::object{{"expression", c.license}}};
    comps.push_back(std::move(o));
  }
  json::object module;
  module["type"] = "application";
  module["name"] = name;
  module["version"] = version;
  module["hashes"] = json::array{json::object{{"alg", "SHA-256"}, {"content", sha256Hex}}};
  return json::object{
      {"bomFormat", "CycloneDX"},
      {"specVersion", "1.5"},
      {"version", 1},
      {"metadata",
       json::object{{"timestamp", formatTimeMs(nowMs())},
                    {"tools", json::object{{"components", json::array{json::object{
                                                              {"type", "application"},
                                                              {"name", "aiond module sign"}}}}}},
                    {"component", std::move(module)}}},
      {"components", std::move(comps)}};
}

std::expected<std::vector<SbomComponent>, std::string> componentsFromCargoMetadata(
    std::string_view jsonText) {
  boost::system::error_code ec;
  auto v = json::parse(jsonText, ec);
  if (ec || !v.is_object()) return std::unexpected("cargo metadata is not a JSON object");
  auto& o = v.as_object();
  std::set<std::string> members;
  if (auto* m = o.if_contains("workspace_members"); m && m->is_array())
    for (auto& id : m->as_array())
      if (id.is_string()) members.insert(std::string(id.as_string()));
  auto* pkgs = o.if_contains("packages");
  if (!pkgs || !pkgs->is_array()) return std::unexpected("cargo metadata has no packages list");
  std::vector<SbomComponent> out;
  for (auto& p : pkgs->as_array()) {
    if (!p.is_object()) continue;
    auto& po = p.as_object();
    auto str = [&](const char* k) {
      auto* x = po.if_contains(k);
      return x && x->is_string() ? std::string(x->as_string()) : std::string();
    };
    if (members.count(str("id"))) continue;
    SbomComponent c{str("name"), str("version"), {}, str("license")};
    if (c.name.empty()) continue;
    c.purl = "pkg:cargo/" + c.name + "@" + c.version;
    out.push_back(std::move(c));
  }
  return out;
}

std::expected<void, std::string> checkSbom(std::string_view jsonText, std::string_view name,
                                           std::string_view sha256Hex) {
  boost::system::error_code ec;
  auto v = json::parse(jsonText, ec);
  if (ec) return std::unexpected("SBOM is not valid JSON: " + ec.message());
  auto* o = v.if_object();
  auto* fmt = o ? o->if_contains("bomFormat") : nullptr;
  if (!fmt || !fmt->is_string() || fmt->as_string() != "CycloneDX")
    return std::unexpected("SBOM is not a CycloneDX JSON document (bomFormat)");
  auto* md = o->if_contains("metadata");
  auto* comp = md && md->is_object() ? md->as_object().if_contains("component") : nullptr;
  auto* cname = comp && comp->is_object() ? comp->as_object().if_contains("name") : nullptr;
  if (!cname || !cname->is_string())
    return std::unexpected("SBOM does not name its component (metadata.component.name)");
  if (cname->as_string() != name)
    return std::unexpected("SBOM describes '" + std::string(cname->as_string()) + "', not '" +
                           std::string(name) + "'");
  if (auto* hs = comp->as_object().if_contains("hashes"); hs && hs->is_array()) {
    for (auto& h : hs->as_array()) {
      auto* ho = h.if_object();
      if (!ho) continue;
      auto* alg = ho->if_contains("alg");
      auto* content = ho->if_contains("content");
      if (alg && alg->is_string() && alg->as_string() == "SHA-256" && content &&
          content->is_string() && content->as_string() != sha256Hex)
        return std::unexpected("SBOM lists sha256:" + std::string(content->as_string()) +
                               " for the module, the artifact is sha256:" + std::string(sha256Hex));
    }
  }
  return {};
}

}  // namespace aion::trust
