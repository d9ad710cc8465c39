// IOReturn and DAReturn → core error codes, in one place (cf. libusb's
// darwin_to_libusb). Names are the SDK's constant names, for messages.
#pragma once

#include <DiskArbitration/DiskArbitration.h>
#include <IOKit/IOReturn.h>

#include "darwin_failure.h"

namespace usbscsi::darwin {

const char* IOReturnName(IOReturn status);
const char* IOReturnErrorCode(IOReturn status);
const char* DAReturnName(DAReturn status);
const char* DAReturnErrorCode(DAReturn status);

/** Fills code/status/statusName of `failure` from an IOReturn. */
void SetIOReturn(DarwinFailure& failure, IOReturn status);
/** Fills code/status/statusName of `failure` from a DAReturn. */
void SetDAReturn(DarwinFailure& failure, DAReturn status);

}  // namespace usbscsi::darwin
