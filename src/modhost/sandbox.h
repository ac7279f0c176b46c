#pragma once
// Linux sandbox for native (subprocess) modules: namespaces, a private
// read-only root, rlimits, no_new_privs and a seccomp filter (docs/sandbox.md).
// Only Linux primitives; no helper binaries at run time.
#include <linux/filter.h>

#include <atomic>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace aion::modhost {

//! What the kernel lets this process use, found by probeSandbox(). A layer
//! that is missing is skipped at run time, never silently: `missing` says
//! what and why, and the host logs it once and reports it in describe().
struct SandboxCaps {
  bool userNs = false;
  bool mountNs = false;
  bool pidNs = false;
  bool netNs = false;
  bool ipcNs = false;
  bool utsNs = false;
  bool privateRoot = false;  // tmpfs root with read-only binds, pivot_root into it
  bool procFs = false;       // a fresh /proc for the module's PID namespace
  bool seccomp = false;
  bool root = false;                 // aiond runs with euid 0: modules run as uid/gid 65534
  std::vector<std::string> missing;  // "network namespace: clone: EPERM", ...
};

//! Why this sandbox cannot keep a module away from aiond itself, or empty.
//! A non-root aiond without a PID namespace and a private root shares its
//! uid with the module, which could then read aiond's memory through /proc
//! and signal its processes; as root the module runs as uid 65534 instead.
std::string weakSandboxReason(const SandboxCaps& caps);

//! Forks short-lived children that try each layer (the full setup is run
//! once as a dry run, stopping before execve). Takes a few milliseconds;
//! call once at start.
SandboxCaps probeSandbox();
boost::json::object toJson(const SandboxCaps& caps);

//! A compiled seccomp-BPF program, built with libseccomp before any fork so
//! the child only has to hand it to the kernel.
struct SeccompProgram {
  std::vector<sock_filter> code;
  int highestKnown = 0;  // native calls above this number fail with ENOSYS
};

//! The deny list of docs/sandbox.md; with `allowFork` false, fork, vfork and
//! clone without CLONE_THREAD fail with EPERM too. clone3 fails with ENOSYS
//! so libc falls back to clone, whose flags the filter can inspect.
Result<SeccompProgram> buildSeccompProgram(bool allowFork);

struct SandboxSpec {
  std::string name;                         // argv[0] and messages
  int artifactFd = -1;                      // the executable: a sealed copy, run with execveat
  std::string artifactPath;                 // executed by path only when there is no private root
  std::map<std::string, std::string> env;   // the whole environment
  int memoryMb = 64;                        // RLIMIT_AS
  int cpuSeconds = 5;                       // RLIMIT_CPU (soft = hard: SIGKILL when reached)
  int maxFiles = 64;                        // RLIMIT_NOFILE
  int maxProcs = 1;                         // RLIMIT_NPROC, counted per sandbox
  int64_t outputBytes = 1 << 20;            // stdout beyond this kills the module
  int workDirMb = 16;                       // the writable /tmp (tmpfs) and RLIMIT_FSIZE
  const SandboxCaps* caps = nullptr;        // layers to use (required)
  const SeccompProgram* seccomp = nullptr;  // required when caps->seccomp
};

struct RunOutcome {
  std::string setupError;  // non-empty: the sandbox could not be built and nothing ran
  int exitStatus = -1;     // when the process exited
  int signal = 0;          // when it was killed by a signal
  std::string out;         // stdout, at most spec.outputBytes
  std::string errTail;     // last 4 KiB of stderr
  bool outputExceeded = false;
  bool timedOut = false;
  bool canceled = false;
  int64_t micros = 0;     // wall time, spawn to reap
  int64_t cpuMicros = 0;  // user + system time of the module's processes
  //! The module's peak RSS; -1 when it is hidden under the peak of the copy
  //! of aiond it was started from (execve counts that one in).
  int64_t maxRssKb = 0;
};

constexpr size_t kStderrKeep = 4096;

//! Runs spec's executable in a fresh sandbox with `input` on stdin until it
//! exits, `deadline` passes or `*cancel` turns true (checked every 5 ms);
//! then kills everything it started and reaps it. Stdin is written while
//! stdout and stderr are read, so a module that never reads cannot block
//! the host. Thread-safe; blocks the calling thread.
RunOutcome runSandboxed(const SandboxSpec& spec, std::string_view input,
                        std::chrono::steady_clock::time_point deadline,
                        const std::atomic<bool>* cancel);

}  // namespace aion::modhost
