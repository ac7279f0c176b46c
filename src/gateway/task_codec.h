#pragma once
// JSON shapes shared by the gateway's transports (REST, SSE, WebSocket).
#include <boost/json/object.hpp>

#include "control/control_api.h"

namespace aion::gateway {

//! Parses a task submission body ({"schemaVersion","intent","params",...}).
//! kInvalidRequest names the first problem; unknown fields are refused.
Result<control::SubmitRequest> parseSubmit(const boost::json::object& body, Principal who);
//! The task as the API shows it.
boost::json::object taskJson(const store::Task& t);
//! One stored event: {taskId, seq, type, ts, data}.
boost::json::object eventJson(const store::Event& e);

}  // namespace aion::gateway
