#pragma once
// The collection endpoints (docs/retrieval.md), one implementation for both
// listeners that serve them: the gateway (behind its admission chain) and
// the control role's own port (behind its key check).
// POST /v1/collections/{name}/documents, GET /v1/collections,
// DELETE /v1/collections/{name}; always the caller's tenant's collections.
#include <functional>

#include "control/control_api.h"
#include "http/server.h"

namespace aion::control {

using CollectionReply = boost::asio::awaitable<std::optional<http::Response>>;
//! A collection endpoint, for a caller already admitted.
using CollectionHandler = std::function<CollectionReply(http::Exchange&, const Principal&)>;
//! Wraps a collection endpoint in what admits its caller on a listener.
using CollectionAdmit = std::function<http::Handler(CollectionHandler)>;

//! Adds the endpoints over `control`, each wrapped by `admit`. Answers in the
//! project's error shape; a refused request changes nothing.
void addCollectionRoutes(http::Routes& routes, ControlApi& control, const CollectionAdmit& admit);

}  // namespace aion::control
