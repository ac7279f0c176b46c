#include "events/file_sink.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "store/outbox.h"

namespace aion::events {
namespace fs = std::filesystem;

namespace {

// An append-only descriptor on one file, closed on scope exit.
struct Appender {
  int fd = -1;
  off_t start = 0;  // the size before this batch: where a failed batch is cut back to
  ~Appender() {
    if (fd >= 0) ::close(fd);
  }
};

std::string errnoText() {
  return std::strerror(errno);
}

bool writeAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

fs::path FileSink::fileOf(const fs::path& dir, const std::string& topic) {
  return dir / (topic + ".jsonl");
}

Result<std::unique_ptr<FileSink>> FileSink::open(fs::path dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return fail(ErrorCode::kInvalidRequest,
                "AION_EVENTS_DIR: cannot create " + dir.string() + ": " + ec.message());
  for (const char* topic : {store::kTaskEventsTopic, store::kUsageTopic}) {
    auto path = fileOf(dir, topic);
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
      return fail(ErrorCode::kInvalidRequest,
                  "AION_EVENTS_DIR: cannot append to " + path.string() + ": " + errnoText());
    ::close(fd);
  }
  return std::unique_ptr<FileSink>(new FileSink(std::move(dir)));
}

bool FileSink::deliver(const std::vector<store::OutboxRecord>& records,
                       const std::function<bool()>&) {
  std::map<std::string, std::string> lines;  // topic -> this batch's lines, in order
  for (auto& r : records) {
    auto& out = lines[r.topic];
    out += envelope(r);
    out += '\n';
  }
  std::map<std::string, Appender> files;
  auto failed = [&](const std::string& what, const fs::path& path) {
    spdlog::warn("file: {} {}: {}; retrying from the outbox", what, path.string(), errnoText());
    for (auto& [topic, f] : files)  // no half batch, no half line
      if (f.fd >= 0 && ::ftruncate(f.fd, f.start) != 0 && errno != EINVAL)
        spdlog::warn("file: cutting {} back after a failed write: {}", fileOf(dir_, topic).string(),
                     errnoText());
    return false;
  };
  for (auto& [topic, text] : lines) {
    auto path = fileOf(dir_, topic);
    auto& f = files[topic];
    f.fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (f.fd < 0) return failed("opening", path);
    struct stat st {};
    if (::fstat(f.fd, &st) != 0) return failed("reading the size of", path);
    f.start = st.st_size;
    if (!writeAll(f.fd, text)) return failed("writing", path);
  }
  for (auto& [topic, f] : files)
    if (::fdatasync(f.fd) != 0) return failed("syncing", fileOf(dir_, topic));
  return true;
}

}  // namespace aion::events
