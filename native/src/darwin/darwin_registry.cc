#include "darwin_registry.h"

#include <IOKit/IOBSD.h>
#include <IOKit/storage/IOMedia.h>

#include "darwin_cf.h"
#include "darwin_disk_arbitration.h"
#include "darwin_status.h"

namespace usbscsi::darwin {

namespace {

constexpr int kMassStorageClass = 0x08;
constexpr int kMaxDepth = 32;  // far deeper than any real driver stack; stops cycles

bool IsUsbDevice(io_object_t object) {
  return IOObjectConformsTo(object, "IOUSBHostDevice") || IOObjectConformsTo(object, "IOUSBDevice");
}

bool IsUsbInterface(io_object_t object) {
  return IOObjectConformsTo(object, "IOUSBHostInterface") || IOObjectConformsTo(object, "IOUSBInterface");
}

// The kernel driver on an interface: its first client that is not a user
// client (a process's open handle is a child too, and is not a driver).
std::string DriverClass(io_registry_entry_t entry) {
  IOOwned iterator;
  if (IORegistryEntryGetChildIterator(entry, kIOServicePlane, iterator.out()) != kIOReturnSuccess) return {};
  for (;;) {
    IOOwned child(IOIteratorNext(iterator.get()));
    if (child.get() == IO_OBJECT_NULL) return {};
    if (!IOObjectConformsTo(child.get(), "IOUserClient")) return ClassName(child.get());
  }
}

void ReadInterface(io_registry_entry_t entry, DarwinUsbStorage& device) {
  device.interfaceCount += 1;
  if (IntegerProperty(entry, "bInterfaceClass").value_or(-1) != kMassStorageClass) return;
  DarwinMassStorageInterface interface;
  interface.interfaceNumber = static_cast<int>(IntegerProperty(entry, "bInterfaceNumber").value_or(-1));
  interface.interfaceSubClass = static_cast<int>(IntegerProperty(entry, "bInterfaceSubClass").value_or(-1));
  interface.interfaceProtocol = static_cast<int>(IntegerProperty(entry, "bInterfaceProtocol").value_or(-1));
  interface.driver = DriverClass(entry);
  device.interfaces.push_back(interface);
}

void ReadMedia(io_registry_entry_t entry, bool underMedia, const std::string& parentWhole,
               DarwinUsbStorage& device, std::string& wholeForChildren) {
  DarwinMedia media;
  media.bsdName = StringProperty(entry, kIOBSDNameKey).value_or("");
  media.whole = BoolProperty(entry, kIOMediaWholeKey).value_or(false);
  media.synthesized = media.whole && underMedia;
  media.wholeDisk = media.whole ? media.bsdName : parentWhole;
  media.size = IntegerProperty(entry, kIOMediaSizeKey).value_or(0);
  media.writable = BoolProperty(entry, kIOMediaWritableKey).value_or(false);
  media.removable = BoolProperty(entry, kIOMediaRemovableKey).value_or(false);
  media.content = StringProperty(entry, kIOMediaContentKey).value_or("");
  if (media.whole) wholeForChildren = media.bsdName;
  if (!media.bsdName.empty()) device.media.push_back(media);
}

void Walk(io_registry_entry_t entry, int depth, bool underMedia, std::string whole, DarwinUsbStorage& device) {
  if (depth > kMaxDepth) return;
  IOOwned iterator;
  if (IORegistryEntryGetChildIterator(entry, kIOServicePlane, iterator.out()) != kIOReturnSuccess) return;
  for (;;) {
    IOOwned child(IOIteratorNext(iterator.get()));
    if (child.get() == IO_OBJECT_NULL) break;
    // A hub's downstream devices are listed on their own, not as its storage.
    if (IsUsbDevice(child.get())) continue;
    bool childUnderMedia = underMedia;
    std::string childWhole = whole;
    if (IsUsbInterface(child.get())) {
      ReadInterface(child.get(), device);
    } else if (IOObjectConformsTo(child.get(), kIOMediaClass)) {
      ReadMedia(child.get(), underMedia, whole, device, childWhole);
      childUnderMedia = true;
    }
    Walk(child.get(), depth + 1, childUnderMedia, childWhole, device);
  }
}

bool CopyUsbDevices(io_iterator_t* iterator, DarwinFailure& failure) {
  // IOUSBHostDevice is the class since macOS 10.11; the legacy name is a fallback.
  for (const char* className : {"IOUSBHostDevice", "IOUSBDevice"}) {
    // IOServiceGetMatchingServices consumes the matching dictionary.
    IOReturn status = IOServiceGetMatchingServices(kDefaultMainPort, IOServiceMatching(className), iterator);
    if (status != kIOReturnSuccess) {
      SetIOReturn(failure, status);
      failure.message = "IOServiceGetMatchingServices failed";
      return false;
    }
    if (IOIteratorIsValid(*iterator)) {
      IOOwned first(IOIteratorNext(*iterator));
      if (first.get() != IO_OBJECT_NULL) {
        IOIteratorReset(*iterator);
        return true;
      }
    }
    IOObjectRelease(*iterator);
    *iterator = IO_OBJECT_NULL;
  }
  return true;  // no USB devices at all
}

}  // namespace

DarwinUsbStorage ReadUsbStorage(io_service_t device) {
  DarwinUsbStorage storage;
  storage.locationId = static_cast<uint32_t>(IntegerProperty(device, "locationID").value_or(0));
  IORegistryEntryGetRegistryEntryID(device, &storage.registryId);
  storage.vendorId = static_cast<int>(IntegerProperty(device, "idVendor").value_or(-1));
  storage.productId = static_cast<int>(IntegerProperty(device, "idProduct").value_or(-1));
  storage.manufacturer = StringProperty(device, "kUSBVendorString").value_or(
      StringProperty(device, "USB Vendor Name").value_or(""));
  storage.product = StringProperty(device, "kUSBProductString").value_or(
      StringProperty(device, "USB Product Name").value_or(""));
  storage.serialNumber = StringProperty(device, "kUSBSerialNumberString").value_or(
      StringProperty(device, "USB Serial Number").value_or(""));
  Walk(device, 0, false, std::string(), storage);
  return storage;
}

bool ListUsbStorage(std::vector<DarwinUsbStorage>& out, DarwinFailure& failure) {
  failure.operation = "list";
  IOOwned iterator;
  if (!CopyUsbDevices(iterator.out(), failure)) return false;
  if (iterator.get() == IO_OBJECT_NULL) return true;
  for (;;) {
    IOOwned device(IOIteratorNext(iterator.get()));
    if (device.get() == IO_OBJECT_NULL) break;
    DarwinUsbStorage storage = ReadUsbStorage(device.get());
    if (storage.interfaces.empty() && storage.interfaceCount > 0) continue;
    DescribeVolumes(storage.media);
    out.push_back(std::move(storage));
  }
  return true;
}

io_service_t FindUsbDevice(uint32_t locationId, DarwinFailure& failure) {
  failure.hasLocationId = true;
  failure.locationId = locationId;
  IOOwned iterator;
  if (!CopyUsbDevices(iterator.out(), failure)) return IO_OBJECT_NULL;
  if (iterator.get() != IO_OBJECT_NULL) {
    for (;;) {
      IOOwned device(IOIteratorNext(iterator.get()));
      if (device.get() == IO_OBJECT_NULL) break;
      if (static_cast<uint32_t>(IntegerProperty(device.get(), "locationID").value_or(0)) == locationId) {
        return device.release();
      }
    }
  }
  failure.code = "E_DEVICE_GONE";
  failure.message = "no USB device at this location id (unplugged, or not enumerated yet)";
  return IO_OBJECT_NULL;
}

}  // namespace usbscsi::darwin
