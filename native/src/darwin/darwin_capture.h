// Capture and release of a whole USB device through IOKit:
// USBDeviceReEnumerate with kUSBReEnumerateCaptureDeviceMask /
// kUSBReEnumerateReleaseDeviceMask on an IOUSBDeviceInterface650.
//
// Why IOKit here and not libusb_detach_kernel_driver (which does the same
// re-enumeration): the lease must be able to give a device back from another
// process after the holder died, and libusb gives a device back only from the
// handle that captured it (it counts captures per handle).
// Capture also terminates every user client of the device, so a libusb handle
// opened before it is dead afterwards: the lease opens its USB handle after
// capture and closes it before release, and neither step needs one. Doing it
// here also gives us the raw IOReturn, for E_PERMISSION messages that name the fix.
#pragma once

#include <cstdint>

#include "darwin_failure.h"

namespace usbscsi::darwin {

/** Whether this process carries the com.apple.vm.device-access entitlement. */
bool HasDeviceAccessEntitlement();

/**
 * Captures the device at `locationId` (root or the entitlement), then waits up
 * to `timeoutMs` until no kernel driver is attached to any of its mass-storage
 * interfaces; E_BUSY naming the driver if one stays.
 */
bool CaptureDevice(uint32_t locationId, uint32_t timeoutMs, DarwinFailure& failure);

/** Returns the device at `locationId` to the OS; its drivers match again. */
bool ReleaseDevice(uint32_t locationId, DarwinFailure& failure);

}  // namespace usbscsi::darwin
