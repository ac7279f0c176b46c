#pragma once
// A small, documented subset of JSON Schema for intent params (docs/policies.md):
// type, properties, required, additionalProperties (bool), enum, minLength,
// maxLength, minimum, maximum, items, minItems, maxItems, description, title.
// Unknown keywords are rejected at load time so a typo cannot silently
// disable a check.
#include <boost/json/value.hpp>
#include <string>
#include <vector>

namespace aion::policy {

class JsonSchema {
 public:
  JsonSchema() = default;  // accepts anything
  //! Checks that `schema` only uses the supported subset. Errors name the
  //! JSON-pointer-ish path inside the schema.
  static std::vector<std::string> check(const boost::json::value& schema,
                                        const std::string& path = "");
  explicit JsonSchema(boost::json::value schema) : schema_(std::move(schema)) {}

  //! Validates `v`; returns the problems, each "params.a.b: message". At most
  //! `maxErrors` are reported.
  std::vector<std::string> validate(const boost::json::value& v, size_t maxErrors = 20) const;
  const boost::json::value& raw() const { return schema_; }

 private:
  boost::json::value schema_;  // null: accepts anything
};

}  // namespace aion::policy
