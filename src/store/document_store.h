#pragma once
// The document seam (DESIGN.md §3, docs/architecture.md "Task documents"):
// a task's large values (params, result) and its full event history, kept
// apart from the task row, which holds a reference to them. Embedded:
// SqliteDocumentStore; at scale: MongoDocumentStore (AION_CONTROL_MONGO_DSN).
// Documents are stored as JSON text, so what is read back is byte for byte
// what was written (no BSON round trip of numbers, no "$"- or "."-keys
// refused by the server).
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "store/task.h"

namespace aion::store {

//! One named value of one task (name: params | result), as JSON text.
struct TaskDocument {
  std::string taskId;
  std::string name;
  std::string json;
};

class DocumentStore {
 public:
  //! The largest document (JSON text) a store accepts: MongoDB's 16 MiB per
  //! document, less room for the fields around it. Every implementation
  //! refuses larger ones the same way (kPayloadTooLarge), so the limit does
  //! not depend on which engine is configured.
  static constexpr size_t kMaxDocumentBytes = (16u << 20) - (64u << 10);

  virtual ~DocumentStore() = default;
  //! "sqlite" or "mongodb": for logs and metrics.
  virtual std::string_view engine() const = 0;

  // Every call blocks (network or disk, bounded by the store's deadlines):
  // call it from a blocking pool or a store thread, never an I/O thread.
  // Thread-safe.

  //! Stores `docs`, replacing any with the same (taskId, name). A document
  //! larger than kMaxDocumentBytes fails the call with kPayloadTooLarge
  //! before anything is stored; an engine failure is kUnavailable, and then
  //! some of `docs` may be stored (a retry stores them again: idempotent).
  virtual Status put(const std::vector<TaskDocument>& docs) = 0;
  //! The document (taskId, name); nullopt when there is none.
  virtual Result<std::optional<std::string>> get(const std::string& taskId,
                                                 const std::string& name) = 0;
  //! Adds events to their tasks' histories; an event with a (taskId, seq)
  //! already stored replaces it (a retried write is idempotent). Same size
  //! rule and failure rule as put(), per event's data.
  virtual Status appendEvents(const std::vector<Event>& events) = 0;
  //! Events of `taskId` with seq > afterSeq, in seq order, at most `limit`.
  virtual Result<std::vector<Event>> events(const std::string& taskId, int64_t afterSeq,
                                            int limit) = 0;
  //! Removes every document and event of `taskId` (none: not an error).
  virtual Status remove(const std::string& taskId) = 0;
  //! A cheap round trip to the engine.
  virtual Status ping() = 0;
};

//! kPayloadTooLarge naming the document, or success: the one size rule.
Status checkDocumentSize(std::string_view taskId, std::string_view what, size_t bytes);

}  // namespace aion::store
