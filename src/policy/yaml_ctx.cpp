#include "policy/yaml_ctx.h"

#include <boost/json.hpp>
#include <cmath>
#include <fstream>

namespace aion::policy::detail {
namespace fs = std::filesystem;
namespace json = boost::json;

// Plain YAML scalars become JSON numbers/bools/null; quoted ones stay strings.
json::value yamlToJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json::object o;
      for (auto it = n.begin(); it != n.end(); ++it) o[it->first.Scalar()] = yamlToJson(it->second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json::array a;
      for (auto x : n) a.push_back(yamlToJson(x));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const auto& s = n.Scalar();
      if (n.Tag() == "!") return json::string(s);
      if (s == "true" || s == "True") return true;
      if (s == "false" || s == "False") return false;
      if (s == "null" || s == "~") return nullptr;
      int64_t i = 0;
      if (YAML::convert<int64_t>::decode(n, i)) return i;
      double d = 0;
      if (s.find_first_of("0123456789") != std::string::npos &&
          YAML::convert<double>::decode(n, d) && std::isfinite(d))
        return d;
      return json::string(s);
    }
    default:
      return nullptr;
  }
}

// Reads a YAML mapping of at most maxBytes; `raw` receives the bytes.
std::optional<YAML::Node> readYaml(const fs::path& path, FileCtx& ctx, size_t maxBytes,
                                   std::string& raw, bool policyVersion) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    ctx.errFile("file is missing");
    return std::nullopt;
  }
  auto size = fs::file_size(path, ec);
  if (ec || size > maxBytes) {
    ctx.errFile("file is larger than " + std::to_string(maxBytes) + " bytes");
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  raw.assign(std::istreambuf_iterator<char>(in), {});
  try {
    auto root = YAML::Load(raw);
    if (!root.IsMap()) {
      ctx.errFile("top level must be a mapping");
      return std::nullopt;
    }
    auto v = root["version"];
    if (policyVersion && v.IsDefined() && (!v.IsScalar() || v.Scalar() != "1"))
      ctx.err(v, "version", "must be 1");
    return root;
  } catch (const YAML::Exception& e) {
    ctx.errors->push_back(ctx.file + ":" + std::to_string(e.mark.line + 1) + ": yaml: " + e.msg);
    return std::nullopt;
  }
}

}  // namespace aion::policy::detail
