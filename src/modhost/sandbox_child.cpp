// The cloned child's side of the sandbox. Only system calls from here to
// execve (see sandbox_child.h): no allocation, no locks, no stdio. Credential
// changes use raw syscalls because glibc's wrappers would try to broadcast
// them to threads that exist only in the parent.
#include "modhost/sandbox_child.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace aion::modhost::detail {
namespace {

void writeRecord(int fd, int value, char tag, const char* text) {
  char buf[256];
  size_t n = std::min<size_t>(std::strlen(text), 200);
  std::memcpy(buf, &value, sizeof value);
  buf[sizeof value] = tag;
  buf[sizeof value + 1] = static_cast<char>(n);
  std::memcpy(buf + sizeof value + 2, text, n);
  // One write below PIPE_BUF: records never interleave.
  (void)!write(fd, buf, sizeof value + 2 + n);
}

[[noreturn]] void fail(const ChildPlan& p, Layer layer, const char* what, int err) {
  writeRecord(p.reportFd, err, static_cast<char>(layer), what);
  _exit(127);
}

[[noreturn]] void fail(const ChildPlan& p, const char* what) {
  fail(p, Layer::kOther, what, errno);
}

void setIds(const ChildPlan& p) {
  if (p.clearGroups && syscall(SYS_setgroups, 0, nullptr) != 0) fail(p, "setgroups");
  if (syscall(SYS_setresgid, p.gid, p.gid, p.gid) != 0) fail(p, "setresgid");
  if (syscall(SYS_setresuid, p.uid, p.uid, p.uid) != 0) fail(p, "setresuid");
}

void runFsStep(const ChildPlan& p, const FsStep& s) {
  int rc = 0;
  switch (s.kind) {
    case FsStep::Kind::kMkdir:
      rc = mkdir(s.path.c_str(), 0755);
      break;
    case FsStep::Kind::kTouch: {
      int fd = open(s.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
      rc = fd < 0 ? -1 : close(fd);
      break;
    }
    case FsStep::Kind::kSymlink:
      rc = symlink(s.source.c_str(), s.path.c_str());
      break;
    case FsStep::Kind::kMount:
      rc = mount(s.source.empty() ? nullptr : s.source.c_str(), s.path.c_str(),
                 s.fstype.empty() ? nullptr : s.fstype.c_str(), s.flags,
                 s.data.empty() ? nullptr : s.data.c_str());
      break;
  }
  if (rc != 0) fail(p, s.layer, s.what.c_str(), errno);
}

// Builds the new root on a tmpfs at p.staging, then makes it "/" and detaches
// the host's tree (pivot_root(".", ".") stacks the old root on the new one).
void enterPrivateRoot(const ChildPlan& p) {
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    fail(p, Layer::kRoot, "make / private", errno);
  }
  for (const auto& s : p.fs) runFsStep(p, s);
  if (chdir(p.staging.c_str()) != 0) fail(p, Layer::kRoot, "chdir new root", errno);
  if (syscall(SYS_pivot_root, ".", ".") != 0) fail(p, Layer::kRoot, "pivot_root", errno);
  if (umount2(".", MNT_DETACH) != 0) fail(p, Layer::kRoot, "detach old root", errno);
  if (chdir("/") != 0) fail(p, Layer::kRoot, "chdir /", errno);
  if (mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
            nullptr) != 0) {
    fail(p, Layer::kRoot, "remount / read-only", errno);
  }
  if (chdir(p.workDir.c_str()) != 0) fail(p, Layer::kRoot, "chdir work dir", errno);
}

// Needs CAP_SETPCAP, so before a root process switches to 65534.
void dropBoundingSet(const ChildPlan& p) {
  for (int cap = 0; cap <= CAP_LAST_CAP; ++cap) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) fail(p, "drop bounding set");
  }
}

void clearCapabilities(const ChildPlan& p) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capset, &hdr, data) != 0) fail(p, "capset");
}

// The module's own process: its limits, filter and execve. Runs either in
// the cloned child itself or, under an init, in the vfork()ed PID 2.
[[noreturn]] void becomeModule(const ChildPlan& p) {
  rusage self{};
  getrusage(RUSAGE_SELF, &self);  // this address space's high-water mark (kExecBaseTag)
  writeRecord(p.reportFd, static_cast<int>(std::min<long>(self.ru_maxrss, INT32_MAX)), kExecBaseTag,
              "");
  for (const auto& [resource, limit] : p.rlimits) {
    if (setrlimit(static_cast<__rlimit_resource>(resource), &limit) != 0) fail(p, "setrlimit");
  }
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) fail(p, "close_range");
  if (p.seccomp && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, p.seccomp, 0, 0) != 0) {
    fail(p, Layer::kSeccomp, "seccomp", errno);
  }
  if (p.dryRun) {
    if (p.seccomp) {
      int s = socket(AF_INET, SOCK_STREAM, 0);
      if (s >= 0 || errno != EPERM) fail(p, Layer::kSeccomp, "seccomp did not refuse socket()", 0);
    }
    _exit(0);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (p.execFd >= 0) {
    execveat(p.execFd, "", p.argv.data(), p.envp.data(), AT_EMPTY_PATH);
  } else {
    execve(p.execPath.c_str(), p.argv.data(), p.envp.data());
  }
  fail(p, Layer::kOther, "execve", errno);
}

int moduleMain(void* arg) {
  becomeModule(*static_cast<const ChildPlan*>(arg));
}

// PID 1 of the namespace: start the module, reap everything, report the
// module's wait status, exit (the kernel then kills whatever is left).
[[noreturn]] void runAsInit(const ChildPlan& p) {
  // Nothing in the sandbox may read or write this process's memory.
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) fail(p, "dumpable");
  pid_t module = clone(moduleMain, p.moduleStackTop, CLONE_VM | CLONE_VFORK | SIGCHLD,
                       const_cast<ChildPlan*>(&p));
  if (module < 0) fail(p, "start module");
  // Keep only the report pipe: the parent waits for EOF on the module's
  // stdio, and descriptors copied from aiond belong to other calls.
  close_range(0, p.reportFd - 1, 0);
  close_range(p.reportFd + 1, ~0U, 0);
  int status = 0;
  rusage ru{};
  while (true) {
    int st = 0;
    rusage r{};
    pid_t got = wait4(-1, &st, __WALL, &r);
    if (got == module) {
      status = st;
      ru = r;
      break;
    }
    if (got < 0 && errno != EINTR) break;
  }
  writeRecord(p.reportFd, static_cast<int>(std::min<long>(ru.ru_maxrss, INT32_MAX)), kRssTag, "");
  writeRecord(p.reportFd, status, kStatusTag, "");
  _exit(0);
}

}  // namespace

int childMain(void* arg) {
  const auto& p = *static_cast<const ChildPlan*>(arg);
  // The parent blocked every signal around clone; handlers copied from it
  // must not run here, and ignored signals must not stay ignored after exec.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) {
    if (s != SIGKILL && s != SIGSTOP) sigaction(s, &dfl, nullptr);
  }
  if (p.syncWriteFd >= 0) close(p.syncWriteFd);
  // Dies with aiond from the start (set again after the id change clears it).
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) _exit(127);

  // Move the pipe ends above 2 first so dup2 onto 0..2 cannot clobber one.
  int in = fcntl(p.stdinFd, F_DUPFD_CLOEXEC, 3);
  int out = fcntl(p.stdoutFd, F_DUPFD_CLOEXEC, 3);
  int err = fcntl(p.stderrFd, F_DUPFD_CLOEXEC, 3);
  if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) {
    fail(p, "dup2 stdio");
  }
  if (setsid() < 0) fail(p, "setsid");

  if (p.syncReadFd >= 0) {
    char c;
    ssize_t n;
    do n = read(p.syncReadFd, &c, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1) _exit(127);  // the parent gave up (and reports why)
  }

  if (p.changeIds && p.idsEarly) setIds(p);
  if (p.privateRoot) enterPrivateRoot(p);
  if (p.dropCaps) dropBoundingSet(p);
  if (p.changeIds && !p.idsEarly) setIds(p);
  if (p.dropCaps) clearCapabilities(p);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(p, "no_new_privs");
  // After the id change, which would clear it. The thread that cloned us
  // waits for us, so it outlives us unless aiond dies.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) fail(p, "pdeathsig");
  if (p.asInit) runAsInit(p);
  becomeModule(p);
}

}  // namespace aion::modhost::detail
