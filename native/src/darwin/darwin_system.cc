#include "darwin_system.h"

#include <fcntl.h>
#include <sys/sysctl.h>
#include <unistd.h>

namespace usbscsi::darwin {

std::optional<std::string> ProcessStartTime(int pid) {
  if (pid <= 0) return std::nullopt;
  int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PID, pid};
  struct kinfo_proc info = {};
  size_t size = sizeof info;
  if (sysctl(mib, 4, &info, &size, nullptr, 0) != 0 || size == 0) return std::nullopt;
  const struct timeval& start = info.kp_proc.p_starttime;
  return std::to_string(start.tv_sec) + "." + std::to_string(start.tv_usec);
}

std::vector<std::string> SyncMountPoints(const std::vector<std::string>& mountPoints) {
  sync();
  std::vector<std::string> failed;
  for (const std::string& path : mountPoints) {
    int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) {
      failed.push_back(path);
      continue;
    }
    // F_FULLFSYNC asks the drive to flush its cache too; not every filesystem has it.
    if (fcntl(fd, F_FULLFSYNC) != 0 && fsync(fd) != 0) failed.push_back(path);
    close(fd);
  }
  return failed;
}

}  // namespace usbscsi::darwin
