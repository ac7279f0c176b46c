// The wasmtime module host against small WASI modules written in WAT:
// well-behaved, and each way a guest can misbehave.
#include "modhost/wasm_host.h"

#include <gtest/gtest.h>
#include <wasmtime.h>

#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include "temp_dir.h"

namespace aion::modhost {
namespace {

constexpr const char* kImports = R"(
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
)";

// Echo stdin to stdout (one read: inputs here are small).
constexpr const char* kEcho = R"(
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 60000))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 4) (i32.load (i32.const 8)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 12)))))";
constexpr const char* kLoop = R"((func (export "_start") (loop $l (br $l))))";
constexpr const char* kBomb = R"(
  (func (export "_start")
    (loop $l (if (i32.ne (memory.grow (i32.const 1)) (i32.const -1)) (then (br $l))))
    unreachable))";
constexpr const char* kFlood = R"(
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 512))
    (loop $l (if (i32.eqz (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))) (then (br $l))))
    (call $exit (i32.const 1))))";
constexpr const char* kTrap = R"((func (export "_start") unreachable))";
constexpr const char* kReject = R"(
  (data (i32.const 64) "{\"error\":{\"code\":\"invalid_input\",\"message\":\"bad\"}}")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 50))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $exit (i32.const 2))))";
constexpr const char* kGarbage = R"(
  (data (i32.const 64) "nope")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 4))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))";

// Echo stdin through two 3+4-byte iovecs per call: partial reads, scattered
// reads and gathered writes.
constexpr const char* kChunkedEcho = R"(
  (func (export "_start")
    (local $n i32)
    (loop $more
      (i32.store (i32.const 0) (i32.const 64))
      (i32.store (i32.const 4) (i32.const 3))
      (i32.store (i32.const 8) (i32.const 67))
      (i32.store (i32.const 12) (i32.const 4))
      (if (call $fd_read (i32.const 0) (i32.const 0) (i32.const 2) (i32.const 16)) (then unreachable))
      (local.set $n (i32.load (i32.const 16)))
      (if (local.get $n) (then
        (i32.store (i32.const 24) (i32.const 64))
        (i32.store (i32.const 28)
          (select (local.get $n) (i32.const 3) (i32.lt_u (local.get $n) (i32.const 3))))
        (i32.store (i32.const 32) (i32.const 67))
        (i32.store (i32.const 36) (i32.sub (local.get $n) (i32.load (i32.const 28))))
        (if (call $fd_write (i32.const 1) (i32.const 24) (i32.const 2) (i32.const 40)) (then unreachable))
        (if (i32.ne (i32.load (i32.const 40)) (local.get $n)) (then unreachable))
        (br $more))))))";
// Descriptors other than 0-2 (or the wrong direction) are EBADF (8) and write
// nothing, so stdout ends up exactly {}.
constexpr const char* kBadFds = R"(
  (data (i32.const 64) "{}")
  (func $expect (param $got i32) (param $want i32)
    (if (i32.ne (local.get $got) (local.get $want)) (then unreachable)))
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 2))
    (call $expect (call $fd_read (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)) (i32.const 8))
    (call $expect (call $fd_write (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)) (i32.const 8))
    (call $expect (call $fd_write (i32.const 3) (i32.const 0) (i32.const 1) (i32.const 8)) (i32.const 8))
    (call $expect (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)) (i32.const 0))))";
// A module whose _start makes one stdio call `expr`, with a valid iovec
// [64, 1] at 0 pointing at an "x".
std::string stdioCall(const std::string& expr) {
  return R"((data (i32.const 64) "x")
            (func (export "_start")
              (i32.store (i32.const 0) (i32.const 64))
              (i32.store (i32.const 4) (i32.const 1))
              (drop )" +
         expr + "))";
}
// Traps unless memory and table look untouched, then dirties both (and grows
// memory): reused pool slots must come back reset on every call.
constexpr const char* kDirty = R"(
  (table 4 funcref)
  (func $f)
  (elem declare func $f)
  (data (i32.const 64) "{}")
  (func (export "_start")
    (if (i32.ne (memory.size) (i32.const 1)) (then unreachable))
    (if (i32.load (i32.const 60000)) (then unreachable))
    (if (i32.eqz (ref.is_null (table.get (i32.const 2)))) (then unreachable))
    (i32.store (i32.const 60000) (i32.const 1))
    (table.set (i32.const 2) (ref.func $f))
    (drop (memory.grow (i32.const 1)))
    (i32.store (i32.const 70000) (i32.const 1))
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 2))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))";
// 10,000 bytes of 'x' then "END" to stderr, then exit status 1.
constexpr const char* kStderr = R"(
  (data (i32.const 64) "END")
  (func (export "_start")
    (memory.fill (i32.const 1024) (i32.const 120) (i32.const 10000))
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 10000))
    (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 3))
    (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $exit (i32.const 1))))";

std::string wat2wasm(const std::string& body) {
  std::string wat = std::string("(module ") + kImports + body + ")";
  wasm_byte_vec_t out;
  wasmtime_error_t* err = wasmtime_wat2wasm(wat.data(), wat.size(), &out);
  if (err) {
    wasm_name_t msg;
    wasmtime_error_message(err, &msg);
    std::string m(msg.data, msg.size);
    wasm_byte_vec_delete(&msg);
    wasmtime_error_delete(err);
    ADD_FAILURE() << "wat: " << m;
    return "";
  }
  std::string bin(out.data, out.size);
  wasm_byte_vec_delete(&out);
  return bin;
}

struct HostTest : ::testing::Test {
  testing::TempDir dir;
  WasmModuleHost host;
  policy::PolicySet set;

  void add(const std::string& name, const std::string& wasmBytes, policy::ModuleLimits lim = {}) {
    policy::Module m;
    m.name = name;
    m.version = "0.1.0";
    m.kind = "wasm";
    m.verification = {policy::Verification::State::kUnsigned, "test module", {}, {}};
    m.artifactPath = dir.write(name + ".wasm", wasmBytes).string();
    m.intents = {name};
    m.limits = lim;
    set.modules[name] = m;
  }
  void loadOk() {
    auto r = host.load(set);
    ASSERT_TRUE(r) << (r ? "" : r.error().front());
  }
  Result<CallResult> call(const std::string& name, std::string input = "{}", CallOptions o = {}) {
    return host.call(name, input, o);
  }
};

TEST_F(HostTest, EchoReturnsParsedJson) {
  add("echo", wat2wasm(kEcho));
  loadOk();
  auto r = call("echo", R"({"a":[1,"é"]})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->output, boost::json::parse(R"({"a":[1,"é"]})"));
  EXPECT_GT(r->micros, 0);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(call("echo", R"({"i":1})"));  // stores share nothing
}

TEST_F(HostTest, StdinIsReadInPiecesAndStdoutGathered) {
  add("echo", wat2wasm(kChunkedEcho));
  loadOk();
  std::string big = R"({"text":")" + std::string(10000, 'a') + R"("})";
  for (const std::string& in : {std::string("{}"), std::string("[1]"), big}) {
    auto r = call("echo", in);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->output, boost::json::parse(in));
  }
}

TEST_F(HostTest, BadDescriptorsAreEbadf) {
  add("bad", wat2wasm(kBadFds));
  loadOk();
  auto r = call("bad");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->output, boost::json::parse("{}"));
}

TEST_F(HostTest, PointersOutsideMemoryTrapAsInWasi) {
  // Memory is one 64 KiB page.
  for (const char* expr : {
           "(call $fd_write (i32.const 1) (i32.const 65532) (i32.const 1) (i32.const 8))",
           "(call $fd_write (i32.const 1) (i32.const 2) (i32.const 1) (i32.const 8))",
           "(call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 65534))",
           "(call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const -4))",
           "(call $fd_write (i32.const 9) (i32.const 65536) (i32.const 1) (i32.const 8))",
       }) {
    set.modules.clear();
    add("oob", wat2wasm(stdioCall(expr)));
    loadOk();
    auto r = call("oob");
    ASSERT_FALSE(r) << expr;
    EXPECT_EQ(r.error().code, ErrorCode::kModuleFailed) << expr;
    EXPECT_NE(r.error().message.find("trapped"), std::string::npos) << r.error().message;
  }
  add("oob-buffer", wat2wasm(R"(
    (func (export "_start")
      (i32.store (i32.const 0) (i32.const 65530))
      (i32.store (i32.const 4) (i32.const 100))
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"));
  loadOk();
  EXPECT_NE(call("oob-buffer").error().message.find("trapped"), std::string::npos);
}

TEST_F(HostTest, StderrTailIsKeptInFailureDetails) {
  add("noisy", wat2wasm(kStderr));
  loadOk();
  auto r = call("noisy");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kModuleFailed);
  ASSERT_TRUE(r.error().details.contains("stderr"));
  std::string tail(r.error().details.at("stderr").as_string());
  EXPECT_EQ(tail.size(), 4096u);
  EXPECT_EQ(tail.substr(tail.size() - 4), "xEND");
}

TEST_F(HostTest, EveryCallStartsFromCleanMemoryAndTables) {
  add("dirty", wat2wasm(kDirty));
  loadOk();
  for (int i = 0; i < 100; ++i) {  // more calls than slots wait for decommit
    auto r = call("dirty");
    ASSERT_TRUE(r) << "call " << i << ": " << r.error().message;
  }
}

TEST_F(HostTest, InfiniteLoopHitsWallTimeAndHostStaysUsable) {
  add("loop", wat2wasm(kLoop), {.memoryMb = 16, .timeoutMs = 200});
  add("echo", wat2wasm(kEcho));
  loadOk();
  auto start = std::chrono::steady_clock::now();
  auto r = call("loop");
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
  EXPECT_LT(took, std::chrono::seconds(2));
  EXPECT_TRUE(call("echo", "[]"));
}

TEST_F(HostTest, EpochTicksOnlyWhileACallRuns) {
  add("loop", wat2wasm(kLoop), {.memoryMb = 16, .timeoutMs = 100});
  loadOk();
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  EXPECT_EQ(host.ticks(), 0u) << "an idle host must not tick";
  auto r = call("loop");  // ends only through ticks: the wall-time check runs on each
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
  auto atEnd = host.ticks();
  EXPECT_GE(atEnd, 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // 20 ticks if it ran on
  // A tick begun during the call may land after it; no other may.
  EXPECT_LE(host.ticks(), atEnd + 1) << "ticking must stop when no call runs";
}

TEST_F(HostTest, CallTimeoutTighterThanModuleLimitWins) {
  add("loop", wat2wasm(kLoop), {.memoryMb = 16, .timeoutMs = 60000});
  loadOk();
  auto r = call("loop", "{}", {.timeoutMs = 100});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
}

TEST_F(HostTest, CancelStopsARunningModule) {
  add("loop", wat2wasm(kLoop), {.memoryMb = 16, .timeoutMs = 60000});
  loadOk();
  std::atomic<bool> cancel{false};
  std::jthread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    cancel = true;
  });
  auto r = call("loop", "{}", {.timeoutMs = 60000, .cancel = &cancel});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kCanceled);
}

TEST_F(HostTest, MemoryBombIsCappedByTheLimiter) {
  add("bomb", wat2wasm(kBomb), {.memoryMb = 2, .timeoutMs = 5000});
  add("echo", wat2wasm(kEcho));
  loadOk();
  auto r = call("bomb");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kModuleFailed);
  EXPECT_NE(r.error().message.find("trapped"), std::string::npos) << r.error().message;
  EXPECT_TRUE(call("echo", "{}"));
}

TEST_F(HostTest, OutputFloodIsCut) {
  add("flood", wat2wasm(kFlood), {.memoryMb = 16, .timeoutMs = 5000, .outputBytes = 1024});
  loadOk();
  auto r = call("flood");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kModuleFailed);
  EXPECT_NE(r.error().message.find("more than 1024 bytes"), std::string::npos) << r.error().message;
}

TEST_F(HostTest, TrapRejectAndGarbage) {
  add("trap", wat2wasm(kTrap));
  add("reject", wat2wasm(kReject));
  add("garbage", wat2wasm(kGarbage));
  loadOk();
  auto t = call("trap");
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, ErrorCode::kModuleFailed);
  EXPECT_NE(t.error().message.find("trapped"), std::string::npos);
  auto rj = call("reject");
  ASSERT_FALSE(rj);
  EXPECT_EQ(rj.error().code, ErrorCode::kInvalidParams);
  EXPECT_EQ(rj.error().message, "bad");
  auto g = call("garbage");
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code, ErrorCode::kModuleFailed);
  EXPECT_NE(g.error().message.find("invalid JSON"), std::string::npos);
  EXPECT_EQ(call("nope").error().code, ErrorCode::kNotFound);
}

TEST_F(HostTest, FailedLoadKeepsPreviousModules) {
  add("echo", wat2wasm(kEcho));
  loadOk();
  policy::PolicySet bad = set;
  policy::Module junk = set.modules["echo"];
  junk.name = "junk";
  junk.artifactPath = dir.write("junk.wasm", "not wasm at all").string();
  bad.modules["junk"] = junk;
  auto r = host.load(bad);
  ASSERT_FALSE(r);
  ASSERT_EQ(r.error().size(), 1u);
  EXPECT_EQ(r.error()[0].rfind("modules.junk: not a valid WebAssembly module", 0), 0u)
      << r.error()[0];
  EXPECT_TRUE(call("echo", "{}"));
  EXPECT_EQ(call("junk").error().code, ErrorCode::kNotFound);
}

TEST_F(HostTest, DigestMismatchRefused) {
  add("echo", wat2wasm(kEcho));
  set.modules["echo"].sha256 = std::string(64, '0');
  auto r = host.load(set);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error()[0].find("digest mismatch"), std::string::npos);
}

TEST_F(HostTest, CompiledModulesAreCachedByDigest) {
  auto bytes = wat2wasm(kEcho);
  add("a", bytes);
  add("b", bytes);  // same bytes under two names: compiled once
  loadOk();
  EXPECT_EQ(host.cachedCount(), 1u);
  loadOk();
  EXPECT_EQ(host.cachedCount(), 1u);
  add("c", wat2wasm(kTrap));
  loadOk();
  EXPECT_EQ(host.cachedCount(), 2u);
  set.modules.erase("c");
  loadOk();
  EXPECT_EQ(host.cachedCount(), 1u);  // unused code is dropped
  EXPECT_EQ(host.describe().size(), 2u);
}

}  // namespace
}  // namespace aion::modhost
