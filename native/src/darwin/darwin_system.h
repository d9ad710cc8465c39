// Process identity (for the lease journal) and flushing volumes before unmount.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace usbscsi::darwin {

/** kinfo_proc p_starttime as "<sec>.<usec>", or nullopt when no such process. */
std::optional<std::string> ProcessStartTime(int pid);

/**
 * F_FULLFSYNC on each mount point (falls back to fsync), after sync(2).
 * Returns the mount points that could not be flushed.
 */
std::vector<std::string> SyncMountPoints(const std::vector<std::string>& mountPoints);

}  // namespace usbscsi::darwin
