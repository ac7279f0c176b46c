#pragma once
// Modules of a policy set to and from aion.internal.v1.ModuleSpec, artifact
// bytes included and pinned by digest on both sides.
#include <filesystem>

#include "aion/internal/v1/modhost.pb.h"
#include "common/error.h"
#include "policy/policy.h"

namespace aion::modhost::rpc {

//! Reads the artifact and checks it against the digest the policy load
//! verified: a file changed since then is refused.
Status toSpec(const policy::Module& m, aion::internal::v1::ModuleSpec* out);
//! Checks the bytes against the spec's digest, stores them under `dir` by
//! digest (once) and returns the module as the local hosts load it.
Result<policy::Module> fromSpec(const aion::internal::v1::ModuleSpec& s,
                                const std::filesystem::path& dir);

}  // namespace aion::modhost::rpc
