#pragma once
// CycloneDX JSON software bills of materials for modules: written by
// `aiond module sign`, checked at load and registration.
#include <boost/json/object.hpp>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace aion::trust {

struct SbomComponent {
  std::string name;
  std::string version;
  std::string purl;     // pkg:cargo/serde@1.0.152
  std::string license;  // SPDX expression, when known
};

//! A CycloneDX 1.5 document whose metadata.component is the module (with
//! its SHA-256) and whose components are its dependencies.
boost::json::object makeCycloneDx(std::string_view name, std::string_view version,
                                  std::string_view sha256Hex,
                                  const std::vector<SbomComponent>& components);

//! Dependencies from `cargo metadata --format-version 1` output: every
//! package that is not a workspace member.
std::expected<std::vector<SbomComponent>, std::string> componentsFromCargoMetadata(
    std::string_view jsonText);

//! Ok when `jsonText` is a CycloneDX JSON document naming module `name`
//! (metadata.component.name) and, if it lists a SHA-256 for it, that digest
//! equals `sha256Hex`. Otherwise says what is wrong.
std::expected<void, std::string> checkSbom(std::string_view jsonText, std::string_view name,
                                           std::string_view sha256Hex);

}  // namespace aion::trust
