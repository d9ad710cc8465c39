// An open device: the libusb handle, the operations in flight on it, and the JS
// object (DeviceHandle) that exposes it.
#pragma once

#include <libusb.h>
#include <napi.h>

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "addon.h"

namespace usbscsi {

// Something in flight on a handle that close() or an AbortSignal can cancel.
class Op {
 public:
  virtual ~Op() = default;
  virtual void Cancel() = 0;
  // Whether the operation has a transfer on this endpoint (releaseInterface cancels those first).
  virtual bool UsesEndpoint(uint8_t endpoint) const = 0;
};

struct HandleState {
  std::mutex mu;
  std::condition_variable cv;
  libusb_device_handle* handle = nullptr;  // nullptr once closed
  Addon* addon = nullptr;                  // closes the handle where the event pump allows it
  bool closed = false;                     // no new operations (set at close()/resetDevice() call)
  std::map<uint32_t, std::shared_ptr<Op>> active;  // by op id
  std::set<uint8_t> busyEndpoints;
  int undelivered = 0;     // operations whose promise is not settled yet
  int libusbInFlight = 0;  // submitted libusb transfers not yet called back
  uint32_t nextInternalId = 0x80000000u;
  // Pinned (usbfs-mapped) buffers handed to JS, by address: released explicitly or when
  // collected (pinned.cc).
  std::map<const uint8_t*, struct PinnedBuffer*> pinned;
  // Pinned buffers the engine keeps between plans for its streaming and staging slots
  // (exchange.cc), bounded against usbfs_memory_mb; unmapped at close.
  std::vector<std::pair<uint8_t*, size_t>> spare;
  size_t spareBytes = 0;
  void FreeSpareLocked(libusb_device_handle* h) {
    for (auto& s : spare) libusb_dev_mem_free(h, s.first, s.second);
    spare.clear();
    spareBytes = 0;
  }

  // A handle dropped without close() (garbage collected): operations hold this state, so
  // this runs only once nothing is in flight.
  ~HandleState() {
    if (handle == nullptr) return;
    FreeSpareLocked(handle);
    if (addon != nullptr) addon->CloseDeviceHandle(handle);
    else libusb_close(handle);
  }

  // Cancels every active operation (takes and releases `mu` itself).
  void CancelAll();
  // Waits (bounded) until every operation's promise is settled; `mu` not held.
  bool WaitDelivered(int timeoutMs);
  // Waits (bounded) until libusb has called back every transfer; `mu` not held.
  bool WaitTransfers(int timeoutMs);
};

// JS thread. Throws E_DEVICE_GONE if closed; registers an operation (counts it undelivered).
void BeginHandleOp(Napi::Env env, HandleState& state);
// JS thread, after the operation's promise settled.
void EndHandleOp(HandleState& state);

// Creates the JS handle object around an opened libusb handle (JS thread).
Napi::Object NewDeviceHandle(Napi::Env env, libusb_device_handle* handle);

void InitDeviceHandleClass(Napi::Env env, Napi::Object exports);

// exchange (exchange_js.cc): handle.exchange(block, data?) -> Promise; core encodes the block.
Napi::Value StartExchange(const Napi::CallbackInfo& info, const std::shared_ptr<HandleState>& state);

// allocTransferBuffer / releaseTransferBuffer (pinned.cc).
Napi::Value AllocTransferBuffer(const Napi::CallbackInfo& info, const std::shared_ptr<HandleState>& state);
Napi::Value ReleaseTransferBuffer(const Napi::CallbackInfo& info, const std::shared_ptr<HandleState>& state);

// Maps a libusb transfer status to core's TransferStatus number (exchange_block.h Status); -1
// for the ones that are backend failures (thrown).
int TransferStatusNumber(libusb_transfer_status status);

}  // namespace usbscsi
