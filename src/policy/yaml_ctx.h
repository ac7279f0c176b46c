#pragma once
// Internal to the policy library: YAML reading helpers shared by the policy
// loader and the module-manifest loader. Not part of the public API.
#include <yaml-cpp/yaml.h>

#include <boost/json/value.hpp>
#include <filesystem>
#include <optional>
#include <regex>
#include <string>

#include "policy/loader.h"

namespace aion::policy::detail {

inline const std::regex kNameRe("^[a-z0-9][a-z0-9._-]{0,63}$");

// Collects "file:line: field: problem" lines for one file.
struct FileCtx {
  std::string file;
  LoadErrors* errors;

  void err(const YAML::Node& n, const std::string& field, const std::string& msg) {
    std::string loc = file;
    if (n.IsDefined() && n.Mark().line >= 0) loc += ":" + std::to_string(n.Mark().line + 1);
    errors->push_back(loc + ": " + field + ": " + msg);
  }
  void errFile(const std::string& msg) { errors->push_back(file + ": " + msg); }

  // Flags keys outside `allowed`: a typo must not silently drop a rule.
  void onlyKeys(const YAML::Node& map, const std::string& field,
                std::initializer_list<const char*> allowed) {
    for (auto it = map.begin(); it != map.end(); ++it) {
      auto key = it->first.Scalar();
      bool ok = false;
      for (auto* a : allowed) ok = ok || key == a;
      if (!ok) err(it->first, field.empty() ? key : field + "." + key, "unknown field");
    }
  }

  bool isMap(const YAML::Node& n, const std::string& field) {
    if (n.IsMap()) return true;
    err(n, field, "must be a mapping");
    return false;
  }

  std::optional<std::string> str(const YAML::Node& parent, const char* key,
                                 const std::string& field, bool required) {
    auto n = parent[key];
    if (!n.IsDefined() || n.IsNull()) {
      if (required) err(parent, field, "is required");
      return std::nullopt;
    }
    if (!n.IsScalar()) {
      err(n, field, "must be a string");
      return std::nullopt;
    }
    return n.Scalar();
  }

  template <typename T>
  std::optional<T> num(const YAML::Node& parent, const char* key, const std::string& field, T lo,
                       T hi) {
    auto n = parent[key];
    if (!n.IsDefined() || n.IsNull()) return std::nullopt;
    T v{};
    if (!n.IsScalar() || !YAML::convert<T>::decode(n, v) ||
        !std::isfinite(static_cast<double>(v))) {
      err(n, field, std::is_integral_v<T> ? "must be an integer" : "must be a number");
      return std::nullopt;
    }
    if (v < lo || v > hi) {
      std::ostringstream os;
      os << "must be between " << lo << " and " << hi;
      err(n, field, os.str());
      return std::nullopt;
    }
    return v;
  }

  std::optional<bool> boolean(const YAML::Node& parent, const char* key, const std::string& field) {
    auto n = parent[key];
    if (!n.IsDefined() || n.IsNull()) return std::nullopt;
    bool v = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
      err(n, field, "must be true or false");
      return std::nullopt;
    }
    return v;
  }

  std::optional<std::vector<std::string>> strList(const YAML::Node& parent, const char* key,
                                                  const std::string& field) {
    auto n = parent[key];
    if (!n.IsDefined() || n.IsNull()) return std::nullopt;
    if (!n.IsSequence()) {
      err(n, field, "must be a list");
      return std::nullopt;
    }
    std::vector<std::string> out;
    for (size_t i = 0; i < n.size(); ++i) {
      if (!n[i].IsScalar()) {
        err(n[i], field + "[" + std::to_string(i) + "]", "must be a string");
        continue;
      }
      out.push_back(n[i].Scalar());
    }
    return out;
  }
};

// Plain YAML scalars become JSON numbers/bools/null; quoted ones stay strings.
boost::json::value yamlToJson(const YAML::Node& n);

//! Reads a YAML mapping of at most maxBytes (`raw` receives the bytes); a
//! top-level `version` other than 1 is flagged.
std::optional<YAML::Node> readYaml(const std::filesystem::path& path, FileCtx& ctx, size_t maxBytes,
                                   std::string& raw, bool policyVersion = true);

}  // namespace aion::policy::detail

namespace aion::policy::detail {

//! Parses the module fields shared by modules.yml inline entries and
//! manifests (version, kind, artifact, sha256, intents, limits, resources,
//! config, secrets, input/output schema, latency). Relative artifact paths
//! resolve against `baseDir`. Existence and digests are checked later, by
//! verifyModule. The caller checks for unknown keys.
void parseModuleFields(const YAML::Node& n, FileCtx& c, const std::string& f, Module& m,
                       const std::filesystem::path& baseDir);

}  // namespace aion::policy::detail
