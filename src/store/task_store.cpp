#include "store/task_store.h"

#include <future>

namespace aion::store {

Result<std::vector<std::string>> TaskStore::purgeFinished(int64_t beforeMs, int limit) {
  Write w;
  w.purge = Write::Purge{.beforeMs = beforeMs, .limit = limit};
  auto deleted = w.purge->deleted;
  std::promise<Status> committed;
  auto f = committed.get_future();
  write(std::move(w), [&committed](const Status& st, Write&) { committed.set_value(st); });
  if (auto st = f.get(); !st) return std::unexpected(st.error());
  return std::move(*deleted);
}

}  // namespace aion::store
