# Imports the wasmtime C API that scripts/install-deps.sh builds into a cache
# outside the tree (AION_WASMTIME_DIR: holds include/ and lib/libwasmtime.a).
set(AION_WASMTIME_DIR "" CACHE PATH "wasmtime C API prefix (include/, lib/)")
if(NOT AION_WASMTIME_DIR OR NOT EXISTS "${AION_WASMTIME_DIR}/lib/libwasmtime.a")
  message(FATAL_ERROR "wasmtime C API not found at '${AION_WASMTIME_DIR}'. "
                      "Run ./scripts/install-deps.sh (it prints the path) or pass -DAION_WASMTIME_DIR=...")
endif()
add_library(wasmtime::wasmtime STATIC IMPORTED GLOBAL)
set_target_properties(wasmtime::wasmtime PROPERTIES
  IMPORTED_LOCATION "${AION_WASMTIME_DIR}/lib/libwasmtime.a"
  INTERFACE_INCLUDE_DIRECTORIES "${AION_WASMTIME_DIR}/include"
  INTERFACE_LINK_LIBRARIES "Threads::Threads;${CMAKE_DL_LIBS};m")
