// Linux: string descriptors from sysfs (no open, no permission needed) and the usbfs
// transfer-memory limit shared by every process's in-flight URBs.
#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include "../common/platform.h"

namespace usbscsi {

void InitSgBindings(Napi::Env env, Napi::Object exports);  // sgio.cc

void InitPlatform(Napi::Env env, Napi::Object exports) { InitSgBindings(env, exports); }

namespace {

std::optional<std::string> ReadLine(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

bool PlatformDeviceStrings(uint8_t busNumber, const std::vector<uint8_t>& portNumbers, DeviceStrings& out) {
  std::ostringstream dir;
  dir << "/sys/bus/usb/devices/";
  if (portNumbers.empty()) {
    dir << "usb" << static_cast<int>(busNumber);
  } else {
    dir << static_cast<int>(busNumber) << '-';
    for (size_t i = 0; i < portNumbers.size(); ++i) dir << (i ? "." : "") << static_cast<int>(portNumbers[i]);
  }
  struct stat st;
  if (stat(dir.str().c_str(), &st) != 0) return false;
  out.manufacturer = ReadLine(dir.str() + "/manufacturer");
  out.product = ReadLine(dir.str() + "/product");
  out.serialNumber = ReadLine(dir.str() + "/serial");
  return true;
}

uint64_t PlatformTransferMemoryLimit(std::string& source) {
  const char* path = "/sys/module/usbcore/parameters/usbfs_memory_mb";
  const auto value = ReadLine(path);
  if (!value) {
    source = "usbfs_memory_mb (not readable, assuming the default 16 MiB)";
    return 16ull << 20;
  }
  source = std::string(path) + " = " + *value;
  try {
    return std::stoull(*value) << 20;  // 0 = no limit
  } catch (...) {
    return 16ull << 20;
  }
}

const char* PlatformName() { return "linux"; }

}  // namespace usbscsi
