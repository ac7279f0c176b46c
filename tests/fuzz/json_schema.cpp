// Intent params schemas (docs/policies.md): a schema is first checked for
// the supported subset (JsonSchema::check, as the policy loader does), and
// only a schema that passes validates documents — as in aiond.
//
// Input: "=== schema" and "=== value" sections, each JSON.
#include "policy/json_schema.h"

#include <boost/json.hpp>
#include <cstdint>

#include "fuzz_util.h"

namespace {
namespace json = boost::json;

json::value parse(const std::string& text, bool& ok) {
  json::parse_options opts;
  opts.max_depth = 64;  // as http::parseJsonObject
  boost::system::error_code ec;
  auto v = json::parse(text, ec, {}, opts);
  ok = !ec;
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto s = aion::fuzz::sections({reinterpret_cast<const char*>(data), size});
  bool ok = false;
  auto schema = parse(s["schema"], ok);
  if (!ok) return 0;
  if (!aion::policy::JsonSchema::check(schema).empty()) return 0;
  auto value = parse(s["value"], ok);
  if (!ok) return 0;
  aion::policy::JsonSchema js(schema);
  auto errs = js.validate(value, 5);
  if (errs.size() > 5) aion::fuzz::violated("more errors than maxErrors");
  // Errors name a path under "params".
  for (auto& e : errs)
    if (!e.starts_with("params")) aion::fuzz::violated("an error without its params path");
  return 0;
}
