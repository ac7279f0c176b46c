#include "modhost/wasm_stdio.h"

#include <wasmtime.h>

#include <algorithm>
#include <cstring>
#include <span>

namespace aion::modhost {
namespace {

// WASI preview1 errno values (witx `errno`).
constexpr int32_t kErrnoSuccess = 0;
constexpr int32_t kErrnoBadf = 8;
constexpr int32_t kErrnoFbig = 22;
constexpr int32_t kErrnoNomem = 48;
// wasmtime's WASI bounds what one host call copies (its "hostcall fuel"):
// larger requests get ENOMEM there, so they do here.
constexpr uint64_t kHostcallBytes = 128 << 20;
constexpr size_t kStderrKeep = WasmStdio::kStderrKeep;

WasmStdio& stdioOf(wasmtime_caller_t* caller) {
  return *static_cast<WasmStdio*>(wasmtime_context_get_data(wasmtime_caller_context(caller)));
}

uint32_t loadU32(std::span<const uint8_t> mem, uint64_t at) {
  uint32_t v;
  std::memcpy(&v, mem.data() + at, 4);  // wasm memory is little-endian, as is the host
  return v;
}

// fd_read/fd_write's arguments (fd, iovs, iovs_len, result_ptr), decoded the
// way wasmtime's WASI preview1 does it: only the first non-empty buffer is
// used, bad pointers trap (as the WASI spec asks), then the fd is checked.
struct StdioCall {
  std::span<uint8_t> mem;
  std::span<uint8_t> buf;
  uint32_t resultAt = 0;
  int32_t err = kErrnoSuccess;
  const char* trap = nullptr;

  //! Stores the byte count on success and sets the errno as the result.
  wasm_trap_t* finish(wasmtime_val_raw_t* args, int32_t errnum, uint32_t count = 0) {
    if (errnum == kErrnoSuccess) std::memcpy(mem.data() + resultAt, &count, 4);
    args[0].i32 = errnum;
    return nullptr;
  }
};

StdioCall decodeStdio(wasmtime_caller_t* caller, const wasmtime_val_raw_t* args) {
  StdioCall io;
  wasmtime_extern_t m;
  if (!wasmtime_caller_export_get(caller, "memory", 6, &m) || m.kind != WASMTIME_EXTERN_MEMORY) {
    io.trap = "missing required memory export";
    return io;
  }
  wasmtime_context_t* ctx = wasmtime_caller_context(caller);
  io.mem = {wasmtime_memory_data(ctx, &m.of.memory), wasmtime_memory_data_size(ctx, &m.of.memory)};
  auto fits = [&](uint64_t at, uint64_t len, uint64_t align) {
    return at % align == 0 && at + len <= io.mem.size();
  };
  const char* kFault = "pointer out of bounds or misaligned";
  uint64_t iovs = static_cast<uint32_t>(args[1].i32);
  uint64_t arrayBytes = 8 * uint64_t{static_cast<uint32_t>(args[2].i32)};
  io.resultAt = static_cast<uint32_t>(args[3].i32);
  if (arrayBytes > kHostcallBytes) {
    io.err = kErrnoNomem;
    return io;
  }
  for (uint64_t at = iovs; at < iovs + arrayBytes; at += 8) {
    if (!fits(at, 8, 4)) {
      io.trap = kFault;
      return io;
    }
    uint32_t ptr = loadU32(io.mem, at), len = loadU32(io.mem, at + 4);
    if (len == 0) continue;
    if (arrayBytes + len > kHostcallBytes) {
      io.err = kErrnoNomem;
      return io;
    }
    if (!fits(ptr, len, 1)) {
      io.trap = kFault;
      return io;
    }
    io.buf = io.mem.subspan(ptr, len);
    break;
  }
  if (!fits(io.resultAt, 4, 4)) io.trap = kFault;
  return io;
}

// stdin/stdout/stderr are these two host functions, shadowing WASI's own
// fd_read/fd_write: WASI's C-API stdout hands each write to a Tokio worker
// thread and waits for it, most of the 75-150 us an empty call used to cost
// (bench/README.md). The module has no descriptors but 0-2 (no preopens, no
// sockets), so any other fd is EBADF, as in WASI.
wasm_trap_t* fdRead(void*, wasmtime_caller_t* caller, wasmtime_val_raw_t* args, size_t) {
  StdioCall io = decodeStdio(caller, args);
  if (io.trap) return wasmtime_trap_new(io.trap, std::strlen(io.trap));
  if (io.err != kErrnoSuccess) return io.finish(args, io.err);
  if (args[0].i32 != 0) return io.finish(args, kErrnoBadf);
  WasmStdio& st = stdioOf(caller);
  size_t n = std::min(io.buf.size(), st.in.size() - st.inPos);
  if (n > 0) std::memcpy(io.buf.data(), st.in.data() + st.inPos, n);
  st.inPos += n;
  return io.finish(args, kErrnoSuccess, static_cast<uint32_t>(n));
}

wasm_trap_t* fdWrite(void*, wasmtime_caller_t* caller, wasmtime_val_raw_t* args, size_t) {
  StdioCall io = decodeStdio(caller, args);
  int32_t fd = args[0].i32;
  if (io.trap) return wasmtime_trap_new(io.trap, std::strlen(io.trap));
  if (io.err != kErrnoSuccess) return io.finish(args, io.err);
  if (fd != 1 && fd != 2) return io.finish(args, kErrnoBadf);
  WasmStdio& st = stdioOf(caller);
  std::span<uint8_t> buf = io.buf;
  if (fd == 1) {
    if (static_cast<int64_t>(st.out.size() + buf.size()) > st.outputLimit) {
      st.outputExceeded = true;
      return io.finish(args, kErrnoFbig);  // the guest sees a failed write
    }
    st.out.append(reinterpret_cast<const char*>(buf.data()), buf.size());
  } else {
    std::span<uint8_t> tail = buf.last(std::min(buf.size(), kStderrKeep));
    st.err.append(reinterpret_cast<const char*>(tail.data()), tail.size());
    if (st.err.size() > 2 * kStderrKeep) st.err.erase(0, st.err.size() - kStderrKeep);
  }
  return io.finish(args, kErrnoSuccess, static_cast<uint32_t>(buf.size()));
}

}  // namespace

wasmtime_error_t* defineWasiWithStdio(wasmtime_linker_t* linker) {
  if (auto* err = wasmtime_linker_define_wasi(linker)) return err;
  wasmtime_linker_allow_shadowing(linker, true);
  wasm_valtype_vec_t params, results;
  wasm_valtype_t* p[] = {wasm_valtype_new_i32(), wasm_valtype_new_i32(), wasm_valtype_new_i32(),
                         wasm_valtype_new_i32()};
  wasm_valtype_t* r[] = {wasm_valtype_new_i32()};
  wasm_valtype_vec_new(&params, 4, p);
  wasm_valtype_vec_new(&results, 1, r);
  wasm_functype_t* type = wasm_functype_new(&params, &results);
  constexpr std::string_view kWasi = "wasi_snapshot_preview1";
  wasmtime_error_t* err = wasmtime_linker_define_func_unchecked(
      linker, kWasi.data(), kWasi.size(), "fd_read", 7, type, fdRead, nullptr, nullptr);
  if (!err)
    err = wasmtime_linker_define_func_unchecked(linker, kWasi.data(), kWasi.size(), "fd_write", 8,
                                                type, fdWrite, nullptr, nullptr);
  wasm_functype_delete(type);
  return err;
}

}  // namespace aion::modhost
