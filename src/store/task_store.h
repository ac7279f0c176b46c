#pragma once
#include <memory>
#include <optional>
#include <vector>

#include "common/error.h"
#include "store/task.h"

namespace aion::store {

//! Durable tasks and events. Every write is committed before the call
//! returns, and the events of one call get consecutive, gap-free `seq`s.
//! Implementations are thread-safe; calls block (use them off I/O threads).
class TaskStore {
 public:
  virtual ~TaskStore() = default;

  //! Inserts a new task together with its first events, atomically.
  virtual Result<std::vector<Event>> create(const Task& task,
                                            const std::vector<EventDraft>& events) = 0;
  virtual Result<std::optional<Task>> get(const std::string& id) = 0;
  virtual Result<TaskPage> list(const ListQuery& q) = 0;
  //! Events with seq > afterSeq, in order, at most `limit`.
  virtual Result<std::vector<Event>> events(const std::string& taskId, int64_t afterSeq,
                                            int limit) = 0;
  //! Applies `t` and appends `events` atomically if the status matches;
  //! returns nullopt (and changes nothing) when it does not.
  virtual Result<std::optional<std::vector<Event>>> transition(
      const Transition& t, const std::vector<EventDraft>& events) = 0;
  //! Marks a cancel request durably (the worker acts on it).
  virtual Status requestCancel(const std::string& id) = 0;
  //! Tasks not yet terminal, oldest first (for recovery at start-up).
  virtual Result<std::vector<Task>> unfinished() = 0;
  //! Cheap liveness probe of the backing store.
  virtual Status ping() = 0;
};

}  // namespace aion::store
