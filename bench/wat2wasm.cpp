// Build-time tool: WAT text in, WebAssembly binary out (wasmtime's `wat`
// feature), for the benchmark's hand-written guests.
#include <wasmtime.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s IN.wat OUT.wasm\n", argv[0]);
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::string wat{std::istreambuf_iterator<char>(in), {}};
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", argv[1]);
    return 1;
  }
  wasm_byte_vec_t wasm;
  if (wasmtime_error_t* err = wasmtime_wat2wasm(wat.data(), wat.size(), &wasm)) {
    wasm_name_t msg;
    wasmtime_error_message(err, &msg);
    std::fprintf(stderr, "%s: %.*s\n", argv[1], static_cast<int>(msg.size), msg.data);
    wasm_byte_vec_delete(&msg);
    wasmtime_error_delete(err);
    return 1;
  }
  std::ofstream out(argv[2], std::ios::binary);
  out.write(wasm.data, static_cast<std::streamsize>(wasm.size));
  wasm_byte_vec_delete(&wasm);
  return out ? 0 : 1;
}
