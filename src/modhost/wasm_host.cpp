#include "modhost/wasm_host.h"

#include <wasi.h>
#include <wasmtime.h>

#include <boost/json.hpp>
#include <chrono>

#include "common/digest.h"
#include "common/thread_name.h"
#include "modhost/wasm_stdio.h"

namespace aion::modhost {
namespace json = boost::json;
namespace {

std::string takeMessage(wasmtime_error_t* err) {
  wasm_name_t msg;
  wasmtime_error_message(err, &msg);
  std::string s(msg.data, msg.size);
  wasm_byte_vec_delete(&msg);
  wasmtime_error_delete(err);
  return s;
}

std::string trapMessage(wasm_trap_t* trap) {
  wasm_message_t msg;
  wasm_trap_message(trap, &msg);
  std::string s(msg.data, msg.size);
  while (!s.empty() && s.back() == '\0') s.pop_back();
  wasm_byte_vec_delete(&msg);
  wasm_trap_delete(trap);
  return s;
}

std::string firstLine(std::string s) {
  if (auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  return s;
}

// Per-call state shared with wasmtime callbacks; lives on the caller's stack.
struct CallState {
  std::chrono::steady_clock::time_point deadline;
  const std::atomic<bool>* cancel = nullptr;
  bool timedOut = false;
  bool canceled = false;
  WasmStdio io;  // the store's data
};

// Called by wasmtime every epoch tick while the guest runs.
wasmtime_error_t* onEpoch(wasmtime_context_t*, void* data, uint64_t* delta,
                          wasmtime_update_deadline_kind_t* kind) {
  auto* st = static_cast<CallState*>(data);
  if (st->cancel && st->cancel->load(std::memory_order_relaxed)) {
    st->canceled = true;
    return wasmtime_error_new("canceled");
  }
  if (std::chrono::steady_clock::now() >= st->deadline) {
    st->timedOut = true;
    return wasmtime_error_new("wall-time limit reached");
  }
  *delta = 1;
  *kind = WASMTIME_UPDATE_DEADLINE_CONTINUE;
  return nullptr;
}

uint64_t fuelLeft(wasmtime_context_t* ctx) {
  uint64_t left = 0;
  if (auto* err = wasmtime_context_get_fuel(ctx, &left)) wasmtime_error_delete(err);
  return left;
}

}  // namespace

struct WasmModuleHost::Compiled {
  std::string sha256;
  bool fuel = false;  // compiled for the fuel-metering engine
  wasmtime_module_t* module = nullptr;
  wasmtime_instance_pre_t* pre = nullptr;
  ~Compiled() {
    if (pre) wasmtime_instance_pre_delete(pre);
    if (module) wasmtime_module_delete(module);
  }
};

struct WasmModuleHost::Entry {
  policy::Module spec;
  std::shared_ptr<const Compiled> code;
};

WasmModuleHost::WasmModuleHost() {
  wasm_config_t* config = wasm_config_new();
  wasmtime_config_epoch_interruption_set(config, true);
  wasmtime_config_cranelift_opt_level_set(config, WASMTIME_OPT_LEVEL_SPEED);
  // Pooling allocator: instance memory comes from pre-reserved slots that are
  // reset and reused, instead of an mmap/munmap pair per call.
  wasmtime_pooling_allocation_config_t* pool = wasmtime_pooling_allocation_config_new();
  wasmtime_pooling_allocation_config_total_core_instances_set(pool, kMaxConcurrentInstances);
  wasmtime_pooling_allocation_config_total_memories_set(pool, kMaxConcurrentInstances);
  wasmtime_pooling_allocation_config_total_tables_set(pool, kMaxConcurrentInstances);
  wasmtime_pooling_allocation_config_max_memory_size_set(pool, size_t{kMaxMemoryMb} << 20);
  // A freed slot is zeroed before reuse either way. madvise(DONTNEED) costs
  // a TLB shootdown across cores (~5-10 us here), so tables (small) are
  // memset instead, and linear memories are given back a few calls at a time
  // in one process_madvise: up to 3 freed slots per core wait, their touched
  // pages still resident (bench/README.md).
  wasmtime_pooling_allocation_config_table_keep_resident_set(pool, 64 << 10);
  wasmtime_pooling_allocation_config_decommit_batch_size_set(pool, 8);  // 2 regions per call
  wasmtime_pooling_allocation_strategy_set(config, pool);
  wasmtime_pooling_allocation_config_delete(pool);
  engine_ = wasm_engine_new_with_config(config);
  // Fuel metering costs every module some speed, so only modules that ask
  // for it (limits.fuel) use this second engine; they are rare, so it
  // allocates on demand instead of reserving a pool.
  wasm_config_t* fuelConfig = wasm_config_new();
  wasmtime_config_epoch_interruption_set(fuelConfig, true);
  wasmtime_config_consume_fuel_set(fuelConfig, true);
  wasmtime_config_cranelift_opt_level_set(fuelConfig, WASMTIME_OPT_LEVEL_SPEED);
  fuelEngine_ = wasm_engine_new_with_config(fuelConfig);
  ticker_ = std::jthread([this](std::stop_token stop) {
    nameThisThread("aion-wasm-epoch");
    std::unique_lock lock(tickMu_);
    while (tickCv_.wait(lock, stop, [this] { return running_.load() > 0; })) {
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(kEpochTickMs));
      wasmtime_engine_increment_epoch(engine_);
      wasmtime_engine_increment_epoch(fuelEngine_);
      ticks_.fetch_add(1, std::memory_order_relaxed);
      lock.lock();
    }
  });
}

WasmModuleHost::~WasmModuleHost() {
  ticker_.request_stop();
  if (ticker_.joinable()) ticker_.join();
  modules_.clear();
  cache_.clear();
  wasm_engine_delete(engine_);
  wasm_engine_delete(fuelEngine_);
}

std::expected<void, std::vector<std::string>> WasmModuleHost::load(const policy::PolicySet& set) {
  std::vector<std::string> errors;
  std::map<std::string, std::shared_ptr<const Entry>> next;
  std::map<std::string, std::shared_ptr<const Compiled>> nextCache;
  {
    std::shared_lock lock(mu_);
    nextCache = cache_;
  }
  for (const auto& [name, spec] : set.modules) {
    if (spec.kind != "wasm" || !spec.usable()) continue;  // refused ones are never compiled
    std::string where = "modules." + name;
    auto bytes = readFile(spec.artifactPath);
    if (!bytes) {
      errors.push_back(where + ": cannot read " + spec.artifactPath);
      continue;
    }
    std::string digest = sha256Hex(*bytes);
    if (!spec.sha256.empty() && spec.sha256 != digest) {
      errors.push_back(where + ": digest mismatch: manifest says " + spec.sha256 +
                       ", artifact is " + digest);
      continue;
    }
    bool fuel = spec.limits.fuel > 0;
    auto* engine = fuel ? fuelEngine_ : engine_;
    std::string cacheKey = fuel ? digest + ":fuel" : digest;
    std::shared_ptr<const Compiled> code;
    if (auto it = nextCache.find(cacheKey); it != nextCache.end()) {
      code = it->second;
    } else {
      auto c = std::make_shared<Compiled>();
      c->sha256 = digest;
      c->fuel = fuel;
      if (auto* err = wasmtime_module_new(engine, reinterpret_cast<const uint8_t*>(bytes->data()),
                                          bytes->size(), &c->module)) {
        errors.push_back(where +
                         ": not a valid WebAssembly module: " + firstLine(takeMessage(err)));
        continue;
      }
      wasmtime_linker_t* linker = wasmtime_linker_new(engine);
      wasmtime_error_t* err = defineWasiWithStdio(linker);
      if (!err) err = wasmtime_linker_instantiate_pre(linker, c->module, &c->pre);
      wasmtime_linker_delete(linker);
      if (err) {
        errors.push_back(where + ": cannot link (imports beyond WASI preview1?): " +
                         firstLine(takeMessage(err)));
        continue;
      }
      code = c;
      nextCache[cacheKey] = code;
    }
    next[name] = std::make_shared<Entry>(Entry{spec, code});
  }
  if (!errors.empty()) return std::unexpected(std::move(errors));
  // Drop cached code no module uses any more.
  for (auto it = nextCache.begin(); it != nextCache.end();) {
    bool used = false;
    for (auto& [_, e] : next)
      used = used || (e->code->fuel ? e->code->sha256 + ":fuel" : e->code->sha256) == it->first;
    it = used ? std::next(it) : nextCache.erase(it);
  }
  std::unique_lock lock(mu_);
  modules_ = std::move(next);
  cache_ = std::move(nextCache);
  return {};
}

Result<CallResult> WasmModuleHost::call(const std::string& name, std::string_view input,
                                        const CallOptions& opts) {
  std::shared_ptr<const Entry> entry;
  {
    std::shared_lock lock(mu_);
    if (auto it = modules_.find(name); it != modules_.end()) entry = it->second;
  }
  if (!entry) return fail(ErrorCode::kNotFound, "module '" + name + "' is not loaded");
  const auto& lim = entry->spec.limits;
  auto start = std::chrono::steady_clock::now();

  // Taking tickMu_ after the increment: the ticker either sees the count or
  // is already waiting for this notification.
  if (running_.fetch_add(1) == 0) {
    std::lock_guard lock(tickMu_);
    tickCv_.notify_one();
  }
  struct Running {
    std::atomic<int>& n;
    ~Running() { n.fetch_sub(1); }
  } running{running_};

  CallState st;
  st.deadline = start + std::chrono::milliseconds(std::min(opts.timeoutMs, lim.timeoutMs));
  st.cancel = opts.cancel;
  st.io.outputLimit = lim.outputBytes;
  st.io.in = input;

  wasmtime_store_t* store =
      wasmtime_store_new(entry->code->fuel ? fuelEngine_ : engine_, &st.io, nullptr);
  wasmtime_context_t* ctx = wasmtime_store_context(store);
  if (entry->code->fuel) wasmtime_context_set_fuel(ctx, lim.fuel);
  wasmtime_store_limiter(store, static_cast<int64_t>(lim.memoryMb) << 20, 100000, 1, 4, 1);
  wasmtime_context_set_epoch_deadline(ctx, 1);
  wasmtime_store_epoch_deadline_callback(store, onEpoch, &st, nullptr);

  // stdio is st.io (wasm_stdio.h); the WASI context keeps its defaults for
  // it (closed stdin, discarding outputs), which cost nothing to set up.
  wasi_config_t* wasi = wasi_config_new();
  const char* argv[] = {name.c_str()};
  wasi_config_set_argv(wasi, 1, argv);
  if (!entry->spec.env.empty()) {
    std::vector<const char*> keys, values;
    for (auto& [k, v] : entry->spec.env) {
      keys.push_back(k.c_str());
      values.push_back(v.c_str());
    }
    wasi_config_set_env(wasi, keys.size(), keys.data(), values.data());
  }

  std::optional<Error> failure;
  int exitCode = 0;
  int64_t memoryBytes = -1;
  if (auto* wasiErr = wasmtime_context_set_wasi(ctx, wasi)) {
    failure = Error(ErrorCode::kInternal, "wasi setup: " + takeMessage(wasiErr));
  } else {
    wasmtime_instance_t instance;
    wasm_trap_t* trap = nullptr;
    wasmtime_error_t* err =
        wasmtime_instance_pre_instantiate(entry->code->pre, ctx, &instance, &trap);
    wasmtime_extern_t start_fn;
    if (!err && !trap && !wasmtime_instance_export_get(ctx, &instance, "_start", 6, &start_fn)) {
      failure = Error(ErrorCode::kModuleFailed, "module exports no _start (not a WASI command)");
    } else if (!err && !trap) {
      err = wasmtime_func_call(ctx, &start_fn.of.func, nullptr, 0, nullptr, 0, &trap);
      // Linear memory only grows: its size at the end is the run's peak.
      wasmtime_extern_t mem;
      if (wasmtime_instance_export_get(ctx, &instance, "memory", 6, &mem) &&
          mem.kind == WASMTIME_EXTERN_MEMORY)
        memoryBytes = static_cast<int64_t>(wasmtime_memory_data_size(ctx, &mem.of.memory));
    }
    if (!failure) {
      std::string why;
      if (err && wasmtime_error_exit_status(err, &exitCode)) {
        wasmtime_error_delete(err);
      } else if (err) {
        why = takeMessage(err);
        exitCode = -1;
      } else if (trap) {
        why = trapMessage(trap);
        exitCode = -1;
      }
      if (st.canceled) {
        failure = Error(ErrorCode::kCanceled, "canceled while running module '" + name + "'");
      } else if (st.timedOut) {
        failure = Error(ErrorCode::kTimeout, "module '" + name + "' exceeded its wall-time limit",
                        {{"limit", "wall_time"}});
      } else if (exitCode == -1 && entry->code->fuel && fuelLeft(ctx) == 0) {
        failure =
            Error(ErrorCode::kModuleFailed,
                  "module '" + name + "' used up its fuel (" + std::to_string(lim.fuel) + " units)",
                  {{"limit", "fuel"}});
      } else if (exitCode == -1) {
        // Memory growth past the limiter surfaces as a trap or allocation failure.
        failure =
            Error(ErrorCode::kModuleFailed, "module '" + name + "' trapped: " + firstLine(why));
      }
    }
  }
  int64_t fuelUsed = entry->code->fuel ? static_cast<int64_t>(lim.fuel - fuelLeft(ctx)) : -1;
  wasmtime_store_delete(store);

  CallResult res;
  res.fuelUsed = fuelUsed;
  res.memoryBytes = memoryBytes;
  res.micros = std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::steady_clock::now() - start)
                   .count();
  res.stderrTail = st.io.stderrTail();
  if (failure) {
    failure->details["module"] = name;
    if (fuelUsed >= 0) failure->details["fuelUsed"] = fuelUsed;  // burned even when it failed
    if (!res.stderrTail.empty()) failure->details["stderr"] = res.stderrTail;
    return std::unexpected(*failure);
  }
  if (st.io.outputExceeded) {
    return fail(ErrorCode::kModuleFailed,
                "module '" + name + "' wrote more than " + std::to_string(lim.outputBytes) +
                    " bytes of output",
                {{"module", name}, {"limit", "output"}});
  }
  boost::system::error_code ec;
  json::value out = json::parse(st.io.out, ec);
  if (exitCode == 2 && !ec && out.is_object() && out.as_object().contains("error")) {
    const auto& e = out.as_object().at("error");
    std::string msg =
        e.is_object() && e.as_object().contains("message") && e.at("message").is_string()
            ? std::string(e.at("message").as_string())
            : "module rejected its input";
    return fail(ErrorCode::kInvalidParams, msg, {{"module", name}});
  }
  if (exitCode != 0) {
    return fail(ErrorCode::kModuleFailed,
                "module '" + name + "' exited with status " + std::to_string(exitCode),
                {{"module", name}, {"stderr", res.stderrTail}});
  }
  if (ec) {
    return fail(ErrorCode::kModuleFailed,
                "module '" + name + "' wrote invalid JSON: " + ec.message(), {{"module", name}});
  }
  res.output = std::move(out);
  return res;
}

boost::json::array WasmModuleHost::describe() const {
  std::shared_lock lock(mu_);
  json::array out;
  for (auto& [name, e] : modules_) {
    out.push_back(json::object{{"name", name},
                               {"version", e->spec.version},
                               {"kind", e->spec.kind},
                               {"sha256", e->code->sha256},
                               {"intents", json::value_from(e->spec.intents)},
                               {"limits",
                                {{"memoryMb", e->spec.limits.memoryMb},
                                 {"timeoutMs", e->spec.limits.timeoutMs},
                                 {"outputBytes", e->spec.limits.outputBytes},
                                 {"fuel", e->spec.limits.fuel},
                                 {"concurrency", e->spec.limits.concurrency}}}});
  }
  return out;
}

size_t WasmModuleHost::cachedCount() const {
  std::shared_lock lock(mu_);
  return cache_.size();
}

}  // namespace aion::modhost
