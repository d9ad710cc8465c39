// One place that turns native failures (libusb error codes, errno) into the
// JS errors core expects: an Error with a stable `code` (core's ErrorCodes),
// plus the native facts (`libusbError`, `errno`) for diagnostics.
#pragma once

#include <napi.h>

#include <string>

namespace usbscsi {

struct NativeError {
  std::string code;        // core's ErrorCodes value, e.g. "E_BUSY"
  std::string message;     // says what to do
  std::string libusbName;  // e.g. "LIBUSB_ERROR_BUSY"; empty when not from libusb
  int libusbCode = 0;      // libusb's negative code; 0 when not from libusb
  int errnoValue = 0;      // errno-ish number (positive), 0 when unknown
  bool empty() const { return code.empty(); }
};

// THE mapping of a libusb error code (negative) to a NativeError. `what` names the
// operation that failed ("claim interface 0").
NativeError FromLibusb(int libusbCode, const std::string& what);

// errno of a failed system call (open, ioctl, pread...) to a NativeError.
NativeError FromErrno(int err, const std::string& what);

NativeError MakeError(const std::string& code, const std::string& message);

Napi::Error ToJsError(Napi::Env env, const NativeError& error);

// Throws (C++ exception carrying a JS error) a typed E_BAD_INPUT.
[[noreturn]] void ThrowBadInput(Napi::Env env, const std::string& message);
[[noreturn]] void ThrowNative(Napi::Env env, const NativeError& error);

// The udev rule that grants access without root (quoted in E_PERMISSION messages).
extern const char* const kUdevRuleHint;

}  // namespace usbscsi
