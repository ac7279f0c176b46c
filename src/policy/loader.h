#pragma once
#include <expected>
#include <filesystem>
#include <string>
#include <vector>

#include "policy/policy.h"
#include "trust/signing.h"

namespace aion::policy {

//! Which module signatures are accepted (AION_MODULE_TRUSTED_KEYS,
//! AION_MODULES_ALLOW_UNSIGNED).
struct TrustConfig {
  std::vector<trust::PublicKey> keys;
  bool allowUnsigned = false;
};

struct LoadOptions {
  //! Relative module artifact paths resolve against this directory.
  std::filesystem::path moduleDir;
  //! Modules registered over the control API (one folder per module, each
  //! with manifest.json); empty: none.
  std::filesystem::path registryDir;
  TrustConfig trust;
  //! Largest policy file accepted, in bytes.
  size_t maxFileBytes = 1 << 20;
};

//! Every problem found, each "file:line: field: problem" (line omitted when
//! the problem concerns a whole file).
using LoadErrors = std::vector<std::string>;

//! Loads and validates intents.yml, policies.yml, models.yml and modules.yml
//! from `dir` as one set. Either every file is valid and cross-references
//! resolve, or the full list of problems is returned.
std::expected<PolicySetPtr, LoadErrors> loadPolicyDir(const std::filesystem::path& dir,
                                                      const LoadOptions& opts);

}  // namespace aion::policy
