#include "policy/json_schema.h"

#include <boost/json.hpp>
#include <cmath>
#include <set>

#include "common/json_text.h"

namespace aion::policy {
namespace json = boost::json;
namespace {

const std::set<std::string> kKeywords{
    "type",        "properties", "required",  "additionalProperties",
    "enum",        "minLength",  "maxLength", "minimum",
    "maximum",     "items",      "minItems",  "maxItems",
    "description", "title",      "default",   "anyOf"};
const std::set<std::string> kTypes{"object", "array",   "string", "integer",
                                   "number", "boolean", "null"};

bool isNonNegInt(const json::value& v) {
  return v.is_int64() && v.as_int64() >= 0;
}

size_t utf8Length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool typeMatches(const std::string& t, const json::value& v) {
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  if (t == "string") return v.is_string();
  if (t == "boolean") return v.is_bool();
  if (t == "null") return v.is_null();
  if (t == "number") return v.is_number();
  if (t == "integer") {
    if (v.is_int64() || v.is_uint64()) return true;
    if (v.is_double()) {
      double d = v.as_double();
      return std::isfinite(d) && d == std::floor(d);
    }
  }
  return false;
}

double asDouble(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.as_int64());
  if (v.is_uint64()) return static_cast<double>(v.as_uint64());
  return v.as_double();
}

std::string typeOf(const json::value& v) {
  switch (v.kind()) {
    case json::kind::object:
      return "object";
    case json::kind::array:
      return "array";
    case json::kind::string:
      return "string";
    case json::kind::bool_:
      return "boolean";
    case json::kind::null:
      return "null";
    default:
      return "number";
  }
}

struct Validator {
  size_t maxErrors;
  std::vector<std::string> errors;

  void add(const std::string& path, std::string msg) {
    if (errors.size() < maxErrors) errors.push_back(path + ": " + msg);
  }

  void run(const json::value& schema, const json::value& v, const std::string& path) {
    if (!schema.is_object() || errors.size() >= maxErrors) return;
    const auto& s = schema.get_object();
    if (auto* t = s.if_contains("type")) {
      bool ok = false;
      std::string want;
      if (t->is_string()) {
        want = std::string(t->get_string());
        ok = typeMatches(want, v);
      } else if (t->is_array()) {
        for (auto& x : t->get_array()) {
          if (!want.empty()) want += "|";
          want += std::string(x.get_string());
          ok = ok || typeMatches(std::string(x.get_string()), v);
        }
      }
      if (!ok) {
        add(path, "expected " + want + ", got " + typeOf(v));
        return;
      }
    }
    if (auto* e = s.if_contains("enum")) {
      bool found = false;
      for (auto& x : e->get_array()) found = found || x == v;
      if (!found) add(path, "must be one of " + jsonText(*e));
    }
    if (auto* any = s.if_contains("anyOf")) {
      std::string why;
      bool matched = false;
      for (auto& alt : any->get_array()) {
        Validator sub{1, {}};
        sub.run(alt, v, path);
        if (sub.errors.empty()) {
          matched = true;
          break;
        }
        why += (why.empty() ? "" : "; or ") + sub.errors.front();
      }
      if (!matched) errors.size() < maxErrors ? errors.push_back(why) : void();
    }
    if (v.is_string()) {
      size_t len = utf8Length(v.get_string());
      if (auto* m = s.if_contains("minLength"); m && len < static_cast<size_t>(m->as_int64()))
        add(path, "shorter than minLength " + std::to_string(m->as_int64()));
      if (auto* m = s.if_contains("maxLength"); m && len > static_cast<size_t>(m->as_int64()))
        add(path, "longer than maxLength " + std::to_string(m->as_int64()));
    }
    if (v.is_number()) {
      double d = asDouble(v);
      if (auto* m = s.if_contains("minimum"); m && d < asDouble(*m))
        add(path, "less than minimum " + jsonText(*m));
      if (auto* m = s.if_contains("maximum"); m && d > asDouble(*m))
        add(path, "greater than maximum " + jsonText(*m));
    }
    if (v.is_array()) {
      const auto& a = v.get_array();
      if (auto* m = s.if_contains("minItems"); m && a.size() < static_cast<size_t>(m->as_int64()))
        add(path, "fewer than minItems " + std::to_string(m->as_int64()));
      if (auto* m = s.if_contains("maxItems"); m && a.size() > static_cast<size_t>(m->as_int64()))
        add(path, "more than maxItems " + std::to_string(m->as_int64()));
      if (auto* items = s.if_contains("items")) {
        for (size_t i = 0; i < a.size(); ++i)
          run(*items, a[i], path + "[" + std::to_string(i) + "]");
      }
    }
    if (v.is_object()) {
      const auto& o = v.get_object();
      const json::object* props = nullptr;
      if (auto* p = s.if_contains("properties")) props = &p->get_object();
      if (auto* r = s.if_contains("required")) {
        for (auto& name : r->get_array()) {
          if (!o.contains(name.get_string()))
            add(path + "." + std::string(name.get_string()), "is required");
        }
      }
      bool closed = false;
      if (auto* ap = s.if_contains("additionalProperties"))
        closed = ap->is_bool() && !ap->as_bool();
      for (auto& [k, val] : o) {
        std::string sub = path + "." + std::string(k);
        if (props) {
          if (auto* ps = props->if_contains(k)) {
            run(*ps, val, sub);
            continue;
          }
        }
        if (closed) add(sub, "is not an allowed property");
      }
    }
  }
};

}  // namespace

std::vector<std::string> JsonSchema::check(const json::value& schema, const std::string& path) {
  std::vector<std::string> errs;
  auto here = path.empty() ? std::string("params_schema") : path;
  if (!schema.is_object()) {
    errs.push_back(here + ": must be a mapping");
    return errs;
  }
  for (auto& [k, v] : schema.get_object()) {
    std::string key(k);
    std::string at = here + "." + key;
    if (!kKeywords.count(key)) {
      errs.push_back(at + ": unsupported schema keyword");
      continue;
    }
    if (key == "type") {
      auto ok = [&](const json::value& t) {
        return t.is_string() && kTypes.count(std::string(t.get_string()));
      };
      bool good = ok(v);
      if (v.is_array()) {
        good = !v.get_array().empty();
        for (auto& t : v.get_array()) good = good && ok(t);
      }
      if (!good)
        errs.push_back(at +
                       ": must be one of object, array, string, integer, number, boolean, null");
    } else if (key == "properties") {
      if (!v.is_object()) {
        errs.push_back(at + ": must be a mapping");
        continue;
      }
      for (auto& [pk, pv] : v.get_object()) {
        auto sub = check(pv, at + "." + std::string(pk));
        errs.insert(errs.end(), sub.begin(), sub.end());
      }
    } else if (key == "items") {
      auto sub = check(v, at);
      errs.insert(errs.end(), sub.begin(), sub.end());
    } else if (key == "required") {
      bool good = v.is_array();
      if (good)
        for (auto& r : v.get_array()) good = good && r.is_string();
      if (!good) errs.push_back(at + ": must be a list of property names");
    } else if (key == "additionalProperties") {
      if (!v.is_bool()) errs.push_back(at + ": must be true or false");
    } else if (key == "enum") {
      if (!v.is_array() || v.get_array().empty()) errs.push_back(at + ": must be a non-empty list");
    } else if (key == "minLength" || key == "maxLength" || key == "minItems" || key == "maxItems") {
      if (!isNonNegInt(v)) errs.push_back(at + ": must be a non-negative integer");
    } else if (key == "anyOf") {
      if (!v.is_array() || v.get_array().empty()) {
        errs.push_back(at + ": must be a non-empty list of schemas");
        continue;
      }
      for (size_t i = 0; i < v.get_array().size(); ++i) {
        auto sub = check(v.get_array()[i], at + "[" + std::to_string(i) + "]");
        errs.insert(errs.end(), sub.begin(), sub.end());
      }
    } else if (key == "minimum" || key == "maximum") {
      if (!v.is_number()) errs.push_back(at + ": must be a number");
    }
  }
  return errs;
}

std::vector<std::string> JsonSchema::validate(const json::value& v, size_t maxErrors) const {
  Validator val{maxErrors, {}};
  if (!schema_.is_null()) val.run(schema_, v, "params");
  return std::move(val.errors);
}

}  // namespace aion::policy
