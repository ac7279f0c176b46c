#include "store/task_store.h"

#include <future>

namespace aion::store {

Result<std::vector<std::string>> TaskStore::purgeFinished(int64_t beforeMs, int limit) {
  Write w;
  w.purge = Write::Purge{.beforeMs = beforeMs, .limit = limit};
  auto deleted = w.purge->deleted;
  // Shared with the callback: a wait that times out leaves it a live promise.
  auto committed = std::make_shared<std::promise<Status>>();
  auto f = committed->get_future();
  write(std::move(w), [committed](const Status& st, Write&) { committed->set_value(st); });
  // Bounded like every wait: a writer stuck this long has its own alarms
  // (aion_store_write_backlog_seconds); the next pass deletes what this one did not.
  if (f.wait_for(std::chrono::seconds(60)) != std::future_status::ready)
    return fail(ErrorCode::kTimeout, "purge not committed within 60 s (store writer behind)");
  if (auto st = f.get(); !st) return std::unexpected(st.error());
  return std::move(*deleted);
}

}  // namespace aion::store
