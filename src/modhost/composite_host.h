#pragma once
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>

#include "modhost/gpu.h"
#include "modhost/module_host.h"

namespace aion::modhost {

//! The module host aiond runs: dispatches each module to the host of its
//! kind (wasm, subprocess) and applies what is common to both: the
//! manifest's input/output schemas and the per-module concurrency limit.
class CompositeModuleHost final : public ModuleHost {
 public:
  explicit CompositeModuleHost(std::map<std::string, std::unique_ptr<ModuleHost>> byKind,
                               std::vector<GpuDevice> gpus = {});

  std::expected<void, std::vector<std::string>> load(const policy::PolicySet& set) override;
  Result<CallResult> call(const std::string& name, std::string_view input,
                          const CallOptions& opts) override;
  boost::json::array describe() const override;

  const std::vector<GpuDevice>& gpus() const { return gpus_; }
  ModuleHost* host(const std::string& kind) const;

 private:
  struct Slots {
    std::mutex mu;
    std::condition_variable cv;
    int inUse = 0;
  };
  struct Entry {
    policy::Module spec;
    std::shared_ptr<Slots> slots;  // kept across reloads while the limit is unchanged
  };

  std::map<std::string, std::unique_ptr<ModuleHost>> byKind_;
  std::vector<GpuDevice> gpus_;
  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<const Entry>> modules_;
  policy::PolicySet lastGood_;  // modules only: what the hosts go back to after a failed load
};

}  // namespace aion::modhost
