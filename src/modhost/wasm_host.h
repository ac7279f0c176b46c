#pragma once
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "modhost/module_host.h"

struct wasm_engine_t;

namespace aion::modhost {

//! Runs WASI preview1 command modules with wasmtime (ABI v1, docs/modules.md):
//! params JSON on stdin, one JSON document on stdout, no files, sockets,
//! environment or clocks beyond WASI defaults. Each call gets a fresh store
//! instantiated from a pre-linked InstancePre, so calls share nothing.
class WasmModuleHost final : public ModuleHost {
 public:
  WasmModuleHost();
  ~WasmModuleHost() override;

  std::expected<void, std::vector<std::string>> load(const policy::PolicySet& set) override;
  Result<CallResult> call(const std::string& name, std::string_view input,
                          const CallOptions& opts) override;
  boost::json::array describe() const override;

  //! Compiled modules kept in the digest cache (for tests and metrics).
  size_t cachedCount() const;
  //! Epoch ticks so far: they happen only while a call runs (for tests).
  uint64_t ticks() const { return ticks_.load(std::memory_order_relaxed); }

  static constexpr int kEpochTickMs = 5;
  //! Instances alive at once (one per running call); sized above the largest
  //! worker count aiond accepts.
  static constexpr uint32_t kMaxConcurrentInstances = 300;
  //! Largest linear memory any module may grow to (limits.memory_mb is capped here).
  static constexpr uint32_t kMaxMemoryMb = 4096;

 private:
  struct Compiled;
  struct Entry;

  wasm_engine_t* engine_ = nullptr;
  wasm_engine_t* fuelEngine_ = nullptr;  // consume_fuel on; for modules with limits.fuel
  // The epoch ticker sleeps while no call runs: an idle aiond does not wake
  // 200 times a second for nothing.
  std::atomic<int> running_{0};
  std::atomic<uint64_t> ticks_{0};
  std::mutex tickMu_;
  std::condition_variable_any tickCv_;
  std::jthread ticker_;  // last: stopped and joined first
  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<const Entry>> modules_;   // by name
  std::map<std::string, std::shared_ptr<const Compiled>> cache_;  // by sha256
};

}  // namespace aion::modhost
