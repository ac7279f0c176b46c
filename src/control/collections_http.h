#pragma once
// Collections of documents for retrieval, on the control plane's REST API
// (docs/api.md#collections): POST /v1/collections/{name}/documents,
// GET /v1/collections, DELETE /v1/collections/{name}. Always the caller's
// tenant's collections.
#include "auth/api_keys.h"
#include "control/retrieval.h"
#include "http/server.h"

namespace aion::control {

void addCollectionRoutes(http::Routes& routes, const auth::KeyRing& keys, Retrieval& retrieval);

}  // namespace aion::control
