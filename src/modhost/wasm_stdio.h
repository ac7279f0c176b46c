#pragma once
// stdin/stdout/stderr of a WASI preview1 command (ABI v1, docs/modules.md),
// served by host functions linked over WASI's own fd_read/fd_write.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

typedef struct wasmtime_linker wasmtime_linker_t;
typedef struct wasmtime_error wasmtime_error_t;

namespace aion::modhost {

//! One call's standard streams. It is the wasmtime store's data while the
//! call runs (wasmtime_store_new(engine, &stdio, nullptr)); not thread-safe,
//! as a store runs on one thread.
struct WasmStdio {
  static constexpr size_t kStderrKeep = 4096;

  std::string_view in;  //!< stdin; must outlive the call
  size_t inPos = 0;     //!< bytes of `in` already read
  int64_t outputLimit = 0;
  std::string out;              //!< stdout; a write that would pass outputLimit fails (EFBIG)
  bool outputExceeded = false;  //!< such a write was refused
  std::string err;              //!< stderr; holds at least its last kStderrKeep bytes

  //! The last kStderrKeep bytes written to stderr.
  std::string stderrTail() const {
    return err.size() > kStderrKeep ? err.substr(err.size() - kStderrKeep) : err;
  }
};

//! Defines WASI preview1 in `linker`, with fd_read/fd_write replaced by host
//! functions over the calling store's WasmStdio. Error: as the linker's.
wasmtime_error_t* defineWasiWithStdio(wasmtime_linker_t* linker);

}  // namespace aion::modhost
