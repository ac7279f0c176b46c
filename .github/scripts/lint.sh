#!/usr/bin/env bash
# clang-format check of the C++ sources against .clang-format, as CI's lint job
# runs it; run it locally the same way. Checks every tracked *.cpp/*.h/*.cc, or
# with --changed REF only those changed since REF (e.g. origin/main).
# Exit 1 lists what to reformat: clang-format -i FILE.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source deps/versions.env

if ! command -v clang-format >/dev/null; then
  # Debian's, as scripts/install-deps.sh installs it: the format differs between versions.
  echo "[aionos] apt-get install clang-format (Debian $DEBIAN_RELEASE)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends clang-format >/dev/null
fi

if [[ "${1:-}" == --changed ]]; then
  mapfile -t files < <(git diff --name-only --diff-filter=d "${2:?--changed needs a git ref}" -- '*.cpp' '*.h' '*.cc')
else
  mapfile -t files < <(git ls-files -- '*.cpp' '*.h' '*.cc')
fi
((${#files[@]})) || { echo "[aionos] lint: no C++ files to check"; exit 0; }

bad=()
for f in "${files[@]}"; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if ((${#bad[@]})); then
  printf '[aionos] lint: not clang-formatted (clang-format -i FILE): %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "[aionos] lint: ${#files[@]} C++ files clang-formatted ($(clang-format --version | grep -o 'version [0-9.]*'))"
