// DeviceHandle: claim/release/alt/kernel-driver/clear-halt/reset/close on a pool
// thread; control and bulk transfers asynchronous, completed by the event pump on the JS thread.
#include "handle.h"

#include <chrono>
#include <cstring>
#include <vector>

#include "args.h"
#include "exchange_block.h"
#include "worker.h"

namespace usbscsi {

void HandleState::CancelAll() {
  std::vector<std::shared_ptr<Op>> ops;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (auto& entry : active) ops.push_back(entry.second);
  }
  for (auto& op : ops) op->Cancel();
}

bool HandleState::WaitDelivered(int timeoutMs) {
  std::unique_lock<std::mutex> lock(mu);
  return cv.wait_for(lock, std::chrono::milliseconds(timeoutMs), [this] { return undelivered == 0; });
}

bool HandleState::WaitTransfers(int timeoutMs) {
  std::unique_lock<std::mutex> lock(mu);
  return cv.wait_for(lock, std::chrono::milliseconds(timeoutMs), [this] { return libusbInFlight == 0; });
}

void BeginHandleOp(Napi::Env env, HandleState& state) {
  std::lock_guard<std::mutex> lock(state.mu);
  if (state.closed || state.handle == nullptr) {
    ThrowNative(env, MakeError("E_DEVICE_GONE", "the device handle is closed (or was reset): open the device again"));
  }
  ++state.undelivered;
}

void EndHandleOp(HandleState& state) {
  std::lock_guard<std::mutex> lock(state.mu);
  --state.undelivered;
  state.cv.notify_all();
}

int TransferStatusNumber(libusb_transfer_status status) {
  switch (status) {
    case LIBUSB_TRANSFER_COMPLETED: return block::kOk;
    case LIBUSB_TRANSFER_STALL: return block::kStall;
    case LIBUSB_TRANSFER_TIMED_OUT: return block::kTimeout;
    case LIBUSB_TRANSFER_OVERFLOW: return block::kOverflow;
    case LIBUSB_TRANSFER_CANCELLED: return block::kCancelled;
    default: return -1;  // ERROR, NO_DEVICE: backend failures, thrown
  }
}

namespace {

// ---- one asynchronous transfer (control or bulk) ----

struct TransferCompletion : Completion {
  using Completion::Completion;
  libusb_transfer_status status = LIBUSB_TRANSFER_ERROR;
  int actualLength = 0;
  bool wantData = false;  // control IN: return the bytes
  std::vector<uint8_t> data;
  std::string what;
  Napi::Reference<Napi::Value> bufferRef;  // keeps the caller's buffer alive (zero copy)

  NativeError submitError;  // set when libusb refused the submission

  void Settle(Napi::Env env) override {
    bufferRef.Reset();
    if (!submitError.empty()) {
      deferred_.Reject(ToJsError(env, submitError).Value());
      return;
    }
    if (status == LIBUSB_TRANSFER_NO_DEVICE) {
      deferred_.Reject(ToJsError(env, FromLibusb(LIBUSB_ERROR_NO_DEVICE, what)).Value());
      return;
    }
    const int number = TransferStatusNumber(status);
    if (number < 0) {
      deferred_.Reject(ToJsError(env, FromLibusb(LIBUSB_ERROR_IO, what)).Value());
      return;
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("status", number);
    out.Set("actualLength", actualLength);
    if (wantData) out.Set("data", Napi::Buffer<uint8_t>::Copy(env, data.data(), data.size()));
    deferred_.Resolve(out);
  }
  void Abandon() override { bufferRef.SuppressDestruct(); }
};

class TransferOp : public Op {
 public:
  uint32_t id = 0;
  int endpoint = -1;  // busy endpoint to free, -1 for control
  bool isControl = false;
  Addon* addon = nullptr;
  std::shared_ptr<HandleState> state;
  std::shared_ptr<TransferOp> self;  // alive until the callback
  TransferCompletion* completion = nullptr;
  std::mutex mu;
  libusb_transfer* transfer = nullptr;

  void Cancel() override {
    std::lock_guard<std::mutex> lock(mu);
    if (transfer != nullptr) libusb_cancel_transfer(transfer);
  }
  bool UsesEndpoint(uint8_t ep) const override { return endpoint == ep; }

  static void LIBUSB_CALL OnDone(libusb_transfer* t) {
    auto* op = static_cast<TransferOp*>(t->user_data);
    std::shared_ptr<TransferOp> keep = std::move(op->self);
    TransferCompletion* c = op->completion;
    c->status = t->status;
    c->actualLength = t->actual_length;
    if (c->wantData && t->actual_length > 0) {
      const uint8_t* bytes = libusb_control_transfer_get_data(t);
      c->data.assign(bytes, bytes + t->actual_length);
    }
    {
      std::lock_guard<std::mutex> lock(op->mu);
      op->transfer = nullptr;
    }
    {
      std::lock_guard<std::mutex> lock(op->state->mu);
      op->state->active.erase(op->id);
      if (op->endpoint >= 0) op->state->busyEndpoints.erase(static_cast<uint8_t>(op->endpoint));
      --op->state->libusbInFlight;
      op->state->cv.notify_all();
    }
    libusb_free_transfer(t);  // control: LIBUSB_TRANSFER_FREE_BUFFER frees our setup+data buffer
    op->addon->Post(c);
  }
};

class DeviceHandle : public Napi::ObjectWrap<DeviceHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "DeviceHandle",
                       {
                           InstanceMethod<&DeviceHandle::Claim>("claimInterface"),
                           InstanceMethod<&DeviceHandle::Release>("releaseInterface"),
                           InstanceMethod<&DeviceHandle::SetAlt>("setAlternateSetting"),
                           InstanceMethod<&DeviceHandle::DriverActive>("kernelDriverActive"),
                           InstanceMethod<&DeviceHandle::Detach>("detachKernelDriver"),
                           InstanceMethod<&DeviceHandle::Attach>("attachKernelDriver"),
                           InstanceMethod<&DeviceHandle::ClearHalt>("clearHalt"),
                           InstanceMethod<&DeviceHandle::Control>("controlTransfer"),
                           InstanceMethod<&DeviceHandle::Bulk>("bulkTransfer"),
                           InstanceMethod<&DeviceHandle::Exchange>("exchange"),
                           InstanceMethod<&DeviceHandle::AllocPinned>("allocTransferBuffer"),
                           InstanceMethod<&DeviceHandle::ReleasePinned>("releaseTransferBuffer"),
                           InstanceMethod<&DeviceHandle::CancelOp>("cancel"),
                           InstanceMethod<&DeviceHandle::AllocStreams>("allocStreams"),
                           InstanceMethod<&DeviceHandle::FreeStreams>("freeStreams"),
                           InstanceMethod<&DeviceHandle::Reset>("resetDevice"),
                           InstanceMethod<&DeviceHandle::Close>("close"),
                           InstanceAccessor<&DeviceHandle::IsClosed>("closed"),
                       });
  }

  explicit DeviceHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceHandle>(info) {
    if (info.Length() != 1 || !info[0].IsExternal()) {
      ThrowBadInput(info.Env(), "DeviceHandle cannot be constructed directly: use open()");
    }
    state_ = std::make_shared<HandleState>();
    state_->handle = info[0].As<Napi::External<libusb_device_handle>>().Data();
    Addon* addon = Addon::Get(info.Env());
    state_->addon = addon;
    addon->TrackHandle(state_);
    addon->DeviceOpened();  // the pump starts polling the handle's fd
  }

 private:
  using Call = std::function<int(libusb_device_handle*)>;

  // Runs `call` on a pool thread against the open handle.
  Napi::Value Blocking(Napi::Env env, const char* name, const std::string& what, Call call,
                       std::function<Napi::Value(Napi::Env)> resolve = nullptr,
                       std::function<int(int)> tolerate = nullptr) {
    BeginHandleOp(env, *state_);
    auto state = state_;
    auto* worker = new PromiseWorker(
        env, name,
        [state, what, call, tolerate]() -> NativeError {
          libusb_device_handle* h;
          {
            std::lock_guard<std::mutex> lock(state->mu);
            h = state->handle;
          }
          if (h == nullptr) return MakeError("E_DEVICE_GONE", what + ": the device handle is closed");
          int rc = call(h);
          if (tolerate) rc = tolerate(rc);
          return rc < 0 ? FromLibusb(rc, what) : NativeError{};
        },
        std::move(resolve), state_);
    return worker->Queue();
  }

  Napi::Value Claim(const Napi::CallbackInfo& info) {
    const int n = static_cast<int>(U32(info.Env(), info[0], "interfaceNumber", 0, 255));
    return Blocking(info.Env(), "usbscsi.claim", "claim interface " + std::to_string(n),
                    [n](libusb_device_handle* h) { return libusb_claim_interface(h, n); });
  }

  // The endpoints of every alternate setting of interface `n` (active configuration); empty if
  // the descriptor cannot be read.
  std::set<uint8_t> InterfaceEndpoints(int n) {
    std::set<uint8_t> eps;
    libusb_device_handle* h;
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      h = state_->handle;
    }
    libusb_config_descriptor* cfg = nullptr;
    if (h == nullptr || libusb_get_active_config_descriptor(libusb_get_device(h), &cfg) != LIBUSB_SUCCESS) return eps;
    for (int i = 0; i < cfg->bNumInterfaces; ++i) {
      for (int a = 0; a < cfg->interface[i].num_altsetting; ++a) {
        const libusb_interface_descriptor& alt = cfg->interface[i].altsetting[a];
        if (alt.bInterfaceNumber != n) continue;
        for (int e = 0; e < alt.bNumEndpoints; ++e) eps.insert(alt.endpoint[e].bEndpointAddress);
      }
    }
    libusb_free_config_descriptor(cfg);
    return eps;
  }

  Napi::Value Release(const Napi::CallbackInfo& info) {
    const int n = static_cast<int>(U32(info.Env(), info[0], "interfaceNumber", 0, 255));
    // Releasing makes the kernel kill the interface's URBs, which libusb then reports as
    // NO_DEVICE: cancel them ourselves first so that they settle as `cancelled`.
    const std::set<uint8_t> eps = InterfaceEndpoints(n);
    std::vector<std::shared_ptr<Op>> ops;
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      for (auto& entry : state_->active)
        for (uint8_t ep : eps)
          if (entry.second->UsesEndpoint(ep)) {
            ops.push_back(entry.second);
            break;
          }
    }
    for (auto& op : ops) op->Cancel();
    return Blocking(info.Env(), "usbscsi.release", "release interface " + std::to_string(n),
                    [n](libusb_device_handle* h) { return libusb_release_interface(h, n); });
  }

  Napi::Value SetAlt(const Napi::CallbackInfo& info) {
    const int n = static_cast<int>(U32(info.Env(), info[0], "interfaceNumber", 0, 255));
    const int alt = static_cast<int>(U32(info.Env(), info[1], "alternateSetting", 0, 255));
    return Blocking(info.Env(), "usbscsi.setAlt",
                    "set interface " + std::to_string(n) + " alternate setting " + std::to_string(alt),
                    [n, alt](libusb_device_handle* h) { return libusb_set_interface_alt_setting(h, n, alt); });
  }

  Napi::Value DriverActive(const Napi::CallbackInfo& info) {
    const int n = static_cast<int>(U32(info.Env(), info[0], "interfaceNumber", 0, 255));
    auto result = std::make_shared<int>(0);
    return Blocking(
        info.Env(), "usbscsi.driverActive", "query the kernel driver of interface " + std::to_string(n),
        [n, result](libusb_device_handle* h) { return *result = libusb_kernel_driver_active(h, n); },
        [result](Napi::Env env) -> Napi::Value { return Napi::Boolean::New(env, *result == 1); });
  }

  Napi::Value Detach(const Napi::CallbackInfo& info) {
    const int n = static_cast<int>(U32(info.Env(), info[0], "interfaceNumber", 0, 255));
    // NOT_FOUND = no driver bound: already what the caller wants.
    return Blocking(info.Env(), "usbscsi.detach", "detach the kernel driver of interface " + std::to_string(n),
                    [n](libusb_device_handle* h) { return libusb_detach_kernel_driver(h, n); }, nullptr,
                    [](int rc) { return rc == LIBUSB_ERROR_NOT_FOUND ? 0 : rc; });
  }

  Napi::Value Attach(const Napi::CallbackInfo& info) {
    const int n = static_cast<int>(U32(info.Env(), info[0], "interfaceNumber", 0, 255));
    return Blocking(info.Env(), "usbscsi.attach", "re-attach the kernel driver of interface " + std::to_string(n),
                    [n](libusb_device_handle* h) { return libusb_attach_kernel_driver(h, n); });
  }

  Napi::Value ClearHalt(const Napi::CallbackInfo& info) {
    const uint8_t ep = Endpoint(info.Env(), info[0], "endpoint", -1);
    return Blocking(info.Env(), "usbscsi.clearHalt", "clear halt on endpoint " + std::to_string(ep),
                    [ep](libusb_device_handle* h) { return libusb_clear_halt(h, ep); });
  }

  // Shared by close() and resetDevice(): refuse new work, cancel, wait for every promise,
  // then (optionally reset and) close.
  Napi::Value Shutdown(Napi::Env env, bool reset) {
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      if (state_->closed) {
        if (!reset) {
          auto d = Napi::Promise::Deferred::New(env);
          d.Resolve(env.Undefined());
          return d.Promise();
        }
        ThrowNative(env,
                    MakeError("E_DEVICE_GONE", "the device handle is closed (or was reset): open the device again"));
      }
      state_->closed = true;
    }
    auto state = state_;
    auto toClose = std::make_shared<libusb_device_handle*>(nullptr);
    const char* resourceName = reset ? "usbscsi.reset" : "usbscsi.close";
    auto* worker = new PromiseWorker(env, resourceName, [state, reset, toClose]() -> NativeError {
      state->CancelAll();
      state->WaitDelivered(15000);
      libusb_device_handle* h;
      {
        std::lock_guard<std::mutex> lock(state->mu);
        if (state->libusbInFlight != 0) {
          return MakeError("E_IO", "close: transfers did not finish after cancellation; the handle is leaked");
        }
        h = state->handle;
        if (h != nullptr) state->FreeSpareLocked(h);
        state->handle = nullptr;
      }
      if (h == nullptr) return {};
      *toClose = h;
      const int rc = reset ? libusb_reset_device(h) : 0;
      // NOT_FOUND: the device re-enumerated as a new device, which is what a reset may do.
      if (rc < 0 && rc != LIBUSB_ERROR_NOT_FOUND) return FromLibusb(rc, "reset the USB port");
      return {};
    });
    Addon* addon = Addon::Get(env);
    worker->After([addon, toClose] {
      if (*toClose != nullptr) addon->CloseDeviceHandle(*toClose);
    });
    return worker->Queue();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) { return Shutdown(info.Env(), false); }
  Napi::Value Reset(const Napi::CallbackInfo& info) { return Shutdown(info.Env(), true); }

  // Bulk streams (USB 3, UAS): libusb_alloc_streams / libusb_free_streams on a pool thread (an
  // ioctl). A host controller or endpoint without streams answers INVALID_PARAM: E_BAD_INPUT.
  static std::vector<uint8_t> Endpoints(Napi::Env env, const Napi::Value& v) {
    if (!v.IsArray()) ThrowBadInput(env, "endpoints must be an array of endpoint addresses");
    Napi::Array arr = v.As<Napi::Array>();
    if (arr.Length() < 1 || arr.Length() > 30) ThrowBadInput(env, "endpoints must list 1 to 30 endpoint addresses");
    std::vector<uint8_t> eps;
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      eps.push_back(Endpoint(env, arr.Get(i), "endpoints[" + std::to_string(i) + "]", -1));
    }
    return eps;
  }

  Napi::Value AllocStreams(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const uint32_t count = U32(env, info[0], "count", 1, 65533);
    std::vector<uint8_t> eps = Endpoints(env, info[1]);
    auto allocated = std::make_shared<int>(0);
    return Blocking(
        env, "usbscsi.allocStreams", "allocate " + std::to_string(count) + " bulk streams",
        [count, eps, allocated](libusb_device_handle* h) mutable {
          const int rc = libusb_alloc_streams(h, count, eps.data(), static_cast<int>(eps.size()));
          if (rc > 0) *allocated = rc;
          return rc;
        },
        [allocated](Napi::Env e) -> Napi::Value { return Napi::Number::New(e, *allocated); });
  }

  Napi::Value FreeStreams(const Napi::CallbackInfo& info) {
    std::vector<uint8_t> eps = Endpoints(info.Env(), info[0]);
    return Blocking(info.Env(), "usbscsi.freeStreams", "free bulk streams", [eps](libusb_device_handle* h) mutable {
      return libusb_free_streams(h, eps.data(), static_cast<int>(eps.size()));
    });
  }

  Napi::Value IsClosed(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lock(state_->mu);
    return Napi::Boolean::New(info.Env(), state_->closed);
  }

  Napi::Value CancelOp(const Napi::CallbackInfo& info) {
    const uint32_t id = U32(info.Env(), info[0], "opId", 1, 0x7fffffff);
    std::shared_ptr<Op> op;
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      auto it = state_->active.find(id);
      if (it != state_->active.end()) op = it->second;
    }
    if (op) op->Cancel();
    return Napi::Boolean::New(info.Env(), static_cast<bool>(op));
  }

  Napi::Value Exchange(const Napi::CallbackInfo& info) { return StartExchange(info, state_); }
  Napi::Value AllocPinned(const Napi::CallbackInfo& info) { return AllocTransferBuffer(info, state_); }
  Napi::Value ReleasePinned(const Napi::CallbackInfo& info) { return ReleaseTransferBuffer(info, state_); }

  // Registers and submits; on submit failure the promise rejects with the mapped error.
  Napi::Value Submit(Napi::Env env, const std::shared_ptr<TransferOp>& op, libusb_transfer* t, uint32_t opId) {
    op->addon = Addon::Get(env);
    op->state = state_;
    op->transfer = t;
    op->self = op;
    Napi::Promise promise = op->completion->Promise();
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      op->id = opId ? opId : state_->nextInternalId++;
      state_->active[op->id] = op;
      if (op->endpoint >= 0) state_->busyEndpoints.insert(static_cast<uint8_t>(op->endpoint));
      ++state_->libusbInFlight;
    }
    op->addon->BeginPending(env);
    const int rc = libusb_submit_transfer(t);
    if (rc < 0) {
      {
        std::lock_guard<std::mutex> lock(state_->mu);
        state_->active.erase(op->id);
        if (op->endpoint >= 0) state_->busyEndpoints.erase(static_cast<uint8_t>(op->endpoint));
        --state_->libusbInFlight;
      }
      op->self.reset();
      libusb_free_transfer(t);
      TransferCompletion* c = op->completion;
      c->submitError = FromLibusb(rc, "submit " + c->what);
      c->Settle(env);
      delete c;
      EndHandleOp(*state_);
      op->addon->EndPending(env);
    }
    return promise;
  }

  // controlTransfer(requestType, request, value, index, dataOrLength, timeoutMs, opId?)
  Napi::Value Control(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const uint8_t requestType = static_cast<uint8_t>(U32(env, info[0], "requestType", 0, 255));
    const uint8_t request = static_cast<uint8_t>(U32(env, info[1], "request", 0, 255));
    const uint16_t value = static_cast<uint16_t>(U32(env, info[2], "value", 0, 0xffff));
    const uint16_t index = static_cast<uint16_t>(U32(env, info[3], "index", 0, 0xffff));
    const bool in = (requestType & 0x80) != 0;
    uint16_t length;
    const uint8_t* outData = nullptr;
    if (in) {
      length = static_cast<uint16_t>(U32(env, info[4], "length", 0, 0xffff));
    } else {
      if (info[4].IsNumber()) {
        ThrowBadInput(env, "an OUT control transfer (requestType bit 7 clear) takes the bytes to send, not a length");
      }
      Napi::Uint8Array data = Bytes(env, info[4], "data");
      if (data.ByteLength() > 0xffff) ThrowBadInput(env, "control data must be at most 65535 bytes");
      length = static_cast<uint16_t>(data.ByteLength());
      outData = data.Data();
    }
    const uint32_t timeout = TimeoutMs(env, info[5]);
    const uint32_t opId = info[6].IsUndefined() ? 0 : U32(env, info[6], "opId", 1, 0x7fffffff);
    BeginHandleOp(env, *state_);
    auto* buffer = static_cast<unsigned char*>(std::malloc(LIBUSB_CONTROL_SETUP_SIZE + length));
    libusb_transfer* t = libusb_alloc_transfer(0);
    if (buffer == nullptr || t == nullptr) {
      std::free(buffer);
      if (t) libusb_free_transfer(t);
      EndHandleOp(*state_);
      ThrowNative(env, FromLibusb(LIBUSB_ERROR_NO_MEM, "allocate a control transfer"));
    }
    libusb_fill_control_setup(buffer, requestType, request, value, index, length);
    if (outData != nullptr && length > 0) std::memcpy(buffer + LIBUSB_CONTROL_SETUP_SIZE, outData, length);
    auto op = std::make_shared<TransferOp>();
    op->isControl = true;
    op->completion = new TransferCompletion(env);
    op->completion->owner = state_;
    op->completion->wantData = in;
    op->completion->what = "control transfer";
    libusb_fill_control_transfer(t, state_->handle, buffer, &TransferOp::OnDone, op.get(), timeout);
    t->flags = LIBUSB_TRANSFER_FREE_BUFFER;
    return Submit(env, op, t, opId);
  }

  // bulkTransfer(endpoint, buffer, timeoutMs, opId?): IN fills `buffer`, OUT sends it; zero copy.
  Napi::Value Bulk(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const uint8_t ep = Endpoint(env, info[0], "endpoint", -1);
    Napi::Uint8Array buffer = Bytes(env, info[1], "buffer");
    if (buffer.ByteLength() > 0x7fffffff) ThrowBadInput(env, "buffer must be smaller than 2 GiB");
    const uint32_t timeout = TimeoutMs(env, info[2]);
    const uint32_t opId = info[3].IsUndefined() ? 0 : U32(env, info[3], "opId", 1, 0x7fffffff);
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      if (!state_->closed && state_->busyEndpoints.count(ep)) {
        ThrowBadInput(env, "a transfer is already pending on endpoint 0x" + std::to_string(ep) +
                               " (one at a time per endpoint; IN and OUT may overlap)");
      }
    }
    BeginHandleOp(env, *state_);
    libusb_transfer* t = libusb_alloc_transfer(0);
    if (t == nullptr) {
      EndHandleOp(*state_);
      ThrowNative(env, FromLibusb(LIBUSB_ERROR_NO_MEM, "allocate a bulk transfer"));
    }
    auto op = std::make_shared<TransferOp>();
    op->endpoint = ep;
    op->completion = new TransferCompletion(env);
    op->completion->owner = state_;
    op->completion->what =
        std::string("bulk ") + ((ep & 0x80) ? "IN" : "OUT") + " transfer on endpoint " + std::to_string(ep);
    op->completion->bufferRef = Napi::Persistent(static_cast<Napi::Value>(buffer));
    libusb_fill_bulk_transfer(t, state_->handle, ep, buffer.Data(), static_cast<int>(buffer.ByteLength()),
                              &TransferOp::OnDone, op.get(), timeout);
    return Submit(env, op, t, opId);
  }

  std::shared_ptr<HandleState> state_;
};

}  // namespace

Napi::Object NewDeviceHandle(Napi::Env env, libusb_device_handle* handle) {
  return Addon::Get(env)->handleConstructor.New({Napi::External<libusb_device_handle>::New(env, handle)});
}

void InitDeviceHandleClass(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DeviceHandle::Define(env);
  Addon::Get(env)->handleConstructor = Napi::Persistent(ctor);
  exports.Set("DeviceHandle", ctor);
}

}  // namespace usbscsi
