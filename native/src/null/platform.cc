// The platform without OS extras (like libusb's null backend): strings come from the
// device, no transfer-memory limit is known, no OS-only bindings.
#include "../common/platform.h"

namespace usbscsi {

void InitPlatform(Napi::Env, Napi::Object) {}

bool PlatformDeviceStrings(uint8_t, const std::vector<uint8_t>&, DeviceStrings&) { return false; }

uint64_t PlatformTransferMemoryLimit(std::string& source) {
  source = "none";
  return 0;
}

const char* PlatformName() { return "null"; }

}  // namespace usbscsi
