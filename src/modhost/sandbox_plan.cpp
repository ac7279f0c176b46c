// What the sandbox looks like: the plan the parent builds before each clone
// (namespaces, the new root's steps, ids, rlimits, argv/envp). It reads the
// host's filesystem metadata only; nothing here runs in the child.
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>

#include "modhost/sandbox_child.h"

namespace aion::modhost::detail {
namespace {

// Flags a read-only remount of a bind must keep: the kernel refuses to drop
// noexec or change the atime mode of a mount inherited from a more
// privileged namespace.
unsigned long lockedFlags(const struct statvfs& st) {
  unsigned long f = 0;
  if (st.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (st.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (st.f_flag & ST_NOATIME) {
    f |= MS_NOATIME;
  } else if (st.f_flag & ST_RELATIME) {
    f |= MS_RELATIME;
  } else {
    f |= MS_STRICTATIME;
  }
  return f;
}

FsStep pathStep(FsStep::Kind kind, Layer layer, std::string what, std::string path) {
  return {kind, layer, std::move(what), std::move(path), "", "", 0, ""};
}

void addBind(std::vector<FsStep>& fs, const std::string& what, const std::string& source,
             const std::string& target, unsigned long flags, unsigned long locked) {
  fs.push_back({FsStep::Kind::kMount, Layer::kRoot, "bind " + what, target, source, "",
                MS_BIND | MS_REC, ""});
  fs.push_back({FsStep::Kind::kMount, Layer::kRoot, "remount " + what + " read-only", target, "",
                "", MS_BIND | MS_REMOUNT | MS_RDONLY | flags | locked, ""});
}

std::string stagingDir() {
  for (const char* d : {"/tmp", "/mnt", "/run", "/var/tmp", "/srv", "/opt"}) {
    struct stat st {};
    if (lstat(d, &st) == 0 && S_ISDIR(st.st_mode)) return d;
  }
  return "";
}

// The new root: a small tmpfs holding read-only binds of what a dynamically
// linked executable needs, a few device nodes, a private /tmp and /proc.
// Nothing else of the host (no /etc, /home, /work...), not even the artifact:
// it runs from the sealed descriptor the host loaded.
std::vector<FsStep> rootSteps(const SandboxSpec& spec, const std::string& s, bool proc,
                              unsigned id) {
  std::vector<FsStep> fs;
  fs.push_back({FsStep::Kind::kMount, Layer::kRoot, "mount root tmpfs", s, "aion-sandbox", "tmpfs",
                MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=256,mode=0755"});
  for (const char* dir : {"/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin"}) {
    struct stat st {};
    if (lstat(dir, &st) != 0) continue;
    if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t n = readlink(dir, target, sizeof target - 1);
      if (n <= 0) continue;
      fs.push_back({FsStep::Kind::kSymlink, Layer::kRoot, std::string("symlink ") + dir, s + dir,
                    std::string(target, n), "", 0, ""});
    } else if (S_ISDIR(st.st_mode)) {
      struct statvfs vfs {};
      if (statvfs(dir, &vfs) != 0) continue;
      fs.push_back(
          pathStep(FsStep::Kind::kMkdir, Layer::kRoot, std::string("mkdir ") + dir, s + dir));
      addBind(fs, dir, dir, s + dir, MS_NOSUID | MS_NODEV, lockedFlags(vfs));
    }
  }
  fs.push_back(pathStep(FsStep::Kind::kMkdir, Layer::kRoot, "mkdir /dev", s + "/dev"));
  for (const char* dev : {"/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"}) {
    struct stat st {};
    struct statvfs vfs {};
    if (stat(dev, &st) != 0 || !S_ISCHR(st.st_mode) || statvfs(dev, &vfs) != 0) continue;
    fs.push_back(
        pathStep(FsStep::Kind::kTouch, Layer::kRoot, std::string("create ") + dev, s + dev));
    addBind(fs, dev, dev, s + dev, MS_NOSUID | MS_NOEXEC, lockedFlags(vfs));
  }
  fs.push_back(pathStep(FsStep::Kind::kMkdir, Layer::kRoot, "mkdir /tmp", s + "/tmp"));
  fs.push_back({FsStep::Kind::kMount, Layer::kRoot, "mount /tmp tmpfs", s + "/tmp", "aion-tmp",
                "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                "size=" + std::to_string(spec.workDirMb) + "m,nr_inodes=4096,mode=0700,uid=" +
                    std::to_string(id) + ",gid=" + std::to_string(id)});
  if (proc) {
    fs.push_back(pathStep(FsStep::Kind::kMkdir, Layer::kProc, "mkdir /proc", s + "/proc"));
    // subset=pid: only the module's own processes, none of /proc/sys & co.
    fs.push_back({FsStep::Kind::kMount, Layer::kProc, "mount /proc", s + "/proc", "proc", "proc",
                  MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "subset=pid"});
  }
  return fs;
}

}  // namespace

PreparedChild::PreparedChild(const SandboxSpec& spec, const SandboxCaps& caps, bool dryRun) {
  auto& p = plan;
  if (caps.userNs) cloneFlags |= CLONE_NEWUSER;
  if (caps.mountNs) cloneFlags |= CLONE_NEWNS;
  if (caps.pidNs) cloneFlags |= CLONE_NEWPID;
  if (caps.netNs) cloneFlags |= CLONE_NEWNET;
  if (caps.ipcNs) cloneFlags |= CLONE_NEWIPC;
  if (caps.utsNs) cloneFlags |= CLONE_NEWUTS;
  // In a user namespace the child takes id 65534 first: the namespace's
  // uid 0 is unmapped, so the switch keeps its capabilities there for the
  // mounts, and execve as a non-root uid then drops them. As root without
  // a user namespace it mounts as root and switches afterwards.
  p.changeIds = caps.userNs || caps.root;
  p.idsEarly = caps.userNs;
  p.clearGroups = caps.root;  // an unprivileged user namespace forbids setgroups
  p.uid = p.gid = kSandboxId;
  p.dropCaps = caps.userNs || caps.root;
  p.privateRoot = caps.privateRoot && caps.mountNs;
  if (p.privateRoot) {
    p.staging = stagingDir();
    p.fs = rootSteps(spec, p.staging, caps.procFs && caps.pidNs, kSandboxId);
    p.workDir = "/tmp";
  }
  // The host hands over a sealed copy of the verified bytes (subprocess_host.cpp);
  // a path is only a fallback for callers without one.
  p.execPath = spec.artifactPath;
  p.execFd = spec.artifactFd;
  p.asInit = caps.pidNs;
  if (p.asInit) {
    moduleStack.reset(new char[kChildStack]);
    p.moduleStackTop = moduleStack.get() + kChildStack;
  }
  auto limit = [&](int resource, uint64_t soft, uint64_t hard) {
    rlimit cur{};
    getrlimit(static_cast<__rlimit_resource>(resource), &cur);
    // Raising a hard limit needs CAP_SYS_RESOURCE in the initial namespace.
    hard = std::min<rlim_t>(hard, cur.rlim_max);
    p.rlimits.push_back({resource, rlimit{std::min(soft, hard), hard}});
  };
  auto fixed = [&](int resource, uint64_t value) { limit(resource, value, value); };
  fixed(RLIMIT_AS, uint64_t(std::max(spec.memoryMb, 1)) << 20);
  // SIGXCPU at the limit, SIGKILL a second later if the module catches it.
  uint64_t cpu = std::max(spec.cpuSeconds, 1);
  limit(RLIMIT_CPU, cpu, cpu + 1);
  fixed(RLIMIT_NOFILE, std::max(spec.maxFiles, 3));
  // Counted per user in the sandbox's user namespace, where the init is one.
  fixed(RLIMIT_NPROC, std::max(spec.maxProcs, 1) + (p.asInit ? 1 : 0));
  fixed(RLIMIT_FSIZE, uint64_t(std::max(spec.workDirMb, 0)) << 20);
  // 1, not 0: a pipe core_pattern (systemd-coredump, apport) would otherwise
  // still receive the module's memory; the kernel skips pipe dumps at 1.
  fixed(RLIMIT_CORE, 1);
  fixed(RLIMIT_MEMLOCK, 0);
  fixed(RLIMIT_MSGQUEUE, 0);
  fixed(RLIMIT_RTPRIO, 0);
  fixed(RLIMIT_RTTIME, 0);
  if (caps.seccomp && spec.seccomp) {
    prog.len = static_cast<unsigned short>(spec.seccomp->code.size());
    prog.filter = const_cast<sock_filter*>(spec.seccomp->code.data());
    p.seccomp = &prog;
  }
  argvStore.push_back(spec.name);
  for (const auto& [k, v] : spec.env) envStore.push_back(k + "=" + v);
  for (auto& a : argvStore) p.argv.push_back(a.data());
  p.argv.push_back(nullptr);
  for (auto& e : envStore) p.envp.push_back(e.data());
  p.envp.push_back(nullptr);
  p.dryRun = dryRun;
}

}  // namespace aion::modhost::detail
