#pragma once
#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace aion {

//! SHA-256 of `data`.
std::array<unsigned char, 32> sha256(std::string_view data);
//! Lowercase hex SHA-256 of `data`.
std::string sha256Hex(std::string_view data);
//! Whole file contents; nullopt if unreadable.
std::optional<std::string> readFile(const std::filesystem::path& p);
//! Writes `bytes` to a file created (or truncated) with `perms` before any
//! byte lands, so a private file is never readable by others; with `sync`,
//! fsyncs it. False on any failure.
bool writeFile(const std::filesystem::path& p, std::string_view bytes, std::filesystem::perms perms,
               bool sync = false);

}  // namespace aion
