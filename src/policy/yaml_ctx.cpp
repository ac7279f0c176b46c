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

namespace {

// Aliases make a YAML document a graph: a node can be its own descendant (the
// loaders would recurse forever, or edit a map they are iterating), and a few
// bytes can expand to billions of nodes. Refuses cycles, nesting deeper than
// JSON bodies may (64), and more nodes, aliases expanded, than `budget`.
std::optional<std::string> shapeProblem(const YAML::Node& n, std::vector<YAML::Node>& path,
                                        size_t& budget) {
  if (budget == 0) return "too many nodes once aliases are expanded";
  --budget;
  if (!n.IsMap() && !n.IsSequence()) return std::nullopt;
  for (auto& up : path)
    if (up.is(n)) return "an alias refers to a node that contains it";
  if (path.size() >= 64) return "nested deeper than 64 levels";
  path.push_back(n);
  std::optional<std::string> why;
  for (auto it = n.begin(); it != n.end() && !why; ++it) {
    if (n.IsMap()) {
      why = shapeProblem(it->first, path, budget);
      if (!why) why = shapeProblem(it->second, path, budget);
    } else {
      why = shapeProblem(*it, path, budget);
    }
  }
  path.pop_back();
  return why;
}

}  // namespace

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
    std::vector<YAML::Node> ancestors;
    size_t budget = 4 * raw.size() + 1024;  // far more than the file holds without aliases
    if (auto why = shapeProblem(root, ancestors, budget)) {
      ctx.errFile("yaml: " + *why);
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
