#include "store/outbox.h"

#include <boost/json.hpp>

#include "common/json_text.h"
#include "router/plan_json.h"

namespace aion::store {
namespace json = boost::json;

std::string outboxPayload(const Event& e) {
  return jsonText(json::object{{"taskId", e.taskId},
                               {"seq", e.seq},
                               {"type", e.type},
                               {"ts", e.tsMs},
                               {"data", router::eventDataView(e)}});
}

std::string outboxPayload(const UsageRecord& u) {
  return jsonText(json::object{{"id", u.id},
                               {"taskId", u.taskId},
                               {"ts", u.tsMs},
                               {"day", utcDay(u.tsMs)},
                               {"tenant", u.tenant},
                               {"keyId", u.keyId},
                               {"intent", u.intent},
                               {"provider", u.provider},
                               {"model", u.model},
                               {"promptTokens", u.promptTokens},
                               {"completionTokens", u.completionTokens},
                               {"costUsd", fromNanoUsd(u.costNanoUsd)},
                               {"estimated", u.estimated}});
}

}  // namespace aion::store
