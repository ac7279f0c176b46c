#pragma once
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>

#include "modhost/module_host.h"
#include "modhost/sandbox.h"

namespace aion::modhost {

//! Runs native executables (modules of kind "subprocess") with the ABI of the
//! WASM modules (docs/modules.md): params JSON on stdin, one JSON document on
//! stdout, exit status 2 for rejected input. Each call is a fresh process in
//! the Linux sandbox of sandbox.h (docs/sandbox.md); calls share nothing.
class SubprocessModuleHost final : public ModuleHost {
 public:
  //! Probes the kernel's sandbox features and logs, once, what is missing.
  SubprocessModuleHost();
  //! Uses `caps` as given (tests use this to run with fewer layers).
  explicit SubprocessModuleHost(SandboxCaps caps);
  ~SubprocessModuleHost() override;

  //! Serves the modules of `set` with kind "subprocess" that verification
  //! did not refuse; others are ignored. Each artifact must be an executable
  //! regular file (checked against its declared sha256 when there is one);
  //! it is opened here and that file is what runs, even if the path is
  //! replaced later.
  std::expected<void, std::vector<std::string>> load(const policy::PolicySet& set) override;
  Result<CallResult> call(const std::string& name, std::string_view input,
                          const CallOptions& opts) override;
  boost::json::array describe() const override;

  //! The sandbox layers in use and what is missing, for /readyz.
  const SandboxCaps& sandboxCaps() const { return caps_; }
  boost::json::object sandboxJson() const { return toJson(caps_); }

 private:
  struct Entry;

  SandboxCaps caps_;
  std::optional<SeccompProgram> noFork_;    // limits.maxProcs <= 1
  std::optional<SeccompProgram> withFork_;  // limits.maxProcs > 1
  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<const Entry>> modules_;  // by name
};

}  // namespace aion::modhost
