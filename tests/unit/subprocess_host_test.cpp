// The subprocess module host against small native programs
// (tests/guests/native): the ABI's happy and failure paths, and each way a
// hostile module may try to leave its sandbox or exhaust the host.
#include "modhost/subprocess_host.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/digest.h"
#include "temp_dir.h"

namespace aion::modhost {
namespace {
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

std::string guest(const char* name) {
  return std::string(AION_NATIVE_GUEST_DIR) + "/" + name;
}

// One probe per test binary: it is what aiond does once at start.
const SandboxCaps& caps() {
  static const SandboxCaps probed = [] {
    auto c = probeSandbox();
    std::printf("sandbox probe: %s\n", json::serialize(toJson(c)).c_str());
    return c;
  }();
  return probed;
}

std::string missingList() {
  std::string out;
  for (const auto& m : caps().missing) out += (out.empty() ? "" : "; ") + m;
  return out.empty() ? "nothing" : out;
}

#define REQUIRE_LAYER(field, what) \
  if (!caps().field)               \
  GTEST_SKIP() << "the sandbox probe found no " what " here (missing: " << missingList() << ")"

// Processes on the machine whose argv[0] is `name` (the module's name).
int processesNamed(const std::string& name) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::ifstream f(e.path() / "cmdline", std::ios::binary);
    std::string argv0;
    if (f && std::getline(f, argv0, '\0') && argv0 == name) ++n;
  }
  return n;
}

int openFds() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

struct SubprocessHostTest : ::testing::Test {
  aion::testing::TempDir dir;
  SubprocessModuleHost host{caps()};
  policy::PolicySet set;

  void add(const std::string& name, const std::string& artifact, policy::ModuleLimits lim = {},
           std::map<std::string, std::string> env = {}) {
    policy::Module m;
    m.name = name;
    m.version = "0.1.0";
    m.kind = "subprocess";
    m.verification = {policy::Verification::State::kUnsigned, "test module", {}, {}};
    m.artifactPath = artifact;
    m.intents = {name};
    m.limits = lim;
    m.env = std::move(env);
    set.modules[name] = m;
  }
  void loadOk() {
    auto r = host.load(set);
    ASSERT_TRUE(r) << (r ? "" : r.error().front());
  }
  Result<CallResult> call(const std::string& name, std::string input = "{}",
                          CallOptions o = {.timeoutMs = 10000}) {
    return host.call(name, input, o);
  }
  json::object callOk(const std::string& name, std::string input = "{}") {
    auto r = call(name, std::move(input));
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r && r->output.is_object() ? r->output.as_object() : json::object{};
  }
  // A name unique to this test process, for leftover-process checks.
  static std::string unique(const std::string& action) {
    return action + "." + std::to_string(getpid());
  }
};

TEST_F(SubprocessHostTest, EchoReturnsParsedJson) {
  add("echo", guest("echo"));
  loadOk();
  auto r = call("echo", R"({"a":[1,"é"],"b":null})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->output, json::parse(R"({"a":[1,"é"],"b":null})"));
  EXPECT_GT(r->micros, 0);
  for (int i = 0; i < 20; ++i) {
    auto again = call("echo", "[" + std::to_string(i) + "]");
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(again->output, json::array{i});
  }
  auto desc = host.describe();
  ASSERT_EQ(desc.size(), 1u);
  EXPECT_EQ(desc[0].at("kind"), "subprocess");
  EXPECT_EQ(desc[0].at("sha256").as_string().size(), 64u);
  EXPECT_TRUE(desc[0].at("sandbox").as_object().contains("layers"));
}

TEST_F(SubprocessHostTest, RejectExitStatusAndGarbage) {
  add("echo", guest("echo"));
  loadOk();
  auto reject = call("echo", R"({"reject":1})");
  ASSERT_FALSE(reject);
  EXPECT_EQ(reject.error().code, ErrorCode::kInvalidParams);
  EXPECT_EQ(reject.error().message, "text is required");

  auto three = call("echo", R"({"exit3":1})");
  ASSERT_FALSE(three);
  EXPECT_EQ(three.error().code, ErrorCode::kModuleFailed);
  EXPECT_NE(three.error().message.find("exited with status 3"), std::string::npos)
      << three.error().message;
  EXPECT_NE(json::serialize(three.error().details).find("failing on purpose"), std::string::npos);

  auto garbage = call("echo", R"({"garbage":1})");
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().code, ErrorCode::kModuleFailed);
  EXPECT_NE(garbage.error().message.find("invalid JSON"), std::string::npos);

  auto two = call("echo", "{} {}");  // stdout must be exactly one document
  ASSERT_FALSE(two);
  EXPECT_EQ(two.error().code, ErrorCode::kModuleFailed);
  EXPECT_EQ(call("nope").error().code, ErrorCode::kNotFound);
}

TEST_F(SubprocessHostTest, HostFilesAreInvisible) {
  REQUIRE_LAYER(privateRoot, "private root");
  add("read", guest("hostile"));
  loadOk();
  auto secret = dir.write("secret.txt", "do not read");
  for (const std::string& path :
       {std::string("/etc/passwd"), secret.string(), std::string(AION_REPO_DIR) + "/README.md",
        std::string("/proc/1/environ"), std::string("/root/.bashrc")}) {
    auto out = callOk("read", R"({"path":")" + path + R"("})");
    EXPECT_NE(out["read"], "ok") << path << " was readable";
  }
  // The reader works: the read-only system dirs are there. The module runs
  // from a sealed in-memory copy, so not even its own file is in the root.
  EXPECT_NE(callOk("read", R"({"path":"/module"})")["read"], "ok");
  EXPECT_EQ(callOk("read", R"({"path":"/usr/lib/os-release"})")["read"], "ok");
}

TEST_F(SubprocessHostTest, OnlyThePrivateTmpIsWritable) {
  REQUIRE_LAYER(privateRoot, "private root");
  add("write", guest("hostile"));
  loadOk();
  EXPECT_EQ(callOk("write", R"({"path":"/tmp/scratch"})")["write"], "ok");
  EXPECT_EQ(callOk("write", R"({"path":"scratch2"})")["write"], "ok");  // cwd is /tmp
  for (const char* path : {"/x", "/usr/x", "/dev/x", "/module"}) {
    auto out = callOk("write", std::string(R"({"path":")") + path + R"("})");
    EXPECT_NE(out["write"], "ok") << path << " was writable";
  }
  // Each call gets a fresh /tmp.
  add("read", guest("hostile"));
  loadOk();
  EXPECT_NE(callOk("read", R"({"path":"/tmp/scratch"})")["read"], "ok");
}

TEST_F(SubprocessHostTest, RunsUnprivilegedInItsOwnNamespaces) {
  add("whoami", guest("hostile"));
  loadOk();
  auto me = callOk("whoami");
  std::printf("whoami: %s\n", json::serialize(me).c_str());
  EXPECT_EQ(me["nnp"], 1);
  EXPECT_EQ(me["capEff"], 0);
  if (caps().seccomp) {
    EXPECT_EQ(me["seccomp"], 2);  // SECCOMP_MODE_FILTER
  }
  if (caps().root || caps().userNs) {
    EXPECT_EQ(me["uid"], 65534);
    EXPECT_EQ(me["gid"], 65534);
  }
  if (caps().root) {
    EXPECT_EQ(me["groups"], 0);
  }
  if (caps().pidNs) {
    EXPECT_EQ(me["pid"], 2);  // PID 1 is the sandbox's init
  }
  if (caps().privateRoot) {
    EXPECT_EQ(me["cwd"], "/tmp");
    std::set<std::string> root;
    for (const auto& e : me["root"].as_array()) root.insert(std::string(e.as_string()));
    for (const char* hidden : {"etc", "home", "root", "work", "var", "run", "opt", "srv"}) {
      EXPECT_FALSE(root.contains(hidden)) << "/" << hidden << " is visible";
    }
    EXPECT_TRUE(root.contains("usr"));
    EXPECT_FALSE(root.contains("module"));
  }
}

TEST_F(SubprocessHostTest, NetworkIsUnreachable) {
  if (!caps().seccomp && !caps().netNs) GTEST_SKIP() << "neither seccomp nor a network namespace";
  int tcp = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(tcp, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(tcp, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ASSERT_EQ(listen(tcp, 4), 0);
  ASSERT_EQ(bind(udp, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);  // same port number

  add("net", guest("hostile"));
  loadOk();
  auto out = callOk("net", R"({"port":)" + std::to_string(ntohs(addr.sin_port)) + "}");
  EXPECT_NE(out["tcp"], "ok");
  EXPECT_NE(out["udp"], "ok");
  if (caps().seccomp) {
    EXPECT_EQ(out["tcp"], "EPERM");
    EXPECT_EQ(out["unix"], "EPERM");
  }
  // Nothing arrived on the listening sockets.
  EXPECT_LT(accept(tcp, nullptr, nullptr), 0);
  EXPECT_EQ(errno, EAGAIN);
  char buf[8];
  EXPECT_LT(recv(udp, buf, sizeof buf, 0), 0);
  close(tcp);
  close(udp);
}

TEST_F(SubprocessHostTest, DangerousSystemCallsAreRefused) {
  REQUIRE_LAYER(seccomp, "seccomp");
  add("syscalls", guest("hostile"));
  loadOk();
  auto out = callOk("syscalls");
  std::printf("syscalls: %s\n", json::serialize(out).c_str());
  for (const char* call :
       {"mount", "unshare", "chroot", "ptrace", "bpf", "keyctl", "io_uring_setup", "userfaultfd",
        "perf_event_open", "clone_newnet", "shmget", "msgget", "memfd_create"}) {
    EXPECT_EQ(out[call], "EPERM") << call;
  }
  EXPECT_EQ(out["clone3"], "ENOSYS");  // so libc falls back to clone, which the filter inspects
  // Calls newer than libseccomp's table fail instead of passing the deny list.
  auto prog = buildSeccompProgram(false);
  ASSERT_TRUE(prog);
  if (prog->highestKnown < 458)
    EXPECT_EQ(out["listmount"], "ENOSYS");
  else
    std::printf("libseccomp knows listmount (458): its rules decide, not the ENOSYS prefix\n");
}

// The namespace's init is a copy of the host process: its peak memory must
// not be taken for the module's.
TEST_F(SubprocessHostTest, PlainFailureIsNotCalledAMemoryLimit) {
  std::string name = unique("nothing");  // an unknown action: stderr line, exit 1
  add(name, guest("hostile"), {.memoryMb = 4});
  loadOk();
  auto r = call(name, "{}");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kModuleFailed);
  EXPECT_EQ(r.error().message.find("memory limit"), std::string::npos) << r.error().message;
}

// execve folds the peak of the address space a module starts from (a copy
// of aiond's) into the module's own: a host holding more than the module's
// limit must not make every failure a memory limit, nor every call that big.
TEST_F(SubprocessHostTest, TheHostsOwnMemoryIsNotTakenForTheModules) {
  std::vector<char> ballast(64 << 20);
  std::memset(ballast.data(), 1, ballast.size());  // resident, copied into each clone
  std::string name = unique("nothing");
  add(name, guest("hostile"), {.memoryMb = 16});
  add("echo", guest("echo"));
  loadOk();
  auto failed = call(name, "{}");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message.find("memory limit"), std::string::npos)
      << failed.error().message;
  auto ok = call("echo", "{}");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_LT(ok->memoryBytes, 16 << 20) << "the module's peak RSS includes the host's";
  EXPECT_EQ(ballast[ballast.size() / 2], 1);
}

TEST(SandboxCaps, WeakOnlyForNonRootWithoutPidNamespaceOrPrivateRoot) {
  SandboxCaps full;
  full.pidNs = full.mountNs = full.privateRoot = true;
  EXPECT_EQ(weakSandboxReason(full), "");
  SandboxCaps bare;
  EXPECT_NE(weakSandboxReason(bare), "");
  bare.root = true;  // modules then run as uid 65534, not as aiond
  EXPECT_EQ(weakSandboxReason(bare), "");
  full.privateRoot = false;
  EXPECT_NE(weakSandboxReason(full), "");
}

TEST_F(SubprocessHostTest, ForkBombIsContained) {
  std::string name = unique("forkbomb");
  add(name, guest("hostile"));  // maxProcs 1: no fork at all
  add("echo", guest("echo"));
  loadOk();
  auto out = callOk(name);
  EXPECT_EQ(out["forked"], 0);
  EXPECT_TRUE(out["error"] == "EPERM" || out["error"] == "EAGAIN") << out["error"];
  EXPECT_EQ(processesNamed(name), 0);
  EXPECT_TRUE(call("echo", "{}"));
}

TEST_F(SubprocessHostTest, ForkingModuleIsCappedAndCleanedUp) {
  REQUIRE_LAYER(pidNs, "PID namespace");
  std::string bomb = unique("forkbomb"), spin = unique("forkspin");
  add(bomb, guest("hostile"), {.timeoutMs = 5000, .maxProcs = 4});
  add(spin, guest("hostile"), {.timeoutMs = 500, .maxProcs = 4});
  loadOk();
  // Forks until RLIMIT_NPROC says no, then exits: its children die with the namespace.
  auto out = callOk(bomb);
  EXPECT_LE(out["forked"].as_int64(), 3);
  EXPECT_EQ(out["error"], "EAGAIN");
  EXPECT_EQ(processesNamed(bomb), 0);
  // Forks and then spins: killed at the deadline, children and all.
  auto r = call(spin);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
  EXPECT_EQ(processesNamed(spin), 0);
}

TEST_F(SubprocessHostTest, InfiniteLoopHitsWallTimeAndHostStaysUsable) {
  std::string name = unique("spin");
  add(name, guest("hostile"), {.timeoutMs = 300});
  add("echo", guest("echo"));
  loadOk();
  auto start = Clock::now();
  auto r = call(name);
  auto took = Clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
  EXPECT_NE(r.error().message.find("wall-time limit (300 ms)"), std::string::npos);
  EXPECT_GE(took, std::chrono::milliseconds(300));
  EXPECT_LT(took, std::chrono::milliseconds(1500));
  EXPECT_EQ(processesNamed(name), 0);
  // The caller's deadline wins when it is tighter.
  auto tight = call(name, "{}", {.timeoutMs = 100});
  ASSERT_FALSE(tight);
  EXPECT_NE(tight.error().message.find("(100 ms)"), std::string::npos);
  EXPECT_TRUE(call("echo", "{}"));
}

TEST_F(SubprocessHostTest, CpuLimitStopsABusyModule) {
  add("spin", guest("hostile"), {.timeoutMs = 10000, .cpuMs = 1000});
  loadOk();
  auto start = Clock::now();
  auto r = call("spin");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
  EXPECT_NE(r.error().message.find("CPU-time limit (1 s)"), std::string::npos) << r.error().message;
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
}

TEST_F(SubprocessHostTest, MemoryBombFailsAtItsLimit) {
  add("alloc", guest("hostile"), {.memoryMb = 32});
  add("echo", guest("echo"));
  loadOk();
  auto r = call("alloc");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kModuleFailed);
  EXPECT_NE(r.error().message.find("memory limit of 32 MiB"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("SIGABRT"), std::string::npos) << r.error().message;
  EXPECT_TRUE(call("echo", "{}"));
}

TEST_F(SubprocessHostTest, OutputFloodIsCut) {
  add("flood", guest("hostile"), {.outputBytes = 1024});
  loadOk();
  auto r = call("flood");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kModuleFailed);
  EXPECT_NE(r.error().message.find("wrote more than 1024 bytes"), std::string::npos)
      << r.error().message;
}

TEST_F(SubprocessHostTest, ModuleThatNeverReadsStdinCannotBlockTheHost) {
  add("noread", guest("hostile"));
  add("echo", guest("echo"), {.outputBytes = 16 << 20});
  loadOk();
  std::string big = "\"" + std::string(10 << 20, 'a') + "\"";
  auto start = Clock::now();
  auto r = call("noread", big);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->output, json::parse(R"({"ok":true})"));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
  // Both directions at once: 10 MB in while 10 MB comes back.
  auto echoed = call("echo", big);
  ASSERT_TRUE(echoed) << echoed.error().message;
  EXPECT_EQ(echoed->output.as_string().size(), 10u << 20);
}

TEST_F(SubprocessHostTest, EnvironmentIsExactlyTheDeclaredOne) {
  add("env", guest("hostile"), {}, {{"A", "1"}, {"GREETING", "hello world"}});
  add("env.none", guest("hostile"));
  loadOk();
  EXPECT_EQ(json::value(callOk("env")), json::parse(R"({"A":"1","GREETING":"hello world"})"));
  EXPECT_EQ(json::value(callOk("env.none")), json::object{});
}

TEST_F(SubprocessHostTest, FileDescriptorLimit) {
  add("files", guest("hostile"), {.maxFiles = 16});
  loadOk();
  auto out = callOk("files");
  EXPECT_EQ(out["error"], "EMFILE");
  EXPECT_LE(out["opened"].as_int64(), 13);  // 16 minus stdin, stdout, stderr
}

TEST_F(SubprocessHostTest, CancelStopsARunningModule) {
  add("spin", guest("hostile"), {.timeoutMs = 60000});
  loadOk();
  std::atomic<bool> cancel{false};
  std::jthread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    cancel = true;
  });
  auto start = Clock::now();
  auto r = call("spin", "{}", {.timeoutMs = 60000, .cancel = &cancel});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kCanceled);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
}

TEST_F(SubprocessHostTest, ConcurrentCallsShareNothingAndLeakNothing) {
  add("echo", guest("echo"));
  add("spin", guest("hostile"), {.timeoutMs = 100});
  loadOk();
  ASSERT_TRUE(call("echo", "{}"));  // warm up lazily opened descriptors
  int fdsBefore = openFds();
  std::vector<std::jthread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 8; ++i) {
        std::string doc = R"({"t":)" + std::to_string(t) + R"(,"i":)" + std::to_string(i) + "}";
        auto r = call("echo", doc);
        if (r && r->output == json::parse(doc)) ++ok;
        if (i % 4 == 0) {
          EXPECT_EQ(call("spin").error().code, ErrorCode::kTimeout);
        }
      }
    });
  }
  threads.clear();
  EXPECT_EQ(ok, 48);
  EXPECT_EQ(openFds(), fdsBefore);
  int status;
  EXPECT_EQ(waitpid(-1, &status, WNOHANG | __WALL), -1);  // no children, not even zombies
  EXPECT_EQ(errno, ECHILD);
}

TEST_F(SubprocessHostTest, SetupFailureIsAnErrorNotAnUnsandboxedRun) {
  auto notElf = dir.write("not-elf", "this is not an executable format\n");
  std::filesystem::permissions(notElf, std::filesystem::perms(0755));
  add("broken", notElf.string());
  loadOk();
  auto r = call("broken");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kModuleFailed);
  EXPECT_NE(r.error().message.find("sandbox setup failed: execve: ENOEXEC"), std::string::npos)
      << r.error().message;
}

TEST_F(SubprocessHostTest, LoadChecksArtifactsAndKeepsPreviousModulesOnFailure) {
  add("echo", guest("echo"));
  policy::Module wasm;
  wasm.name = "wasm";
  wasm.kind = "wasm";
  wasm.artifactPath = "/nonexistent.wasm";
  wasm.verification.state = policy::Verification::State::kUnsigned;
  set.modules["wasm"] = wasm;  // another host's module: ignored
  add("refused", "/nonexistent");
  set.modules["refused"].verification.state = policy::Verification::State::kRefused;
  loadOk();
  EXPECT_EQ(host.describe().size(), 1u);

  policy::PolicySet bad = set;
  auto plain = dir.write("plain", "#!/bin/sh\n");
  std::filesystem::permissions(plain, std::filesystem::perms(0644));
  bad.modules["missing"] = set.modules["echo"];
  bad.modules["missing"].artifactPath = (dir.path() / "missing").string();
  bad.modules["plain"] = set.modules["echo"];
  bad.modules["plain"].artifactPath = plain.string();
  bad.modules["relative"] = set.modules["echo"];
  bad.modules["relative"].artifactPath = "bin/echo";
  bad.modules["digest"] = set.modules["echo"];
  bad.modules["digest"].sha256 = std::string(64, '0');
  auto r = host.load(bad);
  ASSERT_FALSE(r);
  std::string all;
  for (const auto& e : r.error()) all += e + "\n";
  EXPECT_EQ(r.error().size(), 4u) << all;
  EXPECT_NE(all.find("modules.missing: cannot open"), std::string::npos) << all;
  EXPECT_NE(all.find("modules.plain: " + plain.string() + " is not executable"), std::string::npos)
      << all;
  EXPECT_NE(all.find("modules.relative: artifact path must be absolute"), std::string::npos) << all;
  EXPECT_NE(all.find("modules.digest: digest mismatch"), std::string::npos) << all;
  EXPECT_TRUE(call("echo", "{}"));  // the previous set still serves
}

TEST_F(SubprocessHostTest, ArtifactOpenedAtLoadIsTheOneThatRuns) {
  auto copy = dir.path() / "echo-copy";
  std::filesystem::copy_file(guest("echo"), copy);
  add("echo", copy.string());
  loadOk();
  // Replacing the path (as a deploy would) does not change what runs.
  auto other = dir.path() / "other";
  std::filesystem::copy_file(guest("hostile"), other);
  std::filesystem::rename(other, copy);
  auto r = call("echo", R"({"still":"echo"})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->output, json::parse(R"({"still":"echo"})"));
}

TEST_F(SubprocessHostTest, ArtifactRewrittenInPlaceStillRunsTheLoadedBytes) {
  auto copy = dir.path() / "echo-copy";
  std::filesystem::copy_file(guest("echo"), copy);
  add("echo", copy.string());
  loadOk();
  // Same inode, other bytes: what `cp` over an existing file does.
  auto hostile = aion::readFile(guest("hostile")).value();
  {
    std::ofstream out(copy, std::ios::binary | std::ios::trunc);
    out << hostile;
  }
  auto r = call("echo", R"({"still":"echo"})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->output, json::parse(R"({"still":"echo"})"));
}

// Only the file must be executable by the sandbox user; the directories on
// its path may be private to aiond (as /root or a 0700 data dir are).
TEST_F(SubprocessHostTest, ArtifactInAPrivateDirectoryRuns) {
  auto privateDir = dir.path() / "private";
  std::filesystem::create_directories(privateDir);
  std::filesystem::permissions(privateDir, std::filesystem::perms::owner_all);
  std::filesystem::copy_file(guest("echo"), privateDir / "echo");
  add("echo", (privateDir / "echo").string());
  loadOk();
  auto r = call("echo", "[1]");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->output, json::array{1});
}

// As root without a user namespace the sandbox mounts as root and then
// switches to uid 65534; the files stay hidden.
TEST_F(SubprocessHostTest, RootWithoutUserNamespaceStillDropsToNobody) {
  if (!caps().root) GTEST_SKIP() << "needs aiond to run as root";
  REQUIRE_LAYER(privateRoot, "private root");
  SandboxCaps fewer = caps();
  fewer.userNs = false;
  fewer.missing.push_back("user namespace: turned off by the test");
  SubprocessModuleHost noUserNs(fewer);
  add("whoami", guest("hostile"));
  add("read", guest("hostile"));
  ASSERT_TRUE(noUserNs.load(set));
  auto me = noUserNs.call("whoami", "{}", {});
  ASSERT_TRUE(me) << me.error().message;
  EXPECT_EQ(me->output.at("uid"), 65534);
  EXPECT_EQ(me->output.at("groups"), 0);
  EXPECT_EQ(me->output.at("capEff"), 0);
  auto read = noUserNs.call("read", R"({"path":"/etc/passwd"})", {});
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_NE(read->output.at("read"), "ok");
  EXPECT_NE(json::serialize(noUserNs.sandboxJson()).find("turned off by the test"),
            std::string::npos);
}

// Where the kernel refuses every namespace, what is left still applies: no
// capabilities, no_new_privs, the seccomp filter, rlimits, and the deadline
// kills the module's whole process group.
TEST_F(SubprocessHostTest, WithoutNamespacesTheRemainingLayersStillHold) {
  SandboxCaps none = caps();
  none.userNs = none.mountNs = none.pidNs = none.netNs = none.ipcNs = none.utsNs = false;
  none.privateRoot = none.procFs = false;
  none.missing.push_back("namespaces: turned off by the test");
  SubprocessModuleHost bare(none);
  std::string spin = unique("spin");
  add("whoami", guest("hostile"));
  add("flood", guest("hostile"), {.outputBytes = 1024});
  add(spin, guest("hostile"), {.timeoutMs = 200});
  ASSERT_TRUE(bare.load(set));
  auto me = bare.call("whoami", "{}", {});
  ASSERT_TRUE(me) << me.error().message;
  EXPECT_EQ(me->output.at("nnp"), 1);
  EXPECT_EQ(me->output.at("capEff"), 0);
  if (caps().seccomp) {
    EXPECT_EQ(me->output.at("seccomp"), 2);
  }
  if (caps().root) {
    EXPECT_EQ(me->output.at("uid"), 65534);
  }
  EXPECT_NE(me->output.at("pid"), 2);
  auto flood = bare.call("flood", "{}", {});
  ASSERT_FALSE(flood);
  EXPECT_NE(flood.error().message.find("wrote more than 1024 bytes"), std::string::npos);
  auto r = bare.call(spin, "{}", {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
  EXPECT_EQ(processesNamed(spin), 0);
  EXPECT_NE(json::serialize(bare.describe()).find("turned off by the test"), std::string::npos);
}

}  // namespace
}  // namespace aion::modhost
