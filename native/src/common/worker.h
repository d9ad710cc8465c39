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

  Napi::Promise Queue() {
    Napi::Promise promise = deferred_.Promise();
    Napi::AsyncWorker::Queue();
    return promise;
  }

 protected:
  void Execute() override { error_ = work_(); }

  void OnOK() override {
    Napi::Env env = Env();
    if (error_.empty()) {
      deferred_.Resolve(resolve_ ? resolve_(env) : env.Undefined());
    } else {
      deferred_.Reject(ToJsError(env, error_).Value());
    }
    if (owner_) EndHandleOp(*owner_);
  }

  void OnError(const Napi::Error& e) override {
    deferred_.Reject(e.Value());
    if (owner_) EndHandleOp(*owner_);
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<NativeError()> work_;
  std::function<Napi::Value(Napi::Env)> resolve_;
  std::shared_ptr<HandleState> owner_;
  NativeError error_;
};

}  // namespace usbscsi
