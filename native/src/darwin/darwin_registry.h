// The IORegistry walk: USB devices with a mass-storage interface, and every
// IOMedia (BSD disk) that hangs below them in the IOService plane:
//   IOUSBHostDevice → IOUSBHostInterface (class 8) → mass-storage driver →
//   SCSI peripheral nub → block storage driver → IOMedia "Whole" (disk4) →
//   partition scheme → IOMedia (disk4s1) [→ APFS container → IOMedia disk5 …]
#pragma once

#include <IOKit/IOKitLib.h>

#include <cstdint>
#include <string>
#include <vector>

#include "darwin_failure.h"

namespace usbscsi::darwin {

struct DarwinMedia {
  std::string bsdName;       // disk4, disk4s1
  bool whole = false;        // IOMedia "Whole": a whole disk, not a partition
  bool synthesized = false;  // a whole disk that lives on another disk (APFS container)
  std::string wholeDisk;     // the whole disk this media belongs to (itself when whole)
  int64_t size = 0;
  bool writable = false;
  bool removable = false;
  std::string content;       // partition type / content hint ("Apple_HFS", "Microsoft Basic Data", …)
  // From DiskArbitration (empty when not mounted / unknown).
  std::string mountPoint;
  std::string volumeName;
  std::string volumeKind;    // msdos, exfat, hfs, apfs, ntfs …
  bool readOnlyMount = false;
};

struct DarwinMassStorageInterface {
  int interfaceNumber = -1;
  int interfaceSubClass = -1;
  int interfaceProtocol = -1;
  std::string driver;        // IOService class of the interface's client; empty = none (captured)
};

struct DarwinUsbStorage {
  uint32_t locationId = 0;
  uint64_t registryId = 0;
  int vendorId = -1;
  int productId = -1;
  std::string manufacturer;
  std::string product;
  std::string serialNumber;
  // Every USB interface of the device, any class. 0 for a captured device on
  // macOS versions that tear the interfaces down with their drivers.
  int interfaceCount = 0;
  std::vector<DarwinMassStorageInterface> interfaces;
  std::vector<DarwinMedia> media;  // registry order: whole disk before its partitions
};

/**
 * Every USB device with at least one mass-storage interface, plus devices with
 * no interfaces at all (a captured device may show none; the caller matches by
 * location id and identity).
 */
bool ListUsbStorage(std::vector<DarwinUsbStorage>& out, DarwinFailure& failure);

/**
 * The IOUSBHostDevice (or legacy IOUSBDevice) at `locationId`, retained, or
 * IO_OBJECT_NULL with `failure` filled (E_DEVICE_GONE when nothing is there).
 */
io_service_t FindUsbDevice(uint32_t locationId, DarwinFailure& failure);

/** Reads one device's interfaces and media (no DiskArbitration). */
DarwinUsbStorage ReadUsbStorage(io_service_t device);

}  // namespace usbscsi::darwin
