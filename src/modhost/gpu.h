#pragma once
// GPUs this module host can offer (resources.gpu placement, docs/modules.md).
#include <expected>
#include <string>
#include <vector>

namespace aion::modhost {

struct GpuDevice {
  std::string name;
  int memoryMb = 0;  // 0: unknown
};

//! Parses AION_MODULE_HOST_GPUS: "none", or "name:memoryMiB[,name:memoryMiB…]"
//! (memory may be omitted: unknown).
std::expected<std::vector<GpuDevice>, std::string> parseGpuList(const std::string& spec);

//! The devices of this machine: NVIDIA devices (/proc/driver/nvidia/gpus)
//! and DRM cards that report VRAM (/sys/class/drm/card*/device/mem_info_vram_total).
std::vector<GpuDevice> detectGpus();

}  // namespace aion::modhost
