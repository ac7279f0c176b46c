// A native module that misbehaves on purpose, for the subprocess host's
// tests. The action is the module name (argv[0]) up to the first '.', so one
// binary serves several modules; arguments come from the input JSON. Each
// action reports what the sandbox let it do, as one JSON document.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

static char input[1 << 16];

static void readInput(void) {
  size_t len = 0;
  ssize_t n;
  while (len < sizeof input - 1 && (n = read(0, input + len, sizeof input - 1 - len)) > 0) {
    len += (size_t)n;
  }
  input[len] = '\0';
}

// The string value of "key" in the input (no escapes), or "".
static const char* stringArg(const char* key, char* out, size_t cap) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":\"", key);
  const char* p = strstr(input, pat);
  out[0] = '\0';
  if (!p) return out;
  p += strlen(pat);
  size_t i = 0;
  while (*p && *p != '"' && i + 1 < cap) out[i++] = *p++;
  out[i] = '\0';
  return out;
}

static long numberArg(const char* key) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char* p = strstr(input, pat);
  return p ? strtol(p + strlen(pat), NULL, 10) : 0;
}

static const char* outcome(long rc) {
  return rc >= 0 ? "ok" : strerrorname_np(errno);
}

static void jsonString(const char* s) {
  putchar('"');
  for (; *s; ++s) {
    if (*s == '"' || *s == '\\') putchar('\\');
    putchar(*s);
  }
  putchar('"');
}

static int readFile(void) {
  char path[512];
  stringArg("path", path, sizeof path);
  int fd = open(path, O_RDONLY);
  char buf[256];
  long rc = fd < 0 ? -1 : read(fd, buf, sizeof buf);
  printf("{\"read\":\"%s\"}", outcome(rc));
  return 0;
}

static int writeFile(void) {
  char path[512];
  stringArg("path", path, sizeof path);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  long rc = fd < 0 ? -1 : write(fd, "x", 1);
  printf("{\"write\":\"%s\"}", outcome(rc));
  return 0;
}

static int whoami(void) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct caps[2] = {{0}};
  syscall(SYS_capget, &hdr, caps);
  char cwd[256] = "";
  if (!getcwd(cwd, sizeof cwd)) strcpy(cwd, "?");
  printf("{\"uid\":%d,\"gid\":%d,\"pid\":%d,\"groups\":%d,\"capEff\":%u,\"nnp\":%d,\"seccomp\":%d,",
         (int)getuid(), (int)getgid(), (int)getpid(), getgroups(0, NULL), caps[0].effective,
         prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
  printf("\"cwd\":");
  jsonString(cwd);
  printf(",\"root\":[");
  DIR* d = opendir("/");
  int first = 1;
  for (struct dirent* e; d && (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    printf(first ? "" : ",");
    jsonString(e->d_name);
    first = 0;
  }
  printf("]}");
  return 0;
}

static int network(void) {
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)numberArg("port"))};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int tcp = socket(AF_INET, SOCK_STREAM, 0);
  long rc = tcp < 0 ? -1 : connect(tcp, (struct sockaddr*)&addr, sizeof addr);
  printf("{\"tcp\":\"%s\",", outcome(rc));
  int udp = socket(AF_INET, SOCK_DGRAM, 0);
  rc = udp < 0 ? -1 : sendto(udp, "x", 1, 0, (struct sockaddr*)&addr, sizeof addr);
  printf("\"udp\":\"%s\",", outcome(rc));
  int pair[2];
  printf("\"unix\":\"%s\"}", outcome(socketpair(AF_UNIX, SOCK_STREAM, 0, pair)));
  return 0;
}

static int syscalls(void) {
  printf("{\"mount\":\"%s\",", outcome(mount("none", "/tmp", "tmpfs", 0, NULL)));
  printf("\"unshare\":\"%s\",", outcome(unshare(CLONE_NEWUSER)));
  printf("\"chroot\":\"%s\",", outcome(chroot("/tmp")));
  printf("\"ptrace\":\"%s\",", outcome(syscall(SYS_ptrace, 16 /*ATTACH*/, 1, 0, 0)));
  printf("\"bpf\":\"%s\",", outcome(syscall(SYS_bpf, 0, NULL, 0)));
  printf("\"keyctl\":\"%s\",", outcome(syscall(SYS_keyctl, 0, 0, 0, 0, 0)));
  printf("\"io_uring_setup\":\"%s\",", outcome(syscall(SYS_io_uring_setup, 1, NULL)));
  printf("\"userfaultfd\":\"%s\",", outcome(syscall(SYS_userfaultfd, 0)));
  printf("\"perf_event_open\":\"%s\",", outcome(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0)));
  printf("\"clone_newnet\":\"%s\",",
         outcome(syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, NULL, NULL, NULL, NULL)));
  printf("\"shmget\":\"%s\",", outcome(syscall(SYS_shmget, 0 /*IPC_PRIVATE*/, 1 << 20, 01600)));
  printf("\"msgget\":\"%s\",", outcome(syscall(SYS_msgget, 0, 01600)));
  printf("\"memfd_create\":\"%s\",", outcome(syscall(SYS_memfd_create, "x", 0)));
  // 458: listmount (Linux 6.8), newer than libseccomp 2.5.4 knows.
  printf("\"listmount\":\"%s\",", outcome(syscall(458, NULL, NULL, 0, 0)));
  printf("\"clone3\":\"%s\"}", outcome(syscall(SYS_clone3, NULL, 0)));
  return 0;
}

// Forks until the kernel says no; the children wait forever. "forkspin" then
// spins itself, "forkbomb" reports and exits.
static int forkBomb(int spin) {
  int forked = 0;
  const char* why = "none";
  for (int i = 0; i < 100000; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      for (;;) pause();
    }
    if (pid < 0) {
      why = strerrorname_np(errno);
      break;
    }
    ++forked;
  }
  printf("{\"forked\":%d,\"error\":\"%s\"}", forked, why);
  fflush(stdout);
  if (spin) {
    for (;;) {
    }
  }
  return 0;
}

static int allocate(void) {
  for (;;) {
    char* p = malloc(1 << 20);
    if (!p) abort();
    memset(p, 1, 1 << 20);
  }
}

static int flood(void) {
  static char chunk[1 << 16];
  memset(chunk, 'x', sizeof chunk);
  for (;;) {
    if (write(1, chunk, sizeof chunk) < 0) return 1;
  }
}

static int env(void) {
  printf("{");
  for (char** e = environ; *e; ++e) {
    char* eq = strchr(*e, '=');
    if (!eq) continue;
    *eq = '\0';
    printf(e == environ ? "" : ",");
    jsonString(*e);
    putchar(':');
    jsonString(eq + 1);
  }
  printf("}");
  return 0;
}

static int files(void) {
  int n = 0;
  while (open("/dev/null", O_RDONLY) >= 0) ++n;
  printf("{\"opened\":%d,\"error\":\"%s\"}", n, strerrorname_np(errno));
  return 0;
}

int main(int argc, char** argv) {
  (void)argc;
  char action[64];
  snprintf(action, sizeof action, "%s", argv[0]);
  action[strcspn(action, ".")] = '\0';
  if (strcmp(action, "noread") == 0) {  // never touches stdin
    printf("{\"ok\":true}");
    return 0;
  }
  if (strcmp(action, "spin") == 0) {
    for (;;) {
    }
  }
  readInput();
  if (strcmp(action, "read") == 0) return readFile();
  if (strcmp(action, "write") == 0) return writeFile();
  if (strcmp(action, "whoami") == 0) return whoami();
  if (strcmp(action, "net") == 0) return network();
  if (strcmp(action, "syscalls") == 0) return syscalls();
  if (strcmp(action, "forkbomb") == 0) return forkBomb(0);
  if (strcmp(action, "forkspin") == 0) return forkBomb(1);
  if (strcmp(action, "alloc") == 0) return allocate();
  if (strcmp(action, "flood") == 0) return flood();
  if (strcmp(action, "env") == 0) return env();
  if (strcmp(action, "files") == 0) return files();
  if (strcmp(action, "sleep") == 0) {
    struct timespec t = {0, 1000 * 1000 * (long)numberArg("ms")};
    while (t.tv_nsec >= 1000000000L) t.tv_sec++, t.tv_nsec -= 1000000000L;
    nanosleep(&t, NULL);
    printf("{\"slept\":true}");
    return 0;
  }
  fprintf(stderr, "hostile: unknown action '%s'\n", action);
  return 1;
}
