#include "darwin_cf.h"

#include <vector>

namespace usbscsi::darwin {

std::string ToStdString(CFStringRef string) {
  if (string == nullptr) return {};
  if (const char* fast = CFStringGetCStringPtr(string, kCFStringEncodingUTF8)) return fast;
  CFIndex length = CFStringGetLength(string);
  CFIndex size = CFStringGetMaximumSizeForEncoding(length, kCFStringEncodingUTF8) + 1;
  std::vector<char> buffer(static_cast<size_t>(size));
  if (!CFStringGetCString(string, buffer.data(), size, kCFStringEncodingUTF8)) return {};
  return std::string(buffer.data());
}

namespace {

CFTypeRef CopyProperty(io_registry_entry_t entry, const char* key) {
  CFOwned<CFStringRef> cfKey(CFStringCreateWithCString(kCFAllocatorDefault, key, kCFStringEncodingUTF8));
  if (!cfKey) return nullptr;
  return IORegistryEntryCreateCFProperty(entry, cfKey.get(), kCFAllocatorDefault, 0);
}

}  // namespace

std::optional<std::string> StringProperty(io_registry_entry_t entry, const char* key) {
  CFOwned<CFTypeRef> value(CopyProperty(entry, key));
  if (!value || CFGetTypeID(value.get()) != CFStringGetTypeID()) return std::nullopt;
  return ToStdString(static_cast<CFStringRef>(value.get()));
}

std::optional<int64_t> IntegerProperty(io_registry_entry_t entry, const char* key) {
  CFOwned<CFTypeRef> value(CopyProperty(entry, key));
  if (!value || CFGetTypeID(value.get()) != CFNumberGetTypeID()) return std::nullopt;
  int64_t number = 0;
  if (!CFNumberGetValue(static_cast<CFNumberRef>(value.get()), kCFNumberSInt64Type, &number)) return std::nullopt;
  return number;
}

std::optional<bool> BoolProperty(io_registry_entry_t entry, const char* key) {
  CFOwned<CFTypeRef> value(CopyProperty(entry, key));
  if (!value || CFGetTypeID(value.get()) != CFBooleanGetTypeID()) return std::nullopt;
  return CFBooleanGetValue(static_cast<CFBooleanRef>(value.get())) != 0;
}

std::string ClassName(io_object_t object) {
  io_name_t name = {};
  if (IOObjectGetClass(object, name) != kIOReturnSuccess) return {};
  return std::string(name);
}

}  // namespace usbscsi::darwin
