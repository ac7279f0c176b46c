// The seccomp filter, compiled by libseccomp in the parent (libseccomp
// allocates, so it cannot run between clone and execve) and exported as BPF.
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <vector>

#include "modhost/sandbox.h"

namespace aion::modhost {
namespace {

// Failing with EPERM: sockets and the network, other processes' memory,
// mounts and namespaces, the kernel's global state and large attack surfaces.
constexpr const char* kDenied[] = {
    // Memory RLIMIT_AS does not count (SysV shm and queues outlive the
    // process; memfd pages belong to no mapping) and in-memory executables.
    "shmget",
    "shmat",
    "msgget",
    "msgsnd",
    "semget",
    "mq_open",
    "memfd_create",
    "memfd_secret",
    "socket",
    "socketpair",
    "connect",
    "bind",
    "listen",
    "accept",
    "accept4",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "unshare",
    "setns",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "bpf",
    "perf_event_open",
    "keyctl",
    "add_key",
    "request_key",
    "reboot",
    "swapon",
    "swapoff",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "userfaultfd",
    "open_by_handle_at",
    "name_to_handle_at",
    "acct",
    "quotactl",
    "syslog",
    "iopl",
    "ioperm",
    "lookup_dcookie",
    "vhangup",
    "uselib",
};

constexpr uint64_t kNamespaceFlags[] = {CLONE_NEWNS,     CLONE_NEWUSER, CLONE_NEWPID,
                                        CLONE_NEWNET,    CLONE_NEWIPC,  CLONE_NEWUTS,
                                        CLONE_NEWCGROUP, CLONE_NEWTIME};

}  // namespace

Result<SeccompProgram> buildSeccompProgram(bool allowFork) {
  std::unique_ptr<void, decltype(&seccomp_release)> ctx(seccomp_init(SCMP_ACT_ALLOW),
                                                        seccomp_release);
  if (!ctx) return fail(ErrorCode::kInternal, "seccomp_init failed");
  seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  std::string problem;
  auto add = [&](uint32_t action, const char* name, std::initializer_list<scmp_arg_cmp> args) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) return;  // not a system call on this architecture
    int rc = seccomp_rule_add_array(ctx.get(), action, nr, static_cast<unsigned>(args.size()),
                                    args.begin());
    if (rc != 0 && problem.empty()) problem = std::string(name) + ": " + std::strerror(-rc);
  };
  for (const char* name : kDenied) add(SCMP_ACT_ERRNO(EPERM), name, {});
  for (uint64_t flag : kNamespaceFlags) {
    add(SCMP_ACT_ERRNO(EPERM), "clone", {scmp_arg_cmp{0, SCMP_CMP_MASKED_EQ, flag, flag}});
  }
  add(SCMP_ACT_ERRNO(ENOSYS), "clone3", {});
  if (!allowFork) {
    add(SCMP_ACT_ERRNO(EPERM), "fork", {});
    add(SCMP_ACT_ERRNO(EPERM), "vfork", {});
    add(SCMP_ACT_ERRNO(EPERM), "clone", {scmp_arg_cmp{0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0}});
  }
  if (!problem.empty()) return fail(ErrorCode::kInternal, "seccomp rule " + problem);

  // libseccomp 2.5 exports only to a descriptor.
  int fd = memfd_create("aion-seccomp", MFD_CLOEXEC);
  if (fd < 0) return fail(ErrorCode::kInternal, std::string("memfd_create: ") + strerror(errno));
  std::unique_ptr<int, void (*)(int*)> closer(&fd, [](int* f) { close(*f); });
  if (int rc = seccomp_export_bpf(ctx.get(), fd); rc != 0) {
    return fail(ErrorCode::kInternal, std::string("seccomp_export_bpf: ") + strerror(-rc));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || st.st_size <= 0 || st.st_size % sizeof(sock_filter) != 0) {
    return fail(ErrorCode::kInternal, "seccomp_export_bpf wrote no program");
  }
  SeccompProgram prog;
  prog.code.resize(st.st_size / sizeof(sock_filter));
  if (pread(fd, prog.code.data(), st.st_size, 0) != st.st_size) {
    return fail(ErrorCode::kInternal, "cannot read the exported seccomp program");
  }
  // The rules above deny by name, so a system call newer than this
  // libseccomp would pass. Ahead of its program: any native call numbered
  // above the highest one libseccomp knows fails with ENOSYS.
  int highest = 0;
  for (int nr = 0; nr < 1024; ++nr)
    if (char* n = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr)) {
      highest = nr;
      free(n);
    }
#if defined(__x86_64__)
  constexpr uint32_t kArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
  constexpr uint32_t kArch = AUDIT_ARCH_AARCH64;
#endif
  std::vector<sock_filter> head = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kArch, 0, 4),  // another ABI: libseccomp decides
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, static_cast<uint32_t>(highest), 0, 2),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 1, 0),  // x32: libseccomp kills it
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
  };
  prog.code.insert(prog.code.begin(), head.begin(), head.end());
  prog.highestKnown = highest;
  return prog;
}

}  // namespace aion::modhost
