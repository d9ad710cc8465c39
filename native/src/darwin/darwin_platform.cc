// The darwin implementation of native/src/common/platform.h.
#include "../common/platform.h"

#include <IOKit/IOKitLib.h>

#include "darwin_bindings.h"
#include "darwin_cf.h"
#include "darwin_registry.h"

namespace usbscsi {

namespace {

// libusb on darwin: bus number = locationID >> 24; the port path is the
// locationID's following nibbles, one hub tier each, up to the first zero.
uint32_t LocationIdOf(uint8_t busNumber, const std::vector<uint8_t>& portNumbers) {
  uint32_t location = static_cast<uint32_t>(busNumber) << 24;
  int shift = 20;
  for (uint8_t port : portNumbers) {
    if (shift < 0 || port == 0 || port > 0x0f) return 0;  // not representable: let the caller ask the device
    location |= static_cast<uint32_t>(port) << shift;
    shift -= 4;
  }
  return location;
}

}  // namespace

void InitPlatform(Napi::Env env, Napi::Object exports) { darwin::RegisterDarwin(env, exports); }

bool PlatformDeviceStrings(uint8_t busNumber, const std::vector<uint8_t>& portNumbers, DeviceStrings& out) {
  uint32_t location = LocationIdOf(busNumber, portNumbers);
  if (location == 0) return false;
  darwin::DarwinFailure ignored;
  darwin::IOOwned device(darwin::FindUsbDevice(location, ignored));
  if (device.get() == IO_OBJECT_NULL) return false;
  // The registry caches the strings the OS read at enumeration: no device I/O, no open.
  auto pick = [&](const char* key, const char* legacy) {
    auto value = darwin::StringProperty(device.get(), key);
    return value ? value : darwin::StringProperty(device.get(), legacy);
  };
  out.manufacturer = pick("kUSBVendorString", "USB Vendor Name");
  out.product = pick("kUSBProductString", "USB Product Name");
  out.serialNumber = pick("kUSBSerialNumberString", "USB Serial Number");
  return true;
}

uint64_t PlatformTransferMemoryLimit(std::string& source) {
  source = "darwin: no system-wide cap on in-flight USB transfer memory";
  return 0;
}

const char* PlatformName() { return "darwin"; }

}  // namespace usbscsi
