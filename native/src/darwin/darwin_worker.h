// A promise-returning Napi::AsyncWorker for the macOS steps: Execute() runs on
// a libuv worker thread (DiskArbitration waits and registry polls never block
// the JS thread); the promise resolves with Result() or rejects with the
// DarwinFailure turned into an Error carrying `code` and the OS status.
#pragma once

#include <napi.h>

#include "darwin_failure.h"

namespace usbscsi::darwin {

Napi::Error FailureToJsError(Napi::Env env, const DarwinFailure& failure);

class DarwinPromiseWorker : public Napi::AsyncWorker {
 public:
  explicit DarwinPromiseWorker(Napi::Env env, const char* name)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}

  /** Queues the worker and returns its promise. */
  Napi::Promise Start() {
    Napi::Promise promise = deferred_.Promise();
    Queue();
    return promise;
  }

 protected:
  /** Worker thread: do the step; return false with `failure_` filled on failure. */
  virtual bool Run() = 0;
  /** JS thread: the resolved value. */
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }

  DarwinFailure failure_;

 private:
  void Execute() override { ok_ = Run(); }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (ok_) {
      deferred_.Resolve(Result(env));
    } else {
      deferred_.Reject(FailureToJsError(env, failure_).Value());
    }
  }
  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

  Napi::Promise::Deferred deferred_;
  bool ok_ = false;
};

}  // namespace usbscsi::darwin
