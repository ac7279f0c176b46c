#pragma once
// One module call in the metrics, counted the same way wherever it runs:
// the control plane (its own modules, or the call it made to a module host)
// and the module host (aiond --role modhost) that ran it.
#include <string>

#include "common/error.h"
#include "modhost/module_host.h"
#include "telemetry/metrics.h"

namespace aion::modhost {

//! Counts a module call in `m`: outcome, latency, fuel, memory, and the
//! limit or sandbox refusal that stopped it.
inline void countModuleCall(telemetry::Metrics& m, const std::string& module,
                            const Result<CallResult>& r) {
  if (r) {
    m.moduleCall(module, true, static_cast<double>(r->micros) / 1e6, r->fuelUsed, r->memoryBytes);
    return;
  }
  std::string limit;
  auto& d = r.error().details;
  if (auto* l = d.if_contains("limit"); l && l->is_string()) limit = std::string(l->as_string());
  int64_t fuel =
      d.contains("fuelUsed") && d.at("fuelUsed").is_int64() ? d.at("fuelUsed").as_int64() : -1;
  m.moduleCall(module, false, 0, fuel, -1, limit);
}

}  // namespace aion::modhost
