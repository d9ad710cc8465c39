// What each OS file (src/linux/*.cc, src/darwin/*.cc, src/null/*.cc) provides to the
// common code. Exactly one OS directory is compiled (CMakeLists.txt chooses).
#pragma once

#include <napi.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace usbscsi {

struct DeviceStrings {
  std::optional<std::string> manufacturer, product, serialNumber;
};

// Adds OS-only bindings to `exports` (Linux: sgIo, sgReset; macOS: capture/DiskArbitration).
void InitPlatform(Napi::Env env, Napi::Object exports);

// String descriptors without opening the device (Linux: sysfs), so listing needs no
// permission. Returns false to make the caller open the device and ask it.
bool PlatformDeviceStrings(uint8_t busNumber, const std::vector<uint8_t>& portNumbers, DeviceStrings& out);

// Bytes all in-flight USB transfers may take together (Linux usbfs_memory_mb); 0 = no limit
// known. `source` says where the figure came from, for notes and errors.
uint64_t PlatformTransferMemoryLimit(std::string& source);

// Short platform name reported by `addon.platform` ("linux", "darwin", "null").
const char* PlatformName();

}  // namespace usbscsi
