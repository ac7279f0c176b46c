#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace aion {

//! Lowercase hex SHA-256 of `data`.
std::string sha256Hex(std::string_view data);
//! Whole file contents; nullopt if unreadable.
std::optional<std::string> readFile(const std::filesystem::path& p);

}  // namespace aion
