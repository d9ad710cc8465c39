#include "darwin_status.h"

namespace usbscsi::darwin {

const char* IOReturnName(IOReturn status) {
  switch (status) {
    case kIOReturnSuccess: return "kIOReturnSuccess";
    case kIOReturnError: return "kIOReturnError";
    case kIOReturnNoMemory: return "kIOReturnNoMemory";
    case kIOReturnNoResources: return "kIOReturnNoResources";
    case kIOReturnBadArgument: return "kIOReturnBadArgument";
    case kIOReturnNotPrivileged: return "kIOReturnNotPrivileged";
    case kIOReturnNotPermitted: return "kIOReturnNotPermitted";
    case kIOReturnExclusiveAccess: return "kIOReturnExclusiveAccess";
    case kIOReturnBusy: return "kIOReturnBusy";
    case kIOReturnNoDevice: return "kIOReturnNoDevice";
    case kIOReturnNotAttached: return "kIOReturnNotAttached";
    case kIOReturnNotFound: return "kIOReturnNotFound";
    case kIOReturnNotOpen: return "kIOReturnNotOpen";
    case kIOReturnNotResponding: return "kIOReturnNotResponding";
    case kIOReturnTimeout: return "kIOReturnTimeout";
    case kIOReturnAborted: return "kIOReturnAborted";
    case kIOReturnUnsupported: return "kIOReturnUnsupported";
    case kIOReturnOffline: return "kIOReturnOffline";
    case kIOReturnNotReady: return "kIOReturnNotReady";
    default: return "IOReturn";
  }
}

const char* IOReturnErrorCode(IOReturn status) {
  switch (status) {
    case kIOReturnNotPrivileged:
    case kIOReturnNotPermitted:
      return "E_PERMISSION";
    case kIOReturnExclusiveAccess:
    case kIOReturnBusy:
      return "E_BUSY";
    case kIOReturnNoDevice:
    case kIOReturnNotAttached:
    case kIOReturnNotFound:
    case kIOReturnNotResponding:
    case kIOReturnOffline:
      return "E_DEVICE_GONE";
    case kIOReturnTimeout:
      return "E_TIMEOUT";
    case kIOReturnAborted:
      return "E_CANCELLED";
    case kIOReturnNoMemory:
    case kIOReturnNoResources:
      return "E_NO_MEMORY";
    case kIOReturnBadArgument:
      return "E_BAD_INPUT";
    case kIOReturnUnsupported:
      return "E_UNSUPPORTED";
    default:
      return "E_IO";
  }
}

const char* DAReturnName(DAReturn status) {
  switch (status) {
    case kDAReturnSuccess: return "kDAReturnSuccess";
    case kDAReturnError: return "kDAReturnError";
    case kDAReturnBusy: return "kDAReturnBusy";
    case kDAReturnBadArgument: return "kDAReturnBadArgument";
    case kDAReturnExclusiveAccess: return "kDAReturnExclusiveAccess";
    case kDAReturnNoResources: return "kDAReturnNoResources";
    case kDAReturnNotFound: return "kDAReturnNotFound";
    case kDAReturnNotMounted: return "kDAReturnNotMounted";
    case kDAReturnNotPermitted: return "kDAReturnNotPermitted";
    case kDAReturnNotPrivileged: return "kDAReturnNotPrivileged";
    case kDAReturnNotReady: return "kDAReturnNotReady";
    case kDAReturnNotWritable: return "kDAReturnNotWritable";
    case kDAReturnUnsupported: return "kDAReturnUnsupported";
    default:
      // Dissenters may carry a unix errno in the low bits (unix_err(x)).
      return "DAReturn";
  }
}

const char* DAReturnErrorCode(DAReturn status) {
  switch (status) {
    case kDAReturnBusy:
    case kDAReturnExclusiveAccess:
    case kDAReturnNotReady:
      return "E_BUSY";
    case kDAReturnNotPermitted:
    case kDAReturnNotPrivileged:
      return "E_PERMISSION";
    case kDAReturnNotFound:
      return "E_DEVICE_GONE";
    case kDAReturnBadArgument:
      return "E_BAD_INPUT";
    case kDAReturnNoResources:
      return "E_NO_MEMORY";
    case kDAReturnUnsupported:
      return "E_UNSUPPORTED";
    default:
      return "E_IO";
  }
}

void SetIOReturn(DarwinFailure& failure, IOReturn status) {
  failure.code = IOReturnErrorCode(status);
  failure.status = static_cast<int64_t>(static_cast<uint32_t>(status));
  failure.statusName = IOReturnName(status);
}

void SetDAReturn(DarwinFailure& failure, DAReturn status) {
  failure.code = DAReturnErrorCode(status);
  failure.status = static_cast<int64_t>(static_cast<uint32_t>(status));
  failure.statusName = DAReturnName(status);
}

}  // namespace usbscsi::darwin
