#pragma once
// The file event sink (AION_EVENTS_DIR): each topic is a JSON-lines file in
// the directory (aion.task-events.jsonl, aion.usage.jsonl), one envelope per
// line, appended and fsynced before the outbox lets the records go. For the
// embedded profile, where there is no broker: tools that read JSON lines
// (ClickHouse's JSONEachRow, Spark, jq) take the files as they are.
#include <filesystem>
#include <memory>

#include "events/event_sink.h"

namespace aion::events {

class FileSink final : public EventSink {
 public:
  //! Creates the directory if needed and checks that both files can be
  //! appended to; the error names AION_EVENTS_DIR.
  static Result<std::unique_ptr<FileSink>> open(std::filesystem::path dir);

  const char* name() const override { return "file"; }
  //! Opens each file anew (so a file moved away by rotation is recreated),
  //! appends, fsyncs. A batch that fails part-way is cut off again, so a
  //! file never keeps half a batch or half a line.
  bool deliver(const std::vector<store::OutboxRecord>& records,
               const std::function<bool()>& stopping) override;

  static std::filesystem::path fileOf(const std::filesystem::path& dir, const std::string& topic);

 private:
  explicit FileSink(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path dir_;
};

}  // namespace aion::events
