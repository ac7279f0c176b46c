#pragma once
// What keeps the in-process vector index across restarts: one append-only
// JSON-lines file per collection under AION_DATA_DIR/vectors, named
// "<hex of tenant>-<name>.jsonl". Records: {"op":"create","dim"},
// {"op":"upsert","points":[…]}, {"op":"delete","docIds":[…]}; each is
// fdatasync'ed before the change it records is applied in memory. Loading
// replays every file, drops a torn last line (a crash mid-write), and
// rewrites a file that had one, or whose log holds more than its live points
// (compaction).
// Not thread-safe: MemoryIndex calls it under its own lock, on its pool.
#include <filesystem>
#include <string>
#include <vector>

#include "vector/vector_index.h"

namespace aion::vector {

class CollectionLog {
 public:
  explicit CollectionLog(std::filesystem::path dir) : dir_(std::move(dir)) {}

  struct Loaded {
    std::string tenant;
    std::string name;
    int dim = 0;
    std::vector<Point> points;
  };
  //! Every collection in the folder (created when missing). kUnavailable
  //! when the folder or a file cannot be read or written.
  Result<std::vector<Loaded>> loadAll();

  Status create(const std::string& tenant, const std::string& name, int dim);
  Status upsert(const std::string& tenant, const std::string& name,
                const std::vector<Point>& points);
  Status removeDocuments(const std::string& tenant, const std::string& name,
                         const std::vector<std::string>& docIds);
  Status drop(const std::string& tenant, const std::string& name);

 private:
  std::filesystem::path pathOf(const std::string& tenant, const std::string& name) const;
  Status append(const std::filesystem::path& p, const std::string& line, bool create);

  std::filesystem::path dir_;
};

}  // namespace aion::vector
