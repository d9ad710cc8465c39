// A failed macOS step, described with the core error code it maps to and the
// raw OS status, so that the TypeScript side can build a UsbScsiError whose
// message says what to do. Built on worker threads; turned into a JS Error on
// the main thread (darwin_addon.cc).
#pragma once

#include <cstdint>
#include <string>

namespace usbscsi::darwin {

struct DarwinFailure {
  std::string code;        // core ErrorCode: "E_BUSY", "E_PERMISSION", …
  std::string operation;   // "list", "unmount", "mount", "capture", "release", "wait"
  std::string message;     // what happened, in one sentence
  int64_t status = 0;      // raw IOReturn or DAReturn (0 when none)
  std::string statusName;  // "kIOReturnNotPrivileged", "kDAReturnBusy", …
  // DiskArbitration dissenter (unmount/mount refused by someone).
  bool hasDissenter = false;
  int64_t dissenterStatus = 0;
  std::string dissenterStatusName;
  std::string dissenterStatusString;  // DADissenterGetStatusString, often empty
  std::string bsdName;
  bool hasLocationId = false;
  uint32_t locationId = 0;
};

}  // namespace usbscsi::darwin
