// A Promise-returning AsyncWorker for blocking calls (enumeration, open, claim,
// detach…): the work runs on a libuv pool thread, never on the event loop.
#pragma once

#include <napi.h>

#include <functional>
#include <memory>

#include "errors.h"
#include "handle.h"

namespace usbscsi {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  // `work` runs off the JS thread and returns an empty NativeError on success;
  // `resolve` runs on the JS thread and builds the value (undefined if not given).
  PromiseWorker(Napi::Env env, const char* name, std::function<NativeError()> work,
                std::function<Napi::Value(Napi::Env)> resolve = nullptr, std::shared_ptr<HandleState> owner = nullptr)
      : Napi::AsyncWorker(env, name),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        resolve_(std::move(resolve)),
        owner_(std::move(owner)) {}

  // `after` runs on the JS thread once the work is done, before the promise settles, whether it
  // failed or not (close(): libusb_close belongs on the JS thread while the event pump polls).
  void After(std::function<void()> after) { after_ = std::move(after); }

  Napi::Promise Queue() {
    Napi::Promise promise = deferred_.Promise();
    Napi::AsyncWorker::Queue();
    return promise;
  }

 protected:
  void Execute() override { error_ = work_(); }

  void OnOK() override {
    Napi::Env env = Env();
    if (after_) after_();
    if (error_.empty()) {
      deferred_.Resolve(resolve_ ? resolve_(env) : env.Undefined());
    } else {
      deferred_.Reject(ToJsError(env, error_).Value());
    }
    if (owner_) EndHandleOp(*owner_);
  }

  void OnError(const Napi::Error& e) override {
    if (after_) after_();
    deferred_.Reject(e.Value());
    if (owner_) EndHandleOp(*owner_);
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<NativeError()> work_;
  std::function<Napi::Value(Napi::Env)> resolve_;
  std::shared_ptr<HandleState> owner_;
  std::function<void()> after_;
  NativeError error_;
};

}  // namespace usbscsi
