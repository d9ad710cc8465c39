// DiskArbitration: volume descriptions, whole-disk unmount and mount, each
// with a bounded wait. Requests run on one process-wide session scheduled on
// a private serial dispatch queue (never the JS thread's run loop); callers
// are worker threads that wait on a semaphore.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "darwin_failure.h"
#include "darwin_registry.h"

namespace usbscsi::darwin {

/** Fills mountPoint / volumeName / volumeKind / readOnlyMount from DiskArbitration. */
void DescribeVolumes(std::vector<DarwinMedia>& media);

/** True when DiskArbitration knows this BSD name (it has probed the disk). */
bool DiskArbitrationKnows(const std::string& bsdName);

/**
 * DADiskUnmount(kDADiskUnmountOptionWhole) of a whole disk: every volume of
 * it, or (on refusal) none. Never forced. A disk with nothing mounted
 * (kDAReturnNotMounted) counts as success.
 */
bool UnmountWholeDisk(const std::string& bsdName, uint32_t timeoutMs, DarwinFailure& failure);

/**
 * DADiskMountWithArguments at DiskArbitration's default mount point, optionally
 * read-only; `whole` (kDADiskMountOptionWhole) mounts every volume of a whole disk.
 */
bool MountDisk(const std::string& bsdName, uint32_t timeoutMs, bool readOnly, bool whole, DarwinFailure& failure);

}  // namespace usbscsi::darwin
