// Re-export the C API so its symbols land in the static library.
pub use wasmtime_c_api::*;
