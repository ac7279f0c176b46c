#include "vector/collection_log.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>

#include "common/json_text.h"

namespace aion::vector {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

constexpr const char* kSuffix = ".jsonl";

Error ioError(const fs::path& p, const std::string& what) {
  return Error(ErrorCode::kUnavailable,
               "vector index file " + p.string() + ": " + what + ": " + std::strerror(errno));
}

json::object pointJson(const Point& p) {
  json::array v;
  v.reserve(p.vector.size());
  for (float x : p.vector) v.emplace_back(static_cast<double>(x));
  return {{"id", p.id},     {"doc", p.docId},         {"chunk", p.chunk},
          {"text", p.text}, {"metadata", p.metadata}, {"vector", std::move(v)}};
}

std::optional<Point> pointOf(const json::value& v) {
  const auto* o = v.if_object();
  if (!o) return std::nullopt;
  auto str = [&](const char* k) -> const json::string* {
    auto* x = o->if_contains(k);
    return x && x->is_string() ? &x->as_string() : nullptr;
  };
  auto *id = str("id"), *doc = str("doc"), *text = str("text");
  auto* chunk = o->if_contains("chunk");
  auto* meta = o->if_contains("metadata");
  auto* vec = o->if_contains("vector");
  if (!id || !doc || !text || !chunk || !chunk->is_int64() || !meta || !meta->is_object() || !vec ||
      !vec->is_array())
    return std::nullopt;
  Point p;
  p.id = *id;
  p.docId = *doc;
  p.text = *text;
  p.chunk = static_cast<int>(chunk->as_int64());
  p.metadata = meta->as_object();
  for (auto& x : vec->as_array()) {
    if (!x.is_number()) return std::nullopt;
    p.vector.push_back(static_cast<float>(x.to_number<double>()));
  }
  return p;
}

//! Writes all of `data` to `fd`.
bool writeAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

fs::path CollectionLog::pathOf(const std::string& tenant, const std::string& name) const {
  return dir_ / (hexOf(tenant) + "-" + name + kSuffix);
}

Status CollectionLog::append(const fs::path& p, const std::string& line, bool create) {
  int flags = O_WRONLY | O_APPEND | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0);
  int fd = ::open(p.c_str(), flags, 0600);
  if (fd < 0) return std::unexpected(ioError(p, "open"));
  bool ok = writeAll(fd, line + "\n") && ::fdatasync(fd) == 0;
  Error e = ok ? Error() : ioError(p, "write");
  ::close(fd);
  if (!ok) return std::unexpected(e);
  return {};
}

Status CollectionLog::create(const std::string& tenant, const std::string& name, int dim) {
  return append(pathOf(tenant, name), jsonText(json::object{{"op", "create"}, {"dim", dim}}), true);
}

Status CollectionLog::upsert(const std::string& tenant, const std::string& name,
                             const std::vector<Point>& points) {
  json::array ps;
  for (auto& p : points) ps.push_back(pointJson(p));
  return append(pathOf(tenant, name),
                jsonText(json::object{{"op", "upsert"}, {"points", std::move(ps)}}), false);
}

Status CollectionLog::removeDocuments(const std::string& tenant, const std::string& name,
                                      const std::vector<std::string>& docIds) {
  json::array ids;
  for (auto& d : docIds) ids.emplace_back(d);
  return append(pathOf(tenant, name),
                jsonText(json::object{{"op", "delete"}, {"docIds", std::move(ids)}}), false);
}

Status CollectionLog::drop(const std::string& tenant, const std::string& name) {
  std::error_code ec;
  fs::remove(pathOf(tenant, name), ec);
  if (ec)
    return fail(ErrorCode::kUnavailable,
                "vector index file " + pathOf(tenant, name).string() + ": " + ec.message());
  return {};
}

Result<std::vector<CollectionLog::Loaded>> CollectionLog::loadAll() {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec)
    return fail(ErrorCode::kUnavailable, "cannot create " + dir_.string() + ": " + ec.message());
  std::vector<Loaded> out;
  for (auto& entry : fs::directory_iterator(dir_, ec)) {
    const auto& p = entry.path();
    std::string file = p.filename().string();
    if (!file.ends_with(kSuffix)) continue;  // e.g. a compaction's leftover .tmp
    std::string stem = file.substr(0, file.size() - std::strlen(kSuffix));
    auto dash = stem.find('-');
    auto tenant = dash == std::string::npos ? std::nullopt : unhex(stem.substr(0, dash));
    if (!tenant) {
      spdlog::warn("vectors: ignoring {} (not <hex tenant>-<name>.jsonl)", p.string());
      continue;
    }
    std::ifstream in(p);
    if (!in) return std::unexpected(ioError(p, "read"));
    Loaded c{*tenant, stem.substr(dash + 1), 0, {}};
    std::map<std::string, Point> live;
    size_t records = 0, written = 0;
    bool torn = false;
    std::string line;
    while (std::getline(in, line)) {
      boost::system::error_code jec;
      auto v = json::parse(line, jec);
      const auto* o = jec ? nullptr : v.if_object();
      const auto* op = o ? o->if_contains("op") : nullptr;
      if (!op || !op->is_string()) {
        spdlog::warn("vectors: {} ends with a torn or unreadable record; kept what came before",
                     p.string());
        torn = true;  // rewritten below, so later records do not land behind it
        break;
      }
      ++records;
      if (op->as_string() == "create") {
        if (auto* d = o->if_contains("dim"); d && d->is_int64())
          c.dim = static_cast<int>(d->as_int64());
      } else if (op->as_string() == "upsert") {
        if (auto* ps = o->if_contains("points"); ps && ps->is_array())
          for (auto& pv : ps->as_array())
            if (auto pt = pointOf(pv)) {
              ++written;
              std::string id = pt->id;
              live.insert_or_assign(std::move(id), std::move(*pt));
            }
      } else if (op->as_string() == "delete") {
        if (auto* ids = o->if_contains("docIds"); ids && ids->is_array())
          for (auto& d : ids->as_array())
            if (d.is_string())
              std::erase_if(live, [&](const auto& kv) { return kv.second.docId == d.as_string(); });
      }
    }
    if (c.dim <= 0) {
      spdlog::warn("vectors: ignoring {} (no create record)", p.string());
      continue;
    }
    for (auto& [id, pt] : live) c.points.push_back(std::move(pt));
    if (torn || (records > 2 && written > c.points.size())) {
      // Compaction: the live points as one create and one upsert, renamed over the log.
      fs::path tmp = p;
      tmp += ".tmp";
      auto st = append(tmp, jsonText(json::object{{"op", "create"}, {"dim", c.dim}}), true);
      if (st && !c.points.empty()) {
        json::array ps;
        for (auto& pt : c.points) ps.push_back(pointJson(pt));
        st =
            append(tmp, jsonText(json::object{{"op", "upsert"}, {"points", std::move(ps)}}), false);
      }
      if (!st) return std::unexpected(st.error());
      fs::rename(tmp, p, ec);
      if (ec)
        return fail(ErrorCode::kUnavailable, "cannot replace " + p.string() + ": " + ec.message());
    }
    out.push_back(std::move(c));
  }
  if (ec)
    return fail(ErrorCode::kUnavailable, "cannot list " + dir_.string() + ": " + ec.message());
  return out;
}

}  // namespace aion::vector
