// Linux: string descriptors from sysfs (no open, no permission needed), the usbfs
// transfer-memory limit shared by every process's in-flight URBs, and the credentials
// of a Unix-socket peer.
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "../common/args.h"
#include "../common/platform.h"

namespace usbscsi {

void InitSgBindings(Napi::Env env, Napi::Object exports);  // sgio.cc

namespace {

// peerCredentials(fd) -> { pid, uid, gid } of the process that connected a Unix socket,
// as the kernel recorded them at connect() time (SO_PEERCRED): what the peer cannot forge.
// One getsockopt on a connected socket: it does not block.
Napi::Value PeerCredentials(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = static_cast<int>(U32(env, info[0], "fd", 0, 0x7fffffff));
  struct ucred cred {};
  socklen_t size = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &size) != 0) {
    ThrowNative(env, FromErrno(errno, "SO_PEERCRED on fd " + std::to_string(fd)));
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, cred.pid));
  out.Set("uid", Napi::Number::New(env, cred.uid));
  out.Set("gid", Napi::Number::New(env, cred.gid));
  return out;
}

}  // namespace

void InitPlatform(Napi::Env env, Napi::Object exports) {
  InitSgBindings(env, exports);
  exports.Set("peerCredentials", Napi::Function::New(env, PeerCredentials, "peerCredentials"));
}

namespace {

std::optional<std::string> ReadLine(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

bool PlatformDeviceStrings(uint8_t busNumber, const std::vector<uint8_t>& portNumbers, DeviceStrings& out) {
  std::ostringstream dir;
  dir << "/sys/bus/usb/devices/";
  if (portNumbers.empty()) {
    dir << "usb" << static_cast<int>(busNumber);
  } else {
    dir << static_cast<int>(busNumber) << '-';
    for (size_t i = 0; i < portNumbers.size(); ++i) dir << (i ? "." : "") << static_cast<int>(portNumbers[i]);
  }
  struct stat st;
  if (stat(dir.str().c_str(), &st) != 0) return false;
  out.manufacturer = ReadLine(dir.str() + "/manufacturer");
  out.product = ReadLine(dir.str() + "/product");
  out.serialNumber = ReadLine(dir.str() + "/serial");
  return true;
}

uint64_t PlatformTransferMemoryLimit(std::string& source) {
  const char* path = "/sys/module/usbcore/parameters/usbfs_memory_mb";
  const auto value = ReadLine(path);
  if (!value) {
    source = "usbfs_memory_mb (not readable, assuming the default 16 MiB)";
    return 16ull << 20;
  }
  source = std::string(path) + " = " + *value;
  try {
    return std::stoull(*value) << 20;  // 0 = no limit
  } catch (...) {
    return 16ull << 20;
  }
}

const char* PlatformName() { return "linux"; }

}  // namespace usbscsi
