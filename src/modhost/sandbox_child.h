#pragma once
// Internal to the sandbox: the plan the parent prepares (sandbox_plan.cpp)
// and the code the cloned child runs (sandbox_child.cpp). The child is a copy of a multithreaded
// process, so between clone and execve it may only make system calls: every path, string, array and
// the seccomp program are built here beforehand, and the child only reads them.
#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "modhost/sandbox.h"

namespace aion::modhost::detail {

constexpr unsigned kSandboxId = 65534;  // "nobody", inside and (as root) outside
constexpr size_t kChildStack = 64 * 1024;

//! Which layer a setup step belongs to, so the probe knows what to turn off.
enum class Layer : char { kOther = 'o', kRoot = 'r', kProc = 'p', kSeccomp = 's' };

//! Records on the report pipe: `int errno|status, char tag, uint8 n, n bytes`.
//! A Layer tag is a setup failure (text: the step); kStatusTag carries the
//! module's wait status from the namespace's init (no text).
constexpr char kStatusTag = 'x';
//! The module's peak RSS in KiB (from the init's wait4), so the parent does
//! not mistake the init's (a copy of aiond) for the module's.
constexpr char kRssTag = 'm';
//! The peak RSS in KiB of the address space the module execs from (a copy of
//! aiond's), sent just before execve: execve folds that old address space's
//! high-water mark into the process's peak, so a peak no higher than this
//! says nothing about the module's own memory.
constexpr char kExecBaseTag = 'b';

struct FsStep {
  enum class Kind { kMkdir, kTouch, kSymlink, kMount } kind;
  Layer layer = Layer::kRoot;
  std::string what;    // for the error report: "bind /usr"
  std::string path;    // the target
  std::string source;  // mount source or symlink target
  std::string fstype;
  unsigned long flags = 0;
  std::string data;
};

struct ChildPlan {
  int stdinFd = -1, stdoutFd = -1, stderrFd = -1;  // child ends of the pipes
  int syncReadFd = -1;   // blocks until the parent has written the id maps
  int syncWriteFd = -1;  // the parent's end, closed in the child
  int reportFd = -1;     // CLOEXEC: setup failures and the module's status (records above)

  bool privateRoot = false;
  std::string staging;  // an existing directory the new root's tmpfs is mounted on
  std::vector<FsStep> fs;
  std::string workDir;  // chdir target inside the new root

  bool idsEarly = false;  // in a user namespace: switch ids first (keeps the ns caps)
  bool changeIds = false;
  bool clearGroups = false;
  uid_t uid = 65534;
  gid_t gid = 65534;
  bool dropCaps = false;  // empty the bounding set and capability sets before execve
  std::vector<std::pair<int, rlimit>> rlimits;
  const sock_fprog* seccomp = nullptr;

  std::string execPath;
  int execFd = -1;          // when >= 0: execveat(execFd) instead of execPath (no private root)
  std::vector<char*> argv;  // null-terminated, pointing into strings the parent owns
  std::vector<char*> envp;
  bool dryRun = false;  // probe: stop before execve, after checking seccomp denies socket()
  // In a new PID namespace the child stays as its init (reaps, reports the
  // module's real wait status) and the module runs as PID 2, started with
  // CLONE_VM|CLONE_VFORK on this second stack.
  bool asInit = false;
  char* moduleStackTop = nullptr;
};

//! Everything the child reads, built by the parent before clone
//! (sandbox_plan.cpp) and owned here so the child's pointers stay valid.
struct PreparedChild {
  ChildPlan plan;
  int cloneFlags = 0;
  std::vector<std::string> argvStore, envStore;
  sock_fprog prog{};
  std::unique_ptr<char[]> moduleStack;
  std::string error;  // non-empty: cannot run

  PreparedChild(const SandboxSpec& spec, const SandboxCaps& caps, bool dryRun);
  PreparedChild(const PreparedChild&) = delete;  // plan.seccomp points at prog
  PreparedChild& operator=(const PreparedChild&) = delete;
};

//! Entry point for clone(2); never returns. On failure writes a record to
//! reportFd and exits with 127.
int childMain(void* plan);

}  // namespace aion::modhost::detail
