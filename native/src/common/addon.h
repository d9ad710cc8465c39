// Per-environment state of the addon: one libusb context, whose events are handled on the JS
// thread by an EventPump, one thread-safe function that carries completions from any other
// thread (a pool thread's synchronous libusb call, the disk side of fd streaming) back to JS,
// and the small thread pool that does that disk side.
#pragma once

#include <libusb.h>
#include <napi.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "errors.h"
#include "event_pump.h"
#include "io_pool.h"

namespace usbscsi {

struct HandleState;

// A finished asynchronous operation, built off the JS thread and settled on it.
class Completion {
 public:
  explicit Completion(Napi::Env env) : deferred_(Napi::Promise::Deferred::New(env)) {}
  virtual ~Completion() = default;
  Napi::Promise Promise() const { return deferred_.Promise(); }
  // Runs on the JS thread: resolve or reject.
  virtual void Settle(Napi::Env env) = 0;
  // The environment is being torn down: drop JS references without touching the env.
  virtual void Abandon() {}
  // Set when the operation belongs to a device handle (close() waits for its delivery).
  std::shared_ptr<HandleState> owner;

 protected:
  Napi::Promise::Deferred deferred_;
};

class Addon;
void DeliverCompletion(Napi::Env env, Napi::Function, Addon* addon, Completion* completion);
using CompletionTsfn = Napi::TypedThreadSafeFunction<Addon, Completion, DeliverCompletion>;

class Addon {
 public:
  explicit Addon(Napi::Env env);
  ~Addon();
  static Addon* Get(Napi::Env env) { return env.GetInstanceData<Addon>(); }

  // JS thread: initialises libusb and starts event handling on first use; a failure is kept
  // for ContextOrError. Context() throws it as a typed error.
  void EnsureContext(Napi::Env env);
  libusb_context* Context(Napi::Env env);
  // Any thread, after Context() ran on the JS thread: nullptr and `error` if libusb failed.
  libusb_context* ContextOrError(NativeError& error);
  // Any thread: libusb could not start because this machine has no USB at all (Linux: neither
  // /sys/bus/usb nor /dev/bus/usb, as in a container). A libusb built without udev fails its
  // init there; one with udev starts and finds nothing. Both mean: no devices.
  bool NoUsbOnThisMachine() const { return noUsb_.load(); }
  // JS thread: a device was opened; start polling its fd.
  void DeviceOpened();
  // Any thread: libusb_close, on the JS thread when the pump polls the fd.
  void CloseDeviceHandle(libusb_device_handle* handle);
  // Held around a libusb_open..libusb_close that is not a DeviceHandle (string descriptors).
  std::mutex& TransientOpenMutex();

  // JS thread: an operation that will finish through Post() begins (keeps the loop alive).
  void BeginPending(Napi::Env env);
  // JS thread, in the JS call that submitted transfers: reap and settle what already came back.
  void ReapNow();
  // Any thread: deliver. Takes ownership.
  void Post(Completion* completion);
  // JS thread, from DeliverCompletion.
  void EndPending(Napi::Env env);
  // JS thread: operations begun and not yet settled.
  int PendingCount() const { return pending_; }

  void TrackHandle(const std::shared_ptr<HandleState>& handle);
  // Any thread: the pool for fd streaming's pread/pwrite (joined at teardown).
  IoPool& Io() { return io_; }

  Napi::FunctionReference handleConstructor;

 private:
  void Teardown();
  static void AsyncCleanup(napi_async_cleanup_hook_handle handle, void* arg);

  napi_env env_;
  // Set once on the JS thread, cleared at teardown; read from any thread (Post, handle closes).
  // The pump deletes itself once its libuv handles are closed.
  std::atomic<EventPump*> pump_{nullptr};
  std::mutex transientMu_;  // outlives the pump: a pool thread may hold it during teardown
  std::atomic<bool> tearingDown_{false};
  bool tornDown_ = false;
  napi_async_cleanup_hook_handle cleanupHook_ = nullptr;
  std::mutex mu_;
  libusb_context* ctx_ = nullptr;
  int initError_ = 0;
  std::atomic<bool> noUsb_{false};
  CompletionTsfn tsfn_;
  int pending_ = 0;
  std::vector<std::weak_ptr<HandleState>> handles_;
  IoPool io_{2};
};

}  // namespace usbscsi
