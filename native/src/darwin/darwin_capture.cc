#include "darwin_capture.h"

#include <IOKit/IOCFPlugIn.h>
#include <IOKit/usb/IOUSBLib.h>
#include <Security/SecTask.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "darwin_cf.h"
#include "darwin_registry.h"
#include "darwin_status.h"

namespace usbscsi::darwin {

namespace {

using DeviceInterface = IOUSBDeviceInterface650;

constexpr auto kDriverPollInterval = std::chrono::milliseconds(50);

// Root is enough on its own. With the entitlement, IOKit additionally wants the
// service authorized (the user may be asked) before the user client is created.
bool CheckPrivilege(io_service_t service, DarwinFailure& failure) {
  if (HasDeviceAccessEntitlement()) {
    IOReturn status = IOServiceAuthorize(service, kIOServiceInteractionAllowed);
    if (status == kIOReturnSuccess) return true;
    SetIOReturn(failure, status);
    if (failure.code == "E_IO") failure.code = "E_PERMISSION";
    failure.message = "IOServiceAuthorize refused access to the device (the user declined, or the "
                      "entitlement is not in the signed provisioning profile)";
    return false;
  }
  if (geteuid() == 0) return true;
  failure.code = "E_PERMISSION";
  failure.statusName = "not-root-no-entitlement";
  failure.message = "capturing a USB device needs root or the com.apple.vm.device-access entitlement";
  return false;
}

DeviceInterface** OpenDeviceInterface(io_service_t service, DarwinFailure& failure) {
  IOCFPlugInInterface** plugin = nullptr;
  SInt32 score = 0;
  IOReturn status = IOCreatePlugInInterfaceForService(service, kIOUSBDeviceUserClientTypeID,
                                                      kIOCFPlugInInterfaceID, &plugin, &score);
  if (status != kIOReturnSuccess || plugin == nullptr) {
    SetIOReturn(failure, status == kIOReturnSuccess ? kIOReturnError : status);
    failure.message = "IOCreatePlugInInterfaceForService failed for the USB device";
    return nullptr;
  }
  DeviceInterface** device = nullptr;
  HRESULT result = (*plugin)->QueryInterface(plugin, CFUUIDGetUUIDBytes(kIOUSBDeviceInterfaceID650),
                                             reinterpret_cast<LPVOID*>(&device));
  IODestroyPlugInInterface(plugin);
  if (result != S_OK || device == nullptr) {
    failure.code = "E_UNSUPPORTED";
    failure.message = "IOUSBDeviceInterface650 is not available (macOS 10.11 or later is needed)";
    return nullptr;
  }
  return device;
}

bool ReEnumerate(uint32_t locationId, UInt32 options, DarwinFailure& failure) {
  IOOwned service(FindUsbDevice(locationId, failure));
  if (service.get() == IO_OBJECT_NULL) return false;
  if (!CheckPrivilege(service.get(), failure)) return false;
  DeviceInterface** device = OpenDeviceInterface(service.get(), failure);
  if (device == nullptr) return false;
  // Neither mask needs the device opened (IOUSBLib.h): no exclusive open to fight over.
  IOReturn status = (*device)->USBDeviceReEnumerate(device, options);
  (*device)->Release(device);
  if (status == kIOReturnSuccess) return true;
  SetIOReturn(failure, status);
  failure.message = std::string("USBDeviceReEnumerate failed: ") + failure.statusName;
  return false;
}

// The name of a kernel driver still attached to a mass-storage interface, or "".
std::string AttachedStorageDriver(uint32_t locationId, bool* gone) {
  DarwinFailure ignored;
  IOOwned service(FindUsbDevice(locationId, ignored));
  *gone = service.get() == IO_OBJECT_NULL;
  if (*gone) return {};
  for (const DarwinMassStorageInterface& interface : ReadUsbStorage(service.get()).interfaces) {
    if (!interface.driver.empty()) return interface.driver;
  }
  return {};
}

}  // namespace

bool HasDeviceAccessEntitlement() {
  CFOwned<SecTaskRef> task(SecTaskCreateFromSelf(kCFAllocatorDefault));
  if (!task) return false;
  CFOwned<CFTypeRef> value(SecTaskCopyValueForEntitlement(task.get(), CFSTR("com.apple.vm.device-access"), nullptr));
  return value && CFGetTypeID(value.get()) == CFBooleanGetTypeID() &&
         CFBooleanGetValue(static_cast<CFBooleanRef>(value.get()));
}

bool CaptureDevice(uint32_t locationId, uint32_t timeoutMs, DarwinFailure& failure) {
  failure.operation = "capture";
  if (!ReEnumerate(locationId, kUSBReEnumerateCaptureDeviceMask, failure)) return false;
  // IOUSBLib.h says capture spares mass-storage interface drivers; field reports
  // (libusb xusb on flash disks, as root) say it does detach them once the disk is
  // unmounted. Verify instead of trusting either.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  std::string driver;
  for (;;) {
    bool gone = false;
    driver = AttachedStorageDriver(locationId, &gone);
    if (!gone && driver.empty()) return true;
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(kDriverPollInterval);
  }
  failure.code = driver.empty() ? "E_DEVICE_GONE" : "E_BUSY";
  failure.statusName = driver.empty() ? "device-not-back" : "driver-still-attached";
  failure.message = driver.empty()
      ? "the device did not come back after capture"
      : "capture left the kernel driver " + driver + " on the mass-storage interface";
  failure.bsdName.clear();
  return false;
}

bool ReleaseDevice(uint32_t locationId, DarwinFailure& failure) {
  failure.operation = "release";
  return ReEnumerate(locationId, kUSBReEnumerateReleaseDeviceMask, failure);
}

}  // namespace usbscsi::darwin
