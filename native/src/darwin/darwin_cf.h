// Small CoreFoundation / IOKit ownership helpers: every Copy/Create result is
// released on scope exit, and registry properties are read with one call.
#pragma once

#include <CoreFoundation/CoreFoundation.h>
#include <IOKit/IOKitLib.h>

#include <cstdint>
#include <optional>
#include <string>

namespace usbscsi::darwin {

// kIOMainPortDefault exists only from macOS 12 and kIOMasterPortDefault is
// deprecated there; MACH_PORT_NULL means "the default main port" on every
// version, so one spelling compiles warning-free for macos11 and macos12.
inline constexpr mach_port_t kDefaultMainPort = MACH_PORT_NULL;

/** Owns one CoreFoundation reference (CFRelease on destruction). */
template <typename T>
class CFOwned {
 public:
  explicit CFOwned(T ref = nullptr) : ref_(ref) {}
  ~CFOwned() { if (ref_) CFRelease(ref_); }
  CFOwned(const CFOwned&) = delete;
  CFOwned& operator=(const CFOwned&) = delete;
  T get() const { return ref_; }
  explicit operator bool() const { return ref_ != nullptr; }

 private:
  T ref_;
};

/** Owns one io_object_t (IOObjectRelease on destruction). */
class IOOwned {
 public:
  explicit IOOwned(io_object_t object = IO_OBJECT_NULL) : object_(object) {}
  ~IOOwned() { if (object_ != IO_OBJECT_NULL) IOObjectRelease(object_); }
  IOOwned(const IOOwned&) = delete;
  IOOwned& operator=(const IOOwned&) = delete;
  io_object_t get() const { return object_; }
  io_object_t* out() { return &object_; }
  io_object_t release() { io_object_t o = object_; object_ = IO_OBJECT_NULL; return o; }

 private:
  io_object_t object_;
};

std::string ToStdString(CFStringRef string);
std::optional<std::string> StringProperty(io_registry_entry_t entry, const char* key);
std::optional<int64_t> IntegerProperty(io_registry_entry_t entry, const char* key);
std::optional<bool> BoolProperty(io_registry_entry_t entry, const char* key);
std::string ClassName(io_object_t object);

}  // namespace usbscsi::darwin
