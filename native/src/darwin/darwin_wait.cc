#include "darwin_wait.h"

#include <chrono>
#include <thread>

#include "darwin_cf.h"
#include "darwin_disk_arbitration.h"

namespace usbscsi::darwin {

namespace {

bool Satisfies(const DarwinUsbStorage& storage, const StorageExpectation& expected) {
  if (storage.interfaces.empty()) return false;
  for (const DarwinMassStorageInterface& interface : storage.interfaces) {
    if (interface.driver.empty()) return false;
  }
  uint32_t whole = 0;
  uint32_t partitions = 0;
  for (const DarwinMedia& media : storage.media) {
    if (!DiskArbitrationKnows(media.bsdName)) return false;
    (media.whole ? whole : partitions) += 1;
  }
  return whole >= expected.wholeDisks && partitions >= expected.partitions;
}

}  // namespace

bool WaitForStorage(const StorageExpectation& expected, DarwinUsbStorage& out, DarwinFailure& failure) {
  failure.operation = "wait";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(expected.timeoutMs);
  auto poll = std::chrono::milliseconds(expected.pollMs == 0 ? 100 : expected.pollMs);
  bool seen = false;
  for (;;) {
    DarwinFailure lookup;
    IOOwned service(FindUsbDevice(expected.locationId, lookup));
    if (service.get() != IO_OBJECT_NULL) {
      seen = true;
      out = ReadUsbStorage(service.get());
      if (Satisfies(out, expected)) {
        DescribeVolumes(out.media);
        return true;
      }
    }
    if (std::chrono::steady_clock::now() + poll > deadline) break;
    std::this_thread::sleep_for(poll);
  }
  failure.code = "E_TIMEOUT";
  failure.hasLocationId = true;
  failure.locationId = expected.locationId;
  failure.message = seen ? "the device is back but its disks are not (yet) all there"
                         : "the device did not reappear at its location id";
  return false;
}

}  // namespace usbscsi::darwin
