# Shared helpers for the scripts in this folder (sourced, not run).
log() { printf '[aionos] %s\n' "$*" >&2; }

aion_cache_root() { echo "${AION_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/aionos}"; }

# Keyed by the wrapper crate's manifest, so a version bump rebuilds.
wasmtime_cache_dir() {
  local key
  key="$(cat "$here/deps/wasmtime/Cargo.toml" "$here/deps/wasmtime/Cargo.lock" 2>/dev/null | sha256sum | cut -c1-12)"
  echo "$(aion_cache_root)/wasmtime-$key"
}

# The rustup toolchain builds wasmtime (Debian's rustc is too old for it).
rustup_cargo() {
  if [[ -x "$HOME/.cargo/bin/cargo" ]]; then echo "$HOME/.cargo/bin/cargo"; return; fi
  if command -v rustup >/dev/null; then echo "$(dirname "$(rustup which cargo)")/cargo"; return; fi
  log "error: need a recent cargo (rustup) to build wasmtime; Debian's cargo is too old"; exit 1
}
