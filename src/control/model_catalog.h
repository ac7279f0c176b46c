#pragma once
// The models clients may name (the OpenAI-compatible `model`), derived from
// a policy set: "auto" per intent, every model and module candidate of the
// chat and embed intents, and "provider/model" aliases.
#include <string>
#include <vector>

#include "control/control_api.h"

namespace aion::control {

//! Every nameable model of `ps` (availability not filled in).
std::vector<ModelEntry> modelCatalog(const policy::PolicySet& ps);

}  // namespace aion::control
