#include "addon.h"

#include <chrono>
#include <cstdlib>
#ifdef __linux__
#include <unistd.h>
#endif

#include "handle.h"
#include "platform.h"

namespace usbscsi {

Napi::Value ListDevices(const Napi::CallbackInfo& info);  // devices.cc
Napi::Value OpenDevice(const Napi::CallbackInfo& info);   // devices.cc

Addon::Addon(Napi::Env env) : env_(env) {
  tsfn_ = CompletionTsfn::New(env, "usbscsi-completions", 0, 1, this);
  tsfn_.Unref(env);  // only pending operations keep the process alive
  // The pump's libuv handles must be closed while the loop still runs (worker threads): an
  // async cleanup hook does that at environment teardown, before the instance data goes.
  napi_add_async_cleanup_hook(env, &Addon::AsyncCleanup, this, &cleanupHook_);
}

Addon::~Addon() { Teardown(); }

void Addon::AsyncCleanup(napi_async_cleanup_hook_handle, void* arg) {
  static_cast<Addon*>(arg)->Teardown();  // the hook is removed once libuv released the pump's handles
}

libusb_context* Addon::ContextOrError(NativeError& error) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ctx_ == nullptr) {
    error = initError_ != 0 ? FromLibusb(initError_, "initialise libusb")
                            : MakeError("E_IO", "libusb was not initialised on the JS thread first (internal error)");
  }
  return ctx_;
}

void Addon::EnsureContext(Napi::Env env) {
  bool started = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ctx_ == nullptr && initError_ == 0) {
      libusb_context* ctx = nullptr;
      const int rc = libusb_init(&ctx);
      if (rc < 0) {
        initError_ = rc;
#ifdef __linux__
        noUsb_.store(access("/sys/bus/usb", F_OK) != 0 && access("/dev/bus/usb", F_OK) != 0);
#endif
      } else {
        ctx_ = ctx;
        started = true;
      }
    }
  }
  if (started) {
    pump_.store(new EventPump(env, ctx_, transientMu_, [this](Completion* c) {
      DeliverCompletion(Napi::Env(env_), Napi::Function(), this, c);
    }));
  }
}

libusb_context* Addon::Context(Napi::Env env) {
  EnsureContext(env);
  NativeError error;
  libusb_context* ctx = ContextOrError(error);
  if (ctx == nullptr) ThrowNative(env, error);
  return ctx;
}

void Addon::DeviceOpened() {
  if (EventPump* pump = pump_.load()) pump->Sync();
}

void Addon::CloseDeviceHandle(libusb_device_handle* handle) {
  if (EventPump* pump = pump_.load()) pump->CloseDeviceHandle(handle);
  else libusb_close(handle);
}

std::mutex& Addon::TransientOpenMutex() { return transientMu_; }

void Addon::BeginPending(Napi::Env env) {
  if (pending_++ == 0) tsfn_.Ref(env);
}

void Addon::EndPending(Napi::Env env) {
  if (--pending_ == 0) tsfn_.Unref(env);
}

void Addon::ReapNow() {
  if (EventPump* pump = pump_.load()) pump->PassNow();
}

void Addon::Post(Completion* completion) {
  if (tearingDown_.load()) {
    completion->Abandon();  // environment closing: the promise can no longer be settled
    return;
  }
  // Reaped by the pump on the JS thread: settled as soon as the pass releases the events lock.
  EventPump* pump = pump_.load();
  if (pump != nullptr && pump->TakeCompletion(completion)) return;
  if (tsfn_.NonBlockingCall(completion) != napi_ok) completion->Abandon();
}

void Addon::TrackHandle(const std::shared_ptr<HandleState>& handle) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::weak_ptr<HandleState>> live;
  for (auto& weak : handles_)
    if (!weak.expired()) live.push_back(weak);
  live.push_back(handle);
  handles_.swap(live);
}

// Environment teardown (process exit, worker exit), on the JS thread: cancel and reap every
// transfer on this thread, let the I/O pool finish (cancelled plans skip their disk work) and
// join it, close the handles, then free libusb. Runs once, from the async cleanup hook or the destructor.
void Addon::Teardown() {
  if (tornDown_) return;
  tornDown_ = true;
  tearingDown_.store(true);
  // First stop polling (libuv lets go of libusb's fds before any of them closes); libuv frees
  // the handles on a later turn of the loop, which ends the async cleanup hook.
  napi_async_cleanup_hook_handle hook = cleanupHook_;
  cleanupHook_ = nullptr;
  if (EventPump* pump = pump_.exchange(nullptr)) {
    pump->Shutdown([hook] {
      if (hook != nullptr) napi_remove_async_cleanup_hook(hook);
    });
  } else if (hook != nullptr) {
    napi_remove_async_cleanup_hook(hook);
  }
  std::vector<std::shared_ptr<HandleState>> live;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& weak : handles_)
      if (auto h = weak.lock()) live.push_back(h);
    handles_.clear();
  }
  for (auto& h : live) h->CancelAll();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(2000);
  for (auto& h : live) {
    if (ctx_ == nullptr) {
      h->WaitTransfers(2000);
      continue;
    }
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(h->mu);
        if (h->libusbInFlight == 0) break;
      }
      if (std::chrono::steady_clock::now() >= deadline) break;
      timeval tv{0, 50000};
      libusb_handle_events_timeout_completed(ctx_, &tv, nullptr);
    }
  }
  io_.Stop();
  for (auto& h : live) {
    libusb_device_handle* handle = nullptr;
    {
      std::lock_guard<std::mutex> lock(h->mu);
      h->closed = true;
      if (h->libusbInFlight == 0) handle = h->handle;
      h->handle = nullptr;  // a transfer that never came back: leak the handle rather than free under it
    }
    if (handle != nullptr) libusb_close(handle);  // nothing polls its fd any more
  }
  if (ctx_ != nullptr) {
    libusb_exit(ctx_);
    ctx_ = nullptr;
  }
}

void DeliverCompletion(Napi::Env env, Napi::Function, Addon* addon, Completion* completion) {
  if (env == nullptr) {  // teardown: nobody to settle for
    completion->Abandon();
    return;
  }
  try {
    completion->Settle(env);
  } catch (const Napi::Error&) {
    // Settle only builds plain objects; nothing useful to do if the VM refuses.
  }
  if (completion->owner) EndHandleOp(*completion->owner);
  addon->EndPending(env);
  delete completion;
}

namespace {

Napi::Value LibusbVersion(const Napi::CallbackInfo& info) {
  const libusb_version* v = libusb_get_version();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("major", v->major);
  out.Set("minor", v->minor);
  out.Set("micro", v->micro);
  out.Set("nano", v->nano);
  out.Set("text", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->micro));
  return out;
}

// For tests and diagnostics: the error a libusb code maps to.
Napi::Value MapLibusbError(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) ThrowBadInput(env, "code must be a number");
  const int code = info[0].As<Napi::Number>().Int32Value();
  const std::string what = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : std::string("operation");
  return ToJsError(env, FromLibusb(code, what)).Value();
}

Napi::Value TransferMemoryLimit(const Napi::CallbackInfo& info) {
  std::string source;
  const uint64_t limit = PlatformTransferMemoryLimit(source);
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("bytes", Napi::Number::New(info.Env(), static_cast<double>(limit)));
  out.Set("source", source);
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new Addon(env));
  exports.Set("list", Napi::Function::New(env, ListDevices, "list"));
  exports.Set("open", Napi::Function::New(env, OpenDevice, "open"));
  exports.Set("libusbVersion", Napi::Function::New(env, LibusbVersion, "libusbVersion"));
  exports.Set("mapLibusbError", Napi::Function::New(env, MapLibusbError, "mapLibusbError"));
  exports.Set("transferMemoryLimit", Napi::Function::New(env, TransferMemoryLimit, "transferMemoryLimit"));
  exports.Set("platform", Napi::String::New(env, PlatformName()));
  InitDeviceHandleClass(env, exports);
  InitPlatform(env, exports);
  return exports;
}

}  // namespace
}  // namespace usbscsi

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return usbscsi::Init(env, exports); }
NODE_API_MODULE(usbscsi_native, InitModule)
