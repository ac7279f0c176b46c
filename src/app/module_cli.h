#pragma once
// `aiond module keygen|sign|verify|inspect`: the operator's tools for module
// signatures, SBOMs and manifests (docs/modules.md#signing).
#include <CLI/CLI.hpp>
#include <functional>

#include "policy/loader.h"

namespace aion::app {

struct ModuleCli {
  CLI::App* command = nullptr;  // set when `module …` was given
  int exitCode = 0;
};

//! Adds the `module` subcommand tree to `cli`. `trust` is called only by
//! verify/inspect without --trusted-key, for the daemon's configured trust.
void addModuleCommands(CLI::App& cli, ModuleCli& state,
                       std::function<std::expected<policy::TrustConfig, std::string>()> trust);

}  // namespace aion::app
