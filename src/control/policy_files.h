#pragma once
// The policy files as text, for operators who edit them over the control API
// (GET /v1/policy/files, PUT /v1/policy/files/{name}). A replacement is
// validated together with the other three files in a scratch copy of the
// policy folder before anything in the real folder changes.
#include <array>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/error.h"
#include "policy/loader.h"

namespace aion::control {

//! The only names a client may read or write; anything else (paths, "..",
//! other files) is refused before the file system is touched.
inline constexpr std::array<std::string_view, 4> kPolicyFileNames{"intents.yml", "policies.yml",
                                                                  "models.yml", "modules.yml"};

//! kInvalidRequest unless `name` is exactly one of kPolicyFileNames.
Status checkPolicyFileName(std::string_view name);

//! Reads one policy file (at most `maxBytes`); a missing file reads as "".
Result<std::string> readPolicyFile(const std::filesystem::path& dir, std::string_view name,
                                   size_t maxBytes);

//! Loads the policy set of `dir` with `name` replaced by `text`, from a
//! scratch copy (the real folder is only read). Errors as loadPolicyDir:
//! "file:line: field: problem".
std::expected<policy::PolicySetPtr, policy::LoadErrors> validateReplacement(
    const std::filesystem::path& dir, std::string_view name, const std::string& text,
    const policy::LoadOptions& opts);

//! Replaces `path` with `text` atomically (a sibling temp file, fsync,
//! rename): a reader sees the old or the new file, never a part.
Status writeFileAtomically(const std::filesystem::path& path, const std::string& text);

//! Splits "file:line: rest" into {file, line, message}; line 0 when absent.
boost::json::object locatePolicyError(std::string_view error);

}  // namespace aion::control
