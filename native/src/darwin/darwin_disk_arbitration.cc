#include "darwin_disk_arbitration.h"

#include <DiskArbitration/DiskArbitration.h>
#include <dispatch/dispatch.h>
#include <sys/mount.h>
#include <sys/param.h>

#include <atomic>
#include <mutex>

#include "darwin_cf.h"
#include "darwin_status.h"

namespace usbscsi::darwin {

namespace {

// One session for the process, scheduled on its own serial queue. It is never
// released on purpose: a callback that arrives after its caller timed out
// still needs a live session and queue to run on.
DASessionRef SharedSession() {
  static DASessionRef session = nullptr;
  static std::once_flag once;
  std::call_once(once, [] {
    session = DASessionCreate(kCFAllocatorDefault);
    if (session != nullptr) {
      dispatch_queue_t queue = dispatch_queue_create("dev.usbscsi.diskarbitration", DISPATCH_QUEUE_SERIAL);
      DASessionSetDispatchQueue(session, queue);
    }
  });
  return session;
}

// Requests are issued from several libuv worker threads; DiskArbitration's
// thread-safety is not documented, so issuing (never waiting) is serialized.
std::mutex& IssueMutex() {
  static std::mutex mutex;
  return mutex;
}

// Shared between a waiting worker and a DiskArbitration callback that may
// come after the worker gave up; whoever drops the last reference frees it.
struct PendingRequest {
  dispatch_semaphore_t done = dispatch_semaphore_create(0);
  std::atomic<int> references{2};
  bool dissented = false;
  DAReturn status = kDAReturnSuccess;
  std::string statusString;

  void Drop() {
    if (references.fetch_sub(1) == 1) {
      dispatch_release(done);
      delete this;
    }
  }
};

void OnDiskOperationDone(DADiskRef, DADissenterRef dissenter, void* context) {
  auto* request = static_cast<PendingRequest*>(context);
  if (dissenter != nullptr) {
    request->dissented = true;
    request->status = DADissenterGetStatus(dissenter);
    request->statusString = ToStdString(DADissenterGetStatusString(dissenter));
  }
  dispatch_semaphore_signal(request->done);
  request->Drop();
}

DADiskRef CopyDisk(DASessionRef session, const std::string& bsdName) {
  return DADiskCreateFromBSDName(kCFAllocatorDefault, session, bsdName.c_str());
}

bool PrepareDisk(const std::string& bsdName, const char* operation, DarwinFailure& failure, DADiskRef* disk) {
  failure.operation = operation;
  failure.bsdName = bsdName;
  DASessionRef session = SharedSession();
  if (session == nullptr) {
    failure.code = "E_IO";
    failure.message = "DASessionCreate failed: DiskArbitration is not available";
    return false;
  }
  std::lock_guard<std::mutex> lock(IssueMutex());
  *disk = CopyDisk(session, bsdName);
  if (*disk == nullptr) {
    failure.code = "E_DEVICE_GONE";
    failure.message = "DiskArbitration does not know this disk (it left, or was renamed after re-enumeration)";
    return false;
  }
  return true;
}

// Waits for the callback; fills `failure` and returns false on dissent/timeout.
bool Finish(PendingRequest* request, uint32_t timeoutMs, DarwinFailure& failure, bool notMountedIsSuccess) {
  dispatch_time_t deadline = dispatch_time(DISPATCH_TIME_NOW, static_cast<int64_t>(timeoutMs) * NSEC_PER_MSEC);
  bool signalled = dispatch_semaphore_wait(request->done, deadline) == 0;
  bool ok = false;
  if (!signalled) {
    failure.code = "E_TIMEOUT";
    failure.message = "DiskArbitration did not answer in time; the request may still complete";
  } else if (!request->dissented || (notMountedIsSuccess && request->status == kDAReturnNotMounted)) {
    ok = true;
  } else {
    SetDAReturn(failure, request->status);
    failure.hasDissenter = true;
    failure.dissenterStatus = failure.status;
    failure.dissenterStatusName = failure.statusName;
    failure.dissenterStatusString = request->statusString;
    failure.message = "DiskArbitration refused: " + failure.statusName;
  }
  request->Drop();
  return ok;
}

}  // namespace

void DescribeVolumes(std::vector<DarwinMedia>& media) {
  DASessionRef session = SharedSession();
  if (session == nullptr) return;
  std::lock_guard<std::mutex> lock(IssueMutex());
  for (DarwinMedia& item : media) {
    CFOwned<DADiskRef> disk(CopyDisk(session, item.bsdName));
    if (!disk) continue;
    CFOwned<CFDictionaryRef> description(DADiskCopyDescription(disk.get()));
    if (!description) continue;
    auto path = static_cast<CFURLRef>(CFDictionaryGetValue(description.get(), kDADiskDescriptionVolumePathKey));
    if (path != nullptr && CFGetTypeID(path) == CFURLGetTypeID()) {
      char buffer[MAXPATHLEN] = {};
      if (CFURLGetFileSystemRepresentation(path, true, reinterpret_cast<UInt8*>(buffer), sizeof buffer)) {
        item.mountPoint = buffer;
        struct statfs stats = {};
        if (statfs(buffer, &stats) == 0) item.readOnlyMount = (stats.f_flags & MNT_RDONLY) != 0;
      }
    }
    auto name = static_cast<CFStringRef>(CFDictionaryGetValue(description.get(), kDADiskDescriptionVolumeNameKey));
    if (name != nullptr && CFGetTypeID(name) == CFStringGetTypeID()) item.volumeName = ToStdString(name);
    auto kind = static_cast<CFStringRef>(CFDictionaryGetValue(description.get(), kDADiskDescriptionVolumeKindKey));
    if (kind != nullptr && CFGetTypeID(kind) == CFStringGetTypeID()) item.volumeKind = ToStdString(kind);
  }
}

bool DiskArbitrationKnows(const std::string& bsdName) {
  DASessionRef session = SharedSession();
  if (session == nullptr) return false;
  std::lock_guard<std::mutex> lock(IssueMutex());
  CFOwned<DADiskRef> disk(CopyDisk(session, bsdName));
  if (!disk) return false;
  CFOwned<CFDictionaryRef> description(DADiskCopyDescription(disk.get()));
  return static_cast<bool>(description);
}

bool UnmountWholeDisk(const std::string& bsdName, uint32_t timeoutMs, DarwinFailure& failure) {
  DADiskRef rawDisk = nullptr;
  if (!PrepareDisk(bsdName, "unmount", failure, &rawDisk)) return false;
  CFOwned<DADiskRef> disk(rawDisk);
  auto* request = new PendingRequest();
  {
    std::lock_guard<std::mutex> lock(IssueMutex());
    DADiskUnmount(disk.get(), kDADiskUnmountOptionWhole, OnDiskOperationDone, request);
  }
  return Finish(request, timeoutMs, failure, /*notMountedIsSuccess=*/true);
}

bool MountDisk(const std::string& bsdName, uint32_t timeoutMs, bool readOnly, bool whole, DarwinFailure& failure) {
  DADiskRef rawDisk = nullptr;
  if (!PrepareDisk(bsdName, "mount", failure, &rawDisk)) return false;
  CFOwned<DADiskRef> disk(rawDisk);
  auto* request = new PendingRequest();
  // Arguments are mount(8) -o options, NULL-terminated.
  CFStringRef readOnlyArguments[] = {CFSTR("rdonly"), nullptr};
  {
    std::lock_guard<std::mutex> lock(IssueMutex());
    DADiskMountWithArguments(disk.get(), nullptr, whole ? kDADiskMountOptionWhole : kDADiskMountOptionDefault,
                             OnDiskOperationDone, request, readOnly ? readOnlyArguments : nullptr);
  }
  return Finish(request, timeoutMs, failure, /*notMountedIsSuccess=*/false);
}

}  // namespace usbscsi::darwin
