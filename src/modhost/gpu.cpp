#include "modhost/gpu.h"

#include <charconv>
#include <filesystem>
#include <fstream>

namespace aion::modhost {
namespace fs = std::filesystem;

std::expected<std::vector<GpuDevice>, std::string> parseGpuList(const std::string& spec) {
  std::vector<GpuDevice> out;
  if (spec == "none" || spec.empty()) return out;
  size_t pos = 0;
  while (pos <= spec.size()) {
    auto end = spec.find(',', pos);
    if (end == std::string::npos) end = spec.size();
    std::string item = spec.substr(pos, end - pos);
    GpuDevice d;
    auto colon = item.find(':');
    d.name = item.substr(0, colon);
    if (d.name.empty() || d.name.size() > 64)
      return std::unexpected("'" + item + "': expected name[:memoryMiB]");
    if (colon != std::string::npos) {
      auto num = item.substr(colon + 1);
      auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), d.memoryMb);
      if (ec != std::errc{} || p != num.data() + num.size() || d.memoryMb <= 0)
        return std::unexpected("'" + item + "': memory must be a positive number of MiB");
    }
    out.push_back(std::move(d));
    pos = end + 1;
  }
  return out;
}

std::vector<GpuDevice> detectGpus() {
  std::vector<GpuDevice> out;
  std::error_code ec;
  for (auto& d : fs::directory_iterator("/proc/driver/nvidia/gpus", ec)) {
    std::ifstream in(d.path() / "information");
    std::string line, model = "nvidia";
    while (std::getline(in, line))
      if (auto at = line.find_first_not_of(" \t", 6);
          line.rfind("Model:", 0) == 0 && at != line.npos)
        model = line.substr(at);
    out.push_back({model, 0});  // the proc file does not give memory
  }
  for (auto& d : fs::directory_iterator("/sys/class/drm", ec)) {
    auto vram = d.path() / "device" / "mem_info_vram_total";
    auto name = d.path().filename().string();
    if (name.rfind("card", 0) != 0 || name.find('-') != std::string::npos) continue;
    std::ifstream in(vram);
    long long bytes = 0;
    if (in >> bytes && bytes > 0) out.push_back({name, static_cast<int>(bytes >> 20)});
  }
  return out;
}

}  // namespace aion::modhost
