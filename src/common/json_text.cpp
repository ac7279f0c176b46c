#include "common/json_text.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <vector>

namespace aion {
namespace json = boost::json;

namespace {

void appendDouble(std::string& out, double d) {
  if (!std::isfinite(d)) {  // JSON has no NaN or infinity
    out += "null";
    return;
  }
  char buf[32];
  // Integral values below 2^53 print as integers: 20, not 20.0 or 2E1.
  if (d == std::trunc(d) && std::fabs(d) < 9007199254740992.0) {
    auto r = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(d));
    out.append(buf, r.ptr);
    return;
  }
  // Shortest round-trip digits, in plain decimal (0.00000285, not 2.85e-06)
  // unless the number is extreme enough that nobody writes it that way.
  double a = std::fabs(d);
  auto fmt = a >= 1e-9 && a < 1e16 ? std::chars_format::fixed : std::chars_format::general;
  char big[400];
  auto r = std::to_chars(big, big + sizeof big, d, fmt);
  out.append(big, r.ptr);
}

}  // namespace

void appendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t run = 0;  // start of the pending run of bytes that need no escape
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

namespace {

// `sortKeys`: object members in key order (the canonical form).
void append(std::string& out, const json::value& v, bool sortKeys) {
  char buf[32];
  switch (v.kind()) {
    case json::kind::null:
      out += "null";
      return;
    case json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      return;
    case json::kind::int64: {
      auto r = std::to_chars(buf, buf + sizeof buf, v.get_int64());
      out.append(buf, r.ptr);
      return;
    }
    case json::kind::uint64: {
      auto r = std::to_chars(buf, buf + sizeof buf, v.get_uint64());
      out.append(buf, r.ptr);
      return;
    }
    case json::kind::double_:
      appendDouble(out, v.get_double());
      return;
    case json::kind::string:
      appendJsonString(out, v.get_string());
      return;
    case json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (auto& e : v.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        append(out, e, sortKeys);
      }
      out.push_back(']');
      return;
    }
    case json::kind::object: {
      bool first = true;
      auto member = [&](const json::key_value_pair& kv) {
        if (!first) out.push_back(',');
        first = false;
        appendJsonString(out, kv.key());
        out.push_back(':');
        append(out, kv.value(), sortKeys);
      };
      out.push_back('{');
      if (sortKeys) {
        std::vector<const json::key_value_pair*> kvs;
        for (auto& kv : v.get_object()) kvs.push_back(&kv);
        std::sort(kvs.begin(), kvs.end(), [](auto* a, auto* b) { return a->key() < b->key(); });
        for (auto* kv : kvs) member(*kv);
      } else {
        for (auto& kv : v.get_object()) member(kv);
      }
      out.push_back('}');
      return;
    }
  }
}

}  // namespace

void appendJson(std::string& out, const json::value& v) {
  append(out, v, false);
}

std::string canonicalJsonText(const json::value& v) {
  std::string out;
  append(out, v, true);
  return out;
}

std::string jsonText(const json::value& v) {
  std::string out;
  out.reserve(128);
  appendJson(out, v);
  return out;
}

}  // namespace aion
