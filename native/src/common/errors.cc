#include "errors.h"

#include <libusb.h>

#include <cerrno>
#include <cstring>

namespace usbscsi {

const char* const kUdevRuleHint =
    "run as root, or add a udev rule such as "
    "/etc/udev/rules.d/70-usbscsi.rules: "
    "SUBSYSTEM==\"usb\", ATTRS{idVendor}==\"VVVV\", ATTRS{idProduct}==\"PPPP\", MODE=\"0660\", GROUP=\"plugdev\" "
    "(then `udevadm control --reload && udevadm trigger`, replug, and make sure your user is in group plugdev)";

namespace {

// libusb's own codes are the negated errno values it was made from; this is the
// nearest errno for each, reported as `errno` on the JS error.
int ErrnoOfLibusb(int code) {
  switch (code) {
    case LIBUSB_ERROR_IO: return EIO;
    case LIBUSB_ERROR_INVALID_PARAM: return EINVAL;
    case LIBUSB_ERROR_ACCESS: return EACCES;
    case LIBUSB_ERROR_NO_DEVICE: return ENODEV;
    case LIBUSB_ERROR_NOT_FOUND: return ENOENT;
    case LIBUSB_ERROR_BUSY: return EBUSY;
    case LIBUSB_ERROR_TIMEOUT: return ETIMEDOUT;
    case LIBUSB_ERROR_OVERFLOW: return EOVERFLOW;
    case LIBUSB_ERROR_PIPE: return EPIPE;
    case LIBUSB_ERROR_INTERRUPTED: return EINTR;
    case LIBUSB_ERROR_NO_MEM: return ENOMEM;
    case LIBUSB_ERROR_NOT_SUPPORTED: return ENOSYS;
    default: return 0;
  }
}

}  // namespace

NativeError MakeError(const std::string& code, const std::string& message) {
  NativeError e;
  e.code = code;
  e.message = message;
  return e;
}

NativeError FromLibusb(int libusbCode, const std::string& what) {
  NativeError e;
  e.libusbCode = libusbCode;
  e.libusbName = libusb_error_name(libusbCode);
  e.errnoValue = ErrnoOfLibusb(libusbCode);
  const std::string prefix = what + ": " + e.libusbName + " (" + libusb_strerror(libusbCode) + ")";
  switch (libusbCode) {
    case LIBUSB_ERROR_NO_DEVICE:
      e.code = "E_DEVICE_GONE";
      e.message = prefix + "; the device is gone (unplugged or re-enumerated): list devices and open it again.";
      break;
    case LIBUSB_ERROR_NOT_FOUND:
      // libusb says NOT_FOUND for a device that left, an interface that is not claimed and an
      // absent kernel driver; the caller's `what` tells which. Device-level callers map it themselves.
      e.code = "E_IO";
      e.message = prefix + "; the requested entity (interface, kernel driver or device) was not found.";
      break;
    case LIBUSB_ERROR_BUSY:
      e.code = "E_BUSY";
      e.message = prefix + "; another process or a kernel driver holds the interface: detach the kernel driver "
                           "(usbscsi's handoff does it) or stop the other program.";
      break;
    case LIBUSB_ERROR_ACCESS:
      e.code = "E_PERMISSION";
      e.message = prefix + "; the OS refused access to the USB device: " + kUdevRuleHint + ".";
      break;
    case LIBUSB_ERROR_NO_MEM:
      e.code = "E_NO_MEMORY";
      e.message = prefix + "; out of memory for USB transfers. On Linux all in-flight usbfs transfers share "
                           "/sys/module/usbcore/parameters/usbfs_memory_mb (16 MiB by default): use smaller or fewer "
                           "URBs (chunkSize, depth), or raise it as root, e.g. "
                           "`echo 256 > /sys/module/usbcore/parameters/usbfs_memory_mb` (0 = no limit).";
      break;
    case LIBUSB_ERROR_INVALID_PARAM:
      e.code = "E_BAD_INPUT";
      e.message = prefix + "; an argument was rejected (endpoint, interface, length or setting that the device "
                           "does not have). Nothing was sent.";
      break;
    case LIBUSB_ERROR_NOT_SUPPORTED:
      e.code = "E_UNSUPPORTED";
      e.message = prefix + "; this operation is not supported on this platform or by this device's driver.";
      break;
    default:
      e.code = "E_IO";
      e.message = prefix + ".";
      break;
  }
  return e;
}

NativeError FromErrno(int err, const std::string& what) {
  NativeError e;
  e.errnoValue = err;
  const std::string prefix = what + ": " + std::strerror(err);
  switch (err) {
    case EACCES:
    case EPERM:
      e.code = "E_PERMISSION";
      e.message = prefix + "; run as root, or give your user access to the device node (e.g. add it to group "
                           "`disk`, or a udev rule: KERNEL==\"sg[0-9]*\", SUBSYSTEM==\"scsi_generic\", MODE=\"0660\", "
                           "GROUP=\"plugdev\").";
      break;
    case ENOENT:
      e.code = "E_NOT_FOUND";
      e.message = prefix + "; no such device node: list devices again.";
      break;
    case ENODEV:
    case ENXIO:
      e.code = "E_DEVICE_GONE";
      e.message = prefix + "; the device is gone: list devices and open it again.";
      break;
    case EBUSY:
      e.code = "E_BUSY";
      e.message = prefix + "; the device is busy (opened exclusively by another program).";
      break;
    case ENOMEM:
      e.code = "E_NO_MEMORY";
      e.message = prefix + "; out of memory (for SG_IO: lower the transfer length).";
      break;
    case ETIMEDOUT:
      e.code = "E_TIMEOUT";
      e.message = prefix + ".";
      break;
    case EINVAL:
    case ENOTTY:
    case EBADF:
      e.code = "E_BAD_INPUT";
      e.message = prefix + "; the node or the request was rejected (is it an sg or block device? is the length "
                           "within the device's limit?).";
      break;
    default:
      e.code = "E_IO";
      e.message = prefix + ".";
      break;
  }
  return e;
}

Napi::Error ToJsError(Napi::Env env, const NativeError& error) {
  Napi::Error err = Napi::Error::New(env, error.message);
  Napi::Object obj = err.Value();
  obj.Set("code", Napi::String::New(env, error.code));
  if (!error.libusbName.empty()) {
    obj.Set("libusbError", Napi::String::New(env, error.libusbName));
    obj.Set("libusbCode", Napi::Number::New(env, error.libusbCode));
  }
  if (error.errnoValue != 0) obj.Set("errno", Napi::Number::New(env, error.errnoValue));
  return err;
}

void ThrowBadInput(Napi::Env env, const std::string& message) {
  Napi::Error err = Napi::TypeError::New(env, message);
  err.Value().Set("code", Napi::String::New(env, "E_BAD_INPUT"));
  throw err;
}

void ThrowNative(Napi::Env env, const NativeError& error) { throw ToJsError(env, error); }

}  // namespace usbscsi
