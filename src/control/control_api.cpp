#include "control/control_api.h"

namespace aion::control {

Result<ModelEntry> findModel(const std::vector<ModelEntry>& models, const std::string& name,
                             const std::string& intent) {
  const ModelEntry* other = nullptr;
  for (auto& m : models) {
    bool match = m.id == name;
    for (auto& a : m.aliases) match = match || a == name;
    if (!match) continue;
    if (intent.empty() || m.intent == intent) return m;
    other = &m;
  }
  if (other)
    return fail(ErrorCode::kInvalidRequest,
                "model '" + name + "' serves " + other->intent + ", not " + intent,
                {{"param", "model"}, {"openaiCode", "model_not_supported"}});
  return fail(ErrorCode::kNotFound,
              "The model '" + name +
                  "' does not exist or you do not have access to it (GET /v1/models lists them).",
              {{"param", "model"}, {"openaiCode", "model_not_found"}});
}

boost::asio::awaitable<Result<Attached>> ControlApi::submitAttached(SubmitRequest req) {
  req.attached = true;
  Principal who = req.principal;
  bool skipAdmission = req.followFromAdmission;
  auto t = co_await submit(std::move(req));
  if (!t) co_return std::unexpected(t.error());
  auto f = co_await follow(std::move(who), t->id, skipAdmission ? t->lastSeq : 0);
  if (!f) co_return std::unexpected(f.error());
  co_return Attached{std::move(*t), std::move(*f)};
}

}  // namespace aion::control
