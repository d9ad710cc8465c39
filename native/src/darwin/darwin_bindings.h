// Registers `exports.darwin` (listStorage, unmountDisk, mountDisk, capture,
// release, waitForStorage, syncMountPoints, processStartTime,
// hasDeviceAccessEntitlement). Called from InitPlatform (darwin_platform.cc).
#pragma once

#include <napi.h>

namespace usbscsi::darwin {

void RegisterDarwin(Napi::Env env, Napi::Object exports);

}  // namespace usbscsi::darwin
