// The parent's side of the sandbox: prepare the child's plan, clone it into
// new namespaces, write its id maps, feed stdin and collect stdout/stderr
// under the deadline, kill and reap. The child's side is sandbox_child.cpp.
//
// Why clone(2) with its own stack rather than fork(2): the namespace flags
// go on the clone itself, fork handlers of the parent's libraries do not
// run, and CLONE_PIDFD gives a descriptor that becomes readable when the
// child exits and can be signalled without pid-reuse races. There is no
// CLONE_VM: the parent must run (write the id maps) while the child waits,
// and the child's copy of memory cannot disturb the parent's state. In a new
// PID namespace that child stays as its init and starts the module with
// CLONE_VM|CLONE_VFORK (nothing to copy; it only execs).
#include "modhost/sandbox.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

#include "modhost/sandbox_child.h"

namespace aion::modhost {
namespace {
using Clock = std::chrono::steady_clock;
using detail::FsStep;
using detail::Layer;

using detail::kChildStack;
using detail::kSandboxId;
constexpr auto kPollStep = std::chrono::milliseconds(5);
constexpr auto kDrainAfterExit = std::chrono::milliseconds(200);

std::string errnoName(int e) {
  const char* n = strerrorname_np(e);
  return n ? n : "errno " + std::to_string(e);
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    reset(std::exchange(o.fd_, -1));
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd r, w;
  bool open() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return false;
    r.reset(fds[0]);
    w.reset(fds[1]);
    // The child relies on its pipe ends not being 0..2 (aiond may run with
    // stdin closed).
    for (Fd* f : {&r, &w}) {
      if (f->get() < 3) f->reset(fcntl(f->get(), F_DUPFD_CLOEXEC, 3));
    }
    return r && w;
  }
};

void setNonBlocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

std::string writeIdMaps(pid_t pid, bool root) {
  auto put = [pid](const char* file, const std::string& text) -> std::string {
    std::string path = "/proc/" + std::to_string(pid) + "/" + file;
    Fd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) return std::string("open ") + file + ": " + errnoName(errno);
    if (write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      return std::string("write ") + file + ": " + errnoName(errno);
    }
    return "";
  };
  // Root maps the sandbox id to itself; anyone else may only map their own id.
  std::string uidMap = "65534 " + std::to_string(root ? kSandboxId : geteuid()) + " 1";
  std::string gidMap = "65534 " + std::to_string(root ? kSandboxId : getegid()) + " 1";
  std::string e;
  if (!root) e = put("setgroups", "deny");
  if (e.empty()) e = put("uid_map", uidMap);
  if (e.empty()) e = put("gid_map", gidMap);
  return e;
}

// Blocks SIGPIPE on this thread while it writes the module's stdin (a module
// may exit without reading), and discards one it raised before unblocking.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    hadPending_ = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~SigpipeGuard() {
    sigset_t pending;
    sigpending(&pending);
    if (!hadPending_ && sigismember(&pending, SIGPIPE)) {
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, SIGPIPE);
      timespec zero{};
      sigtimedwait(&set, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t old_;
  bool hadPending_ = false;
};

// The records children write on the report pipe (sandbox_child.h).
struct Report {
  std::string bytes;
  std::string failure;  // the first setup failure, formatted
  Layer layer = Layer::kOther;
  std::optional<int> status;      // the module's wait status, from the namespace's init
  std::optional<int> maxRssKb;    // the module's peak RSS, from the namespace's init
  std::optional<int> execBaseKb;  // the peak RSS it execve'd from (kExecBaseTag)

  void parse() {
    size_t pos = 0;
    constexpr size_t kHead = sizeof(int) + 2;
    while (pos + kHead <= bytes.size()) {
      int value;
      std::memcpy(&value, bytes.data() + pos, sizeof value);
      char tag = bytes[pos + sizeof value];
      size_t n = static_cast<unsigned char>(bytes[pos + sizeof value + 1]);
      if (pos + kHead + n > bytes.size()) break;
      if (tag == detail::kStatusTag) {
        status = value;
      } else if (tag == detail::kRssTag) {
        maxRssKb = value;
      } else if (tag == detail::kExecBaseTag) {
        execBaseKb = value;
      } else if (failure.empty()) {
        failure = bytes.substr(pos + kHead, n);
        if (value != 0) failure += ": " + errnoName(value) + " (" + std::strerror(value) + ")";
        layer = static_cast<Layer>(tag);
      }
      pos += kHead + n;
    }
  }
};

// Feeds stdin and drains stdout, stderr and the setup report until the child
// has exited and its pipes are closed; enforces output cap, deadline, cancel.
void pump(RunOutcome& res, const SandboxSpec& spec, std::string_view input, Fd& in, Fd& out,
          Fd& err, Fd& report, Report& rep, int pidfd, pid_t pid, bool pidNs,
          Clock::time_point deadline, const std::atomic<bool>* cancel) {
  for (int fd : {in.get(), out.get(), err.get(), report.get()}) setNonBlocking(fd);
  size_t written = 0;
  if (input.empty()) in.reset();
  bool exited = false, killed = false;
  Clock::time_point drainUntil;
  auto killAll = [&] {
    if (killed) return;
    killed = true;
    syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
    if (!pidNs) kill(-pid, SIGKILL);  // the session/group the child leads
  };
  char buf[65536];
  while (true) {
    auto now = Clock::now();
    if (!killed && cancel && cancel->load(std::memory_order_relaxed)) {
      res.canceled = true;
      killAll();
    } else if (!killed && now >= deadline) {
      res.timedOut = true;
      killAll();
    }
    if (exited && ((!out && !err && !report) || now >= drainUntil)) break;
    pollfd fds[5];
    int n = 0;
    auto watch = [&](Fd& fd, short ev) {
      if (fd) fds[n++] = {fd.get(), ev, 0};
    };
    watch(out, POLLIN);
    watch(err, POLLIN);
    watch(report, POLLIN);
    watch(in, POLLOUT);
    if (!exited) fds[n++] = {pidfd, POLLIN, 0};
    auto wait = std::chrono::ceil<std::chrono::milliseconds>(std::clamp<Clock::duration>(
        (exited ? drainUntil : deadline) - now, Clock::duration::zero(), kPollStep));
    if (poll(fds, n, static_cast<int>(wait.count())) < 0 && errno != EINTR) break;
    auto drain = [&](Fd& fd, auto&& sink) {
      while (fd) {
        ssize_t got = read(fd.get(), buf, sizeof buf);
        if (got > 0) {
          sink(got);
        } else if (got < 0 && errno == EINTR) {
          continue;
        } else {
          if (got == 0 || errno != EAGAIN) fd.reset();
          break;
        }
      }
    };
    drain(out, [&](ssize_t got) {
      size_t room = static_cast<size_t>(spec.outputBytes) - res.out.size();
      res.out.append(buf, std::min<size_t>(room, got));
      if (static_cast<size_t>(got) > room) {
        res.outputExceeded = true;
        out.reset();
        killAll();
      }
    });
    drain(err, [&](ssize_t got) {
      res.errTail.append(buf, got);
      if (res.errTail.size() > 2 * kStderrKeep) {
        res.errTail.erase(0, res.errTail.size() - kStderrKeep);
      }
    });
    drain(report, [&](ssize_t got) { rep.bytes.append(buf, got); });
    while (in) {
      size_t chunk = std::min<size_t>(input.size() - written, sizeof buf);
      ssize_t w = write(in.get(), input.data() + written, chunk);
      if (w > 0) {
        written += w;
        if (written == input.size()) in.reset();
      } else if (w < 0 && errno == EINTR) {
        continue;
      } else {
        if (w == 0 || errno != EAGAIN) in.reset();  // EPIPE: the module stopped reading
        break;
      }
    }
    if (!exited) {
      for (int i = 0; i < n; ++i) {
        if (fds[i].fd == pidfd && fds[i].revents) {
          exited = true;
          drainUntil = Clock::now() + kDrainAfterExit;
          if (!pidNs) kill(-pid, SIGKILL);  // leftovers of a module that forked
        }
      }
    }
  }
}

RunOutcome runInternal(const SandboxSpec& spec, std::string_view input, Clock::time_point deadline,
                       const std::atomic<bool>* cancel, bool dryRun, Layer* failedLayer = nullptr) {
  RunOutcome res;
  auto start = Clock::now();
  auto finish = [&]() -> RunOutcome& {
    res.micros =
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
    if (res.errTail.size() > kStderrKeep) res.errTail.erase(0, res.errTail.size() - kStderrKeep);
    return res;
  };
  if (!spec.caps) {
    res.setupError = "no sandbox capabilities given";
    return finish();
  }
  const SandboxCaps& caps = *spec.caps;
  if (caps.seccomp && !spec.seccomp) {
    res.setupError = "seccomp is available but no program was given";
    return finish();
  }
  Pipe in, out, err, report, sync;
  if (!in.open() || !out.open() || !err.open() || !report.open() || !sync.open()) {
    res.setupError = "pipe2: " + errnoName(errno);
    return finish();
  }
  detail::PreparedChild prep(spec, caps, dryRun);
  if (prep.plan.privateRoot && prep.plan.staging.empty()) {
    prep.error = "no directory to build the sandbox root on";
  }
  if (!prep.error.empty()) {
    res.setupError = prep.error;
    return finish();
  }
  auto& plan = prep.plan;
  plan.stdinFd = in.r.get();
  plan.stdoutFd = out.w.get();
  plan.stderrFd = err.w.get();
  plan.reportFd = report.w.get();
  plan.syncReadFd = sync.r.get();
  plan.syncWriteFd = sync.w.get();

  SigpipeGuard sigpipe;
  std::unique_ptr<char[]> stack(new char[kChildStack]);
  // No signal handler of the parent may run in the child before it resets them.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int pidfdRaw = -1;
  pid_t pid = clone(detail::childMain, stack.get() + kChildStack, prep.cloneFlags | CLONE_PIDFD,
                    &plan, &pidfdRaw);
  int cloneErr = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) {
    res.setupError = "clone: " + errnoName(cloneErr);
    return finish();
  }
  Fd pidfd(pidfdRaw);
  in.r.reset();
  out.w.reset();
  err.w.reset();
  report.w.reset();
  sync.r.reset();

  // The child waits for its uid/gid maps before it does anything.
  if (caps.userNs) {
    if (auto e = writeIdMaps(pid, caps.root); !e.empty()) res.setupError = "id maps: " + e;
  }
  if (res.setupError.empty() && write(sync.w.get(), "g", 1) != 1) {
    res.setupError = "sync: " + errnoName(errno);
  }
  sync.w.reset();
  Report rep;
  if (res.setupError.empty()) {
    pump(res, spec, input, in.w, out.r, err.r, report.r, rep, pidfd.get(), pid, caps.pidNs,
         deadline, cancel);
  }
  syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);  // no-op once exited
  int status = 0;
  rusage ru{};
  while (wait4(pid, &status, __WALL, &ru) < 0 && errno == EINTR) {
  }
  rep.parse();
  if (rep.status) status = *rep.status;  // the module's, not its init's
  // A module that exited on its own before the kill landed finished in time
  // (its exit and the deadline can cross within a poll step).
  if (res.timedOut && WIFEXITED(status) && (!caps.pidNs || rep.status)) res.timedOut = false;
  if (WIFEXITED(status)) res.exitStatus = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) res.signal = WTERMSIG(status);
  res.cpuMicros = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL + ru.ru_utime.tv_usec +
                  ru.ru_stime.tv_usec;
  // Under a PID namespace `ru` is the init's, a copy of aiond: use the module's.
  res.maxRssKb = caps.pidNs ? rep.maxRssKb.value_or(0) : ru.ru_maxrss;
  // execve keeps the copy of aiond the module started as in its peak: at or
  // near that copy's own peak (a few pages of stack between the two), the
  // module's own peak is somewhere below it, unknown.
  constexpr int64_t kExecSlackKb = 256;
  if (rep.execBaseKb && res.maxRssKb <= *rep.execBaseKb + kExecSlackKb) res.maxRssKb = -1;
  if (res.setupError.empty() && !rep.failure.empty()) {
    res.setupError = rep.failure;
    res.out.clear();
    if (failedLayer) *failedLayer = rep.layer;
  }
  return finish();
}

int exitZero(void*) {
  return 0;
}

// 0 when a child could be cloned with `flags`, else the errno.
int tryClone(int flags) {
  std::unique_ptr<char[]> stack(new char[kChildStack]);
  pid_t pid = clone(exitZero, stack.get() + kChildStack, flags, nullptr);
  if (pid < 0) return errno;
  int status = 0;
  while (waitpid(pid, &status, __WALL) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : ECHILD;
}

}  // namespace

RunOutcome runSandboxed(const SandboxSpec& spec, std::string_view input, Clock::time_point deadline,
                        const std::atomic<bool>* cancel) {
  return runInternal(spec, input, deadline, cancel, false);
}

std::string weakSandboxReason(const SandboxCaps& caps) {
  if (caps.root || (caps.pidNs && caps.privateRoot && caps.mountNs)) return "";
  return "aiond runs as a non-root user and the kernel refused the PID namespace or the private "
         "root, so a module would share aiond's uid and could reach aiond's memory and processes";
}

SandboxCaps probeSandbox() {
  SandboxCaps caps;
  caps.root = geteuid() == 0;
  if (int e = tryClone(CLONE_NEWUSER); e == 0) {
    caps.userNs = true;
  } else {
    caps.missing.push_back("user namespace: clone(CLONE_NEWUSER): " + errnoName(e));
  }
  int base = caps.userNs ? CLONE_NEWUSER : 0;
  struct {
    int flag;
    bool SandboxCaps::*field;
    const char* name;
  } const namespaces[] = {{CLONE_NEWNS, &SandboxCaps::mountNs, "mount"},
                          {CLONE_NEWPID, &SandboxCaps::pidNs, "PID"},
                          {CLONE_NEWNET, &SandboxCaps::netNs, "network"},
                          {CLONE_NEWIPC, &SandboxCaps::ipcNs, "IPC"},
                          {CLONE_NEWUTS, &SandboxCaps::utsNs, "UTS"}};
  for (const auto& ns : namespaces) {
    if (int e = tryClone(base | ns.flag); e == 0) {
      caps.*ns.field = true;
    } else {
      caps.missing.push_back(std::string(ns.name) + " namespace: clone: " + errnoName(e));
    }
  }
  caps.privateRoot = caps.mountNs;
  caps.procFs = caps.mountNs && caps.pidNs;
  if (!caps.mountNs) caps.missing.push_back("private root: needs a mount namespace");
  auto prog = buildSeccompProgram(false);
  caps.seccomp = prog.has_value();
  if (!prog) caps.missing.push_back("seccomp: " + prog.error().message);

  // The whole setup as a dry run; turn off the layer that fails and retry.
  for (int attempt = 0; attempt < 4; ++attempt) {
    SandboxSpec spec;
    spec.name = "probe";
    spec.caps = &caps;
    spec.seccomp = prog ? &*prog : nullptr;
    Layer layer = Layer::kOther;
    auto res = runInternal(spec, "", Clock::now() + std::chrono::seconds(5), nullptr, true, &layer);
    if (res.setupError.empty() && res.exitStatus == 0) break;
    std::string why = res.setupError.empty() ? "probe child failed" : res.setupError;
    switch (layer) {
      case Layer::kProc:
        caps.procFs = false;
        caps.missing.push_back("/proc: " + why);
        continue;
      case Layer::kSeccomp:
        caps.seccomp = false;
        caps.missing.push_back("seccomp: " + why);
        continue;
      case Layer::kRoot:
        caps.privateRoot = false;
        caps.procFs = false;
        caps.missing.push_back("private root: " + why);
        continue;
      case Layer::kOther:
        caps.missing.push_back("sandbox setup: " + why);
        break;
    }
    break;
  }
  return caps;
}

boost::json::object toJson(const SandboxCaps& caps) {
  boost::json::array layers;
  auto add = [&](bool on, const char* name) {
    if (on) layers.emplace_back(name);
  };
  add(caps.userNs, "user-ns");
  add(caps.mountNs, "mount-ns");
  add(caps.pidNs, "pid-ns");
  add(caps.netNs, "net-ns");
  add(caps.ipcNs, "ipc-ns");
  add(caps.utsNs, "uts-ns");
  add(caps.privateRoot, "private-root");
  add(caps.procFs, "proc");
  add(caps.seccomp, "seccomp");
  layers.emplace_back("rlimits");
  layers.emplace_back("no-new-privs");
  boost::json::array missing;
  for (const auto& m : caps.missing) missing.emplace_back(m);
  return {{"layers", std::move(layers)},
          {"missing", std::move(missing)},
          {"complete", caps.missing.empty()},
          {"runAs", caps.root     ? "uid 65534"
                    : caps.userNs ? "aiond's uid (65534 in its user namespace)"
                                  : "aiond's uid"}};
}

}  // namespace aion::modhost
