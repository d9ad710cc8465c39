// Bounded wait, after a release, for the device's storage to come back: the
// device at the same location id, a driver on its mass-storage interfaces,
// enough whole disks and partitions, all of them known to DiskArbitration.
// Polls the registry (a few ms per round) instead of registering
// IOServiceAddMatchingNotification on a run loop: simpler to bound and to
// give up on, and the lease calls it in short slices so it can also abort.
#pragma once

#include <cstdint>

#include "darwin_failure.h"
#include "darwin_registry.h"

namespace usbscsi::darwin {

struct StorageExpectation {
  uint32_t locationId = 0;
  uint32_t wholeDisks = 0;
  uint32_t partitions = 0;
  uint32_t timeoutMs = 0;
  uint32_t pollMs = 100;
};

bool WaitForStorage(const StorageExpectation& expected, DarwinUsbStorage& out, DarwinFailure& failure);

}  // namespace usbscsi::darwin
