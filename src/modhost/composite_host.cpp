#include "modhost/composite_host.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <chrono>

namespace aion::modhost {
namespace json = boost::json;

CompositeModuleHost::CompositeModuleHost(std::map<std::string, std::unique_ptr<ModuleHost>> byKind,
                                         std::vector<GpuDevice> gpus)
    : byKind_(std::move(byKind)), gpus_(std::move(gpus)) {}

ModuleHost* CompositeModuleHost::host(const std::string& kind) const {
  auto it = byKind_.find(kind);
  return it == byKind_.end() ? nullptr : it->second.get();
}

std::expected<void, std::vector<std::string>> CompositeModuleHost::load(
    const policy::PolicySet& set) {
  std::vector<std::string> errors;
  for (auto& [name, m] : set.modules)
    if (m.usable() && !byKind_.count(m.kind))
      errors.push_back("modules." + name + ": kind '" + m.kind + "' is not served by this host");
  if (!errors.empty()) return std::unexpected(std::move(errors));
  // Each kind's host loads its share. When one fails, the hosts that took
  // the new set go back to the last good one, so all kinds keep serving the
  // set the router still routes by.
  std::vector<ModuleHost*> loaded;
  for (auto& [kind, h] : byKind_) {
    if (auto r = h->load(set); !r)
      errors.insert(errors.end(), r.error().begin(), r.error().end());
    else
      loaded.push_back(h.get());
  }
  if (!errors.empty()) {
    for (auto* h : loaded)
      if (auto back = h->load(lastGood_); !back)
        spdlog::error("module host could not go back to the last good set: {}",
                      back.error().front());
    return std::unexpected(std::move(errors));
  }
  lastGood_.modules = set.modules;
  std::unique_lock lock(mu_);
  std::map<std::string, std::shared_ptr<const Entry>> next;
  for (auto& [name, m] : set.modules) {
    if (!m.usable()) continue;
    auto e = std::make_shared<Entry>(Entry{m, nullptr});
    if (auto old = modules_.find(name);
        old != modules_.end() && old->second->spec.limits.concurrency == m.limits.concurrency)
      e->slots = old->second->slots;
    else
      e->slots = std::make_shared<Slots>();
    next[name] = std::move(e);
  }
  modules_ = std::move(next);
  return {};
}

Result<CallResult> CompositeModuleHost::call(const std::string& name, std::string_view input,
                                             const CallOptions& opts) {
  std::shared_ptr<const Entry> e;
  {
    std::shared_lock lock(mu_);
    if (auto it = modules_.find(name); it != modules_.end()) e = it->second;
  }
  if (!e) return fail(ErrorCode::kNotFound, "module '" + name + "' is not loaded");
  auto* h = host(e->spec.kind);
  if (e->spec.inputSchema) {
    boost::system::error_code ec;
    auto v = json::parse(input, ec);
    auto errs =
        ec ? std::vector<std::string>{"params: not JSON"} : e->spec.inputSchema->validate(v);
    if (!errs.empty())
      return fail(ErrorCode::kInvalidParams,
                  "params do not match module '" + name + "' input_schema: " + errs.front(),
                  {{"module", name}, {"problems", json::value_from(errs)}});
  }
  int limit = e->spec.limits.concurrency;
  auto start = std::chrono::steady_clock::now();
  if (limit > 0) {
    // Waits for a slot until the call's deadline; the wait counts against it.
    auto deadline = start + std::chrono::milliseconds(opts.timeoutMs);
    std::unique_lock lk(e->slots->mu);
    while (e->slots->inUse >= limit) {
      if (opts.cancel && opts.cancel->load())
        return fail(ErrorCode::kCanceled, "canceled while waiting for module '" + name + "'");
      auto wake =
          std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(20));
      e->slots->cv.wait_until(lk, wake);
      if (std::chrono::steady_clock::now() >= deadline && e->slots->inUse >= limit)
        return fail(ErrorCode::kTimeout,
                    "module '" + name + "' concurrency limit (" + std::to_string(limit) +
                        ") reached; no slot freed before the deadline",
                    {{"module", name}});
    }
    ++e->slots->inUse;
  }
  // Frees the slot however the call ends (an exception included).
  auto release = [&](Slots* s) {
    std::lock_guard lk(s->mu);
    --s->inUse;
    s->cv.notify_one();
  };
  std::unique_ptr<Slots, decltype(release)> slot(limit > 0 ? e->slots.get() : nullptr, release);
  CallOptions o = opts;
  o.timeoutMs = std::max<int>(
      1, opts.timeoutMs - static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::steady_clock::now() - start)
                                               .count()));
  auto r = h->call(name, input, o);
  slot.reset();
  if (r && e->spec.outputSchema) {
    auto errs = e->spec.outputSchema->validate(r->output);
    if (!errs.empty()) {
      // The validator names the root "params"; here it is the module's output.
      auto first = errs.front();
      if (first.rfind("params", 0) == 0) first.replace(0, 6, "output");
      return fail(ErrorCode::kModuleFailed,
                  "module '" + name + "' output does not match its output_schema: " + first,
                  {{"module", name}});
    }
  }
  return r;
}

json::array CompositeModuleHost::describe() const {
  json::array out;
  for (auto& [kind, h] : byKind_)
    for (auto& m : h->describe()) out.push_back(m);
  return out;
}

}  // namespace aion::modhost
