#include "modhost/subprocess_host.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <condition_variable>
#include <cstring>
#include <mutex>

#include "common/digest.h"

namespace aion::modhost {
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

struct SubprocessModuleHost::Entry {
  policy::Module spec;
  std::string sha256;
  int fd = -1;  // the artifact, opened at load
  ~Entry() {
    if (fd >= 0) close(fd);
  }
};

namespace {

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::optional<std::string> readFd(int fd) {
  std::string data;
  char buf[65536];
  for (off_t off = 0;;) {
    ssize_t n = pread(fd, buf, sizeof buf, off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) return data;
    data.append(buf, n);
    off += n;
  }
}

// Opens and checks one artifact; on success the entry owns the descriptor.
std::string openArtifact(const policy::Module& m, bool root, int& fdOut, std::string& digestOut) {
  const std::string& path = m.artifactPath;
  if (path.empty() || path.front() != '/') return "artifact path must be absolute: '" + path + "'";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "cannot open " + path + ": " + std::strerror(errno);
  auto refuse = [&](std::string msg) {
    close(fd);
    return msg;
  };
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return refuse(path + " is not a regular file");
  (void)root;  // the sealed copy below is 0555, whoever the module runs as
  if (!(st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH))) return refuse(path + " is not executable");
  auto bytes = readFd(fd);
  if (!bytes) return refuse("cannot read " + path + ": " + std::strerror(errno));
  std::string digest = sha256Hex(*bytes);
  if (!m.sha256.empty() && m.sha256 != digest) {
    return refuse("digest mismatch: manifest says " + m.sha256 + ", artifact is " + digest);
  }
  close(fd);
  // What runs is a sealed in-memory copy of the bytes just checked: a later
  // rewrite of the file, even in place (same inode), cannot change it.
  int mfd = memfd_create(m.name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0) return std::string("memfd_create: ") + std::strerror(errno);
  size_t off = 0;
  while (off < bytes->size()) {
    ssize_t n = write(mfd, bytes->data() + off, bytes->size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(mfd);
      return std::string("cannot copy the artifact: ") + std::strerror(errno);
    }
    off += static_cast<size_t>(n);
  }
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020  // Linux 6.3: the mode's exec bits are frozen too
#endif
  // Inside a user namespace the module may own this file (non-root aiond):
  // freeze its mode where the kernel can, else every call restores it.
  if (fchmod(mfd, 0555) == 0) fcntl(mfd, F_ADD_SEALS, F_SEAL_EXEC);
  if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    int e = errno;
    close(mfd);
    return std::string("cannot seal the artifact copy: ") + std::strerror(e);
  }
  fdOut = mfd;
  digestOut = std::move(digest);
  return "";
}

std::string signalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "unknown";
}

// RLIMIT_AS failures leave no trace of their own: say so when the run looks
// like one (peak memory near the limit, or an allocator's last words).
bool looksLikeMemoryLimit(const RunOutcome& r, int memoryMb) {
  if (r.maxRssKb >= 0 && r.maxRssKb * 4 >= int64_t(memoryMb) * 1024 * 3) return true;
  for (const char* words : {"memory allocation of", "out of memory", "Out of memory",
                            "Cannot allocate memory", "bad_alloc"}) {
    if (r.errTail.find(words) != std::string::npos) return true;
  }
  return false;
}

int cpuSeconds(const policy::ModuleLimits& lim) {
  int ms = lim.cpuMs > 0 ? lim.cpuMs : lim.timeoutMs;
  return std::max(1, (ms + 999) / 1000);
}

Result<CallResult> toResult(const std::string& name, const policy::ModuleLimits& lim, int timeoutMs,
                            RunOutcome& r) {
  json::object details{{"module", name}};
  if (!r.errTail.empty()) details["stderr"] = r.errTail;
  auto failed = [&](ErrorCode code, std::string msg) {
    return fail(code, std::move(msg), details);
  };
  std::string who = "module '" + name + "'";
  if (!r.setupError.empty()) {
    return failed(ErrorCode::kModuleFailed, who + ": sandbox setup failed: " + r.setupError);
  }
  if (r.canceled) return failed(ErrorCode::kCanceled, "canceled while running " + who);
  if (r.timedOut) {
    details["limit"] = "wall_time";
    return failed(ErrorCode::kTimeout,
                  who + " exceeded its wall-time limit (" + std::to_string(timeoutMs) + " ms)");
  }
  if (r.outputExceeded) {
    details["limit"] = "output";
    return failed(ErrorCode::kModuleFailed,
                  who + " wrote more than " + std::to_string(lim.outputBytes) + " bytes of output");
  }
  std::string memory;
  if (looksLikeMemoryLimit(r, lim.memoryMb)) {
    memory = " (memory limit of " + std::to_string(lim.memoryMb) + " MiB reached)";
    details["limit"] = "memory";
  }
  if (r.signal != 0) {
    details["signal"] = r.signal;
    int64_t cpuLimitUs = cpuSeconds(lim) * int64_t{1000000};
    if (r.signal == SIGXCPU || (r.signal == SIGKILL && r.cpuMicros >= cpuLimitUs)) {
      details["limit"] = "cpu_time";
      return failed(ErrorCode::kTimeout, who + " exceeded its CPU-time limit (" +
                                             std::to_string(cpuSeconds(lim)) + " s)");
    }
    if (r.signal == SIGSYS) details["limit"] = "syscall";  // the seccomp filter refused a call
    std::string msg =
        who + " killed by signal " + std::to_string(r.signal) + " (" + signalName(r.signal) + ")";
    msg += memory;
    return failed(ErrorCode::kModuleFailed, std::move(msg));
  }
  boost::system::error_code ec;
  json::value out = json::parse(r.out, ec);
  if (r.exitStatus == 2 && !ec && out.is_object() && out.as_object().contains("error")) {
    const auto& e = out.as_object().at("error");
    std::string msg =
        e.is_object() && e.as_object().contains("message") && e.at("message").is_string()
            ? std::string(e.at("message").as_string())
            : "module rejected its input";
    return fail(ErrorCode::kInvalidParams, msg, {{"module", name}});
  }
  if (r.exitStatus != 0) {
    details["exitStatus"] = r.exitStatus;
    std::string msg = who + " exited with status " + std::to_string(r.exitStatus);
    msg += memory;
    return failed(ErrorCode::kModuleFailed, std::move(msg));
  }
  if (ec) {
    return failed(ErrorCode::kModuleFailed,
                  who + " wrote invalid JSON (stdout must be one JSON document): " + ec.message());
  }
  CallResult res;
  res.output = std::move(out);
  res.micros = r.micros;
  res.stderrTail = std::move(r.errTail);
  res.memoryBytes = r.maxRssKb < 0 ? -1 : r.maxRssKb * 1024;
  return res;
}

}  // namespace

SubprocessModuleHost::SubprocessModuleHost() : SubprocessModuleHost(probeSandbox()) {
  if (caps_.missing.empty()) {
    spdlog::info(
        "subprocess sandbox: user, mount, PID, network, IPC, UTS namespaces, private "
        "root, /proc, seccomp, rlimits, no_new_privs");
  } else {
    spdlog::warn("subprocess sandbox: modules run with reduced isolation; missing: {}",
                 join(caps_.missing, "; "));
  }
}

SubprocessModuleHost::SubprocessModuleHost(SandboxCaps caps) : caps_(std::move(caps)) {
  if (!caps_.seccomp) return;
  auto noFork = buildSeccompProgram(false);
  auto withFork = buildSeccompProgram(true);
  if (noFork && withFork) {
    noFork_ = std::move(*noFork);
    withFork_ = std::move(*withFork);
  } else {
    caps_.seccomp = false;
    caps_.missing.push_back("seccomp: " +
                            (noFork ? withFork.error().message : noFork.error().message));
  }
}

SubprocessModuleHost::~SubprocessModuleHost() = default;

std::expected<void, std::vector<std::string>> SubprocessModuleHost::load(
    const policy::PolicySet& set) {
  std::vector<std::string> errors;
  std::map<std::string, std::shared_ptr<const Entry>> next;
  for (const auto& [name, spec] : set.modules) {
    if (spec.kind != "subprocess" || !spec.usable()) continue;
    auto e = std::make_shared<Entry>();
    e->spec = spec;
    if (auto why = openArtifact(spec, caps_.root, e->fd, e->sha256); !why.empty()) {
      errors.push_back("modules." + name + ": " + why);
      continue;
    }
    next[name] = std::move(e);
  }
  if (!errors.empty()) return std::unexpected(std::move(errors));
  std::unique_lock lock(mu_);
  modules_ = std::move(next);
  return {};
}

Result<CallResult> SubprocessModuleHost::call(const std::string& name, std::string_view input,
                                              const CallOptions& opts) {
  std::shared_ptr<const Entry> entry;
  {
    std::shared_lock lock(mu_);
    if (auto it = modules_.find(name); it != modules_.end()) entry = it->second;
  }
  if (!entry) return fail(ErrorCode::kNotFound, "module '" + name + "' is not loaded");
  const auto& lim = entry->spec.limits;
  int timeoutMs = std::min(opts.timeoutMs, lim.timeoutMs);
  auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);

  // limits.concurrency is applied by CompositeModuleHost, for every kind.

  SandboxSpec spec;
  spec.name = name;
  spec.artifactFd = entry->fd;
  spec.artifactPath = entry->spec.artifactPath;
  spec.env = entry->spec.env;
  spec.memoryMb = lim.memoryMb;
  spec.cpuSeconds = cpuSeconds(lim);
  spec.maxFiles = lim.maxFiles;
  spec.maxProcs = lim.maxProcs;
  spec.outputBytes = lim.outputBytes;
  spec.caps = &caps_;
  if (caps_.seccomp) spec.seccomp = lim.maxProcs <= 1 ? &*noFork_ : &*withFork_;
  fchmod(entry->fd, 0555);  // no-op once F_SEAL_EXEC holds; undoes a module's chmod otherwise
  RunOutcome run = runSandboxed(spec, input, deadline, opts.cancel);
  return toResult(name, lim, timeoutMs, run);
}

boost::json::array SubprocessModuleHost::describe() const {
  std::shared_lock lock(mu_);
  json::array out;
  for (auto& [name, e] : modules_) {
    const auto& l = e->spec.limits;
    out.push_back(json::object{{"name", name},
                               {"version", e->spec.version},
                               {"kind", e->spec.kind},
                               {"sha256", e->sha256},
                               {"intents", json::value_from(e->spec.intents)},
                               {"limits",
                                {{"memoryMb", l.memoryMb},
                                 {"timeoutMs", l.timeoutMs},
                                 {"outputBytes", l.outputBytes},
                                 {"cpuMs", l.cpuMs > 0 ? l.cpuMs : l.timeoutMs},
                                 {"maxFiles", l.maxFiles},
                                 {"maxProcs", l.maxProcs},
                                 {"concurrency", l.concurrency}}},
                               {"sandbox", toJson(caps_)}});
  }
  return out;
}

}  // namespace aion::modhost
