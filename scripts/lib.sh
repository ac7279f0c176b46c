# Shared helpers for the scripts in this folder (sourced, not run; the script
# sets $here to the repository root first).
# Timestamped, so a slow stage shows in CI's log (fresh installs, suites).
log() { printf '[aionos %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# Every external version, in one place (docs/release.md#pins).
# shellcheck source=../deps/versions.env
source "$here/deps/versions.env"

# ccache keys compilations by paths relative to the checkout, so a clone at
# another path (CI's clean clones) reuses what an earlier one compiled. The
# fuzz and sanitizer builds carry debug info, which would hash the build dir.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$here}"
export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"

aion_cache_root() { echo "${AION_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/aionos}"; }

# Keyed by the wrapper crate's manifest and lock, so a version bump rebuilds;
# wasmtime_pin_check makes sure they say WASMTIME_VERSION.
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

# deps/wasmtime/Cargo.toml requires and Cargo.lock locks exactly the
# wasmtime-c-api-impl version deps/versions.env pins; a bump edits all three
# (docs/release.md#pins).
wasmtime_pin_check() {
  local dir="$here/deps/wasmtime"
  grep -q "^wasmtime-c-api-impl = { version = \"=$WASMTIME_VERSION\"" "$dir/Cargo.toml" &&
    grep -A1 -x 'name = "wasmtime-c-api-impl"' "$dir/Cargo.lock" | grep -qx "version = \"$WASMTIME_VERSION\"" && return 0
  log "error: deps/versions.env pins WASMTIME_VERSION=$WASMTIME_VERSION but deps/wasmtime/Cargo.toml or Cargo.lock says otherwise;"
  log "  set the requirement in Cargo.toml to =$WASMTIME_VERSION, then in deps/wasmtime:"
  log "  cargo update -p wasmtime-c-api-impl --precise $WASMTIME_VERSION"
  return 1
}
