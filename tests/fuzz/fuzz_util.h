#pragma once
// Shared by the fuzz targets in this folder (docs/fuzzing.md): splitting one
// input into named sections, and a scratch directory per fuzzing process.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>

namespace aion::fuzz {

//! Splits `in` into sections, each opened by a line "=== NAME": the corpus
//! stays readable text, and a mutation of a header only drops that section.
//! Bytes before the first header belong to the section named "".
inline std::map<std::string, std::string> sections(std::string_view in) {
  std::map<std::string, std::string> out;
  std::string name;
  size_t pos = 0;
  while (pos <= in.size()) {
    size_t eol = in.find('\n', pos);
    size_t end = eol == std::string_view::npos ? in.size() : eol + 1;
    std::string_view line = in.substr(pos, end - pos);
    if (line.starts_with("=== ")) {
      name = std::string(line.substr(4));
      while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.pop_back();
      out[name];  // present, possibly empty
    } else {
      out[name].append(line);
    }
    if (eol == std::string_view::npos) break;
    pos = end;
  }
  return out;
}

//! A private directory for this process's files, made once and left for the
//! OS to clean (fuzz processes end by exit() at any point).
inline const std::filesystem::path& scratchDir() {
  static const std::filesystem::path dir = [] {
    auto base = std::filesystem::temp_directory_path() / "aion-fuzz-XXXXXX";
    std::string tmpl = base.string();
    if (!mkdtemp(tmpl.data())) std::abort();
    return std::filesystem::path(tmpl);
  }();
  return dir;
}

inline void writeText(const std::filesystem::path& p, std::string_view text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
}

//! Paths the loaders must not be pointed at from a fuzz input: device and
//! kernel files can block or never end (/dev/zero, /dev/stdin). The loaders
//! trust operator-written paths by design; this keeps the fuzzer off them.
inline bool namesSpecialFile(std::string_view text) {
  for (std::string_view bad : {"/dev", "/proc", "/sys", "/run", "\\"})
    if (text.find(bad) != std::string_view::npos) return true;
  return false;
}

//! Reports a broken invariant as a crash (libFuzzer saves the input).
[[noreturn]] inline void violated(const char* what) {
  fprintf(stderr, "fuzz invariant violated: %s\n", what);
  std::abort();
}

}  // namespace aion::fuzz
