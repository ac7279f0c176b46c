#pragma once
#include <expected>
#include <filesystem>
#include <string>
#include <vector>

#include "policy/policy.h"

namespace aion::policy {

struct LoadOptions {
  //! Relative module artifact paths resolve against this directory.
  std::filesystem::path moduleDir;
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
