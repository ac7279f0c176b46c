#include "control/policy_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace aion::control {
namespace fs = std::filesystem;
namespace json = boost::json;

Status checkPolicyFileName(std::string_view name) {
  if (std::find(kPolicyFileNames.begin(), kPolicyFileNames.end(), name) != kPolicyFileNames.end())
    return {};
  std::string shown(name.substr(0, 64));
  for (auto& c : shown)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  return fail(ErrorCode::kInvalidRequest,
              "unknown policy file '" + shown +
                  "' (use intents.yml, policies.yml, models.yml or modules.yml)");
}

Result<std::string> readPolicyFile(const fs::path& dir, std::string_view name, size_t maxBytes) {
  if (auto ok = checkPolicyFileName(name); !ok) return std::unexpected(ok.error());
  auto path = dir / std::string(name);
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::string();
  auto size = fs::file_size(path, ec);
  if (ec) return fail(ErrorCode::kInternal, std::string(name) + ": " + ec.message());
  if (size > maxBytes)
    return fail(ErrorCode::kPayloadTooLarge,
                std::string(name) + " is larger than " + std::to_string(maxBytes) + " bytes");
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::kInternal, std::string(name) + ": cannot be read");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

namespace {

//! A scratch folder removed with its contents when it goes out of scope.
class ScratchDir {
 public:
  ScratchDir() {
    static std::atomic<unsigned> n{0};
    path_ = fs::temp_directory_path() /
            ("aion-policy-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    fs::remove_all(path_, ec_);
    fs::create_directories(path_, ec_);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  bool ok() const { return !ec_; }

 private:
  fs::path path_;
  std::error_code ec_;
};

}  // namespace

std::expected<policy::PolicySetPtr, policy::LoadErrors> validateReplacement(
    const fs::path& dir, std::string_view name, const std::string& text,
    const policy::LoadOptions& opts) {
  if (auto ok = checkPolicyFileName(name); !ok)
    return std::unexpected(policy::LoadErrors{ok.error().message});
  ScratchDir scratch;
  if (!scratch.ok()) return std::unexpected(policy::LoadErrors{"cannot create a scratch folder"});
  for (auto f : kPolicyFileNames) {
    std::string content;
    if (f == name) {
      content = text;
    } else {
      auto cur = readPolicyFile(dir, f, opts.maxFileBytes);
      if (!cur)
        return std::unexpected(policy::LoadErrors{std::string(f) + ": " + cur.error().message});
      std::error_code ec;
      if (!fs::exists(dir / std::string(f), ec)) continue;  // stays missing: the loader says so
      content = std::move(*cur);
    }
    std::ofstream out(scratch.path() / std::string(f), std::ios::binary);
    out << content;
    if (!out) return std::unexpected(policy::LoadErrors{"cannot write a scratch copy"});
  }
  return policy::loadPolicyDir(scratch.path(), opts);
}

Status writeFileAtomically(const fs::path& path, const std::string& text) {
  auto tmp = path;
  tmp += ".tmp-" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return fail(ErrorCode::kUnavailable,
                "cannot write " + path.filename().string() + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < text.size()) {
    auto n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return fail(ErrorCode::kUnavailable,
                  "cannot write " + path.filename().string() + ": " + std::strerror(e));
    }
    off += static_cast<size_t>(n);
  }
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return fail(ErrorCode::kUnavailable,
                "cannot replace " + path.filename().string() + ": " + std::strerror(e));
  }
  return {};
}

json::object locatePolicyError(std::string_view error) {
  json::object o;
  auto c1 = error.find(':');
  std::string_view file = c1 == std::string_view::npos ? "" : error.substr(0, c1);
  bool known =
      std::find(kPolicyFileNames.begin(), kPolicyFileNames.end(), file) != kPolicyFileNames.end();
  if (!known) {
    o["file"] = nullptr;
    o["line"] = 0;
    o["message"] = error;
    return o;
  }
  o["file"] = file;
  auto rest = error.substr(c1 + 1);
  size_t digits = 0;
  while (digits < rest.size() && digits < 9 &&
         std::isdigit(static_cast<unsigned char>(rest[digits])))
    ++digits;
  if (digits > 0 && digits < rest.size() && rest[digits] == ':') {
    o["line"] = std::stoi(std::string(rest.substr(0, digits)));
    rest = rest.substr(digits + 1);
  } else {
    o["line"] = 0;
  }
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  o["message"] = rest;
  return o;
}

}  // namespace aion::control
