// Per-environment state of the addon: one libusb context, its event thread, and one
// thread-safe function that carries every transfer completion back to JS.
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

  // Initialises libusb and starts the event thread on first use. Throws a typed error.
  libusb_context* Context(Napi::Env env);
  // Same, from a worker thread: returns nullptr and fills `error` on failure.
  libusb_context* ContextOrError(NativeError& error);

  // JS thread: an operation that will finish through Post() begins (keeps the loop alive).
  void BeginPending(Napi::Env env);
  // Any thread: deliver. Takes ownership.
  void Post(Completion* completion);
  // JS thread, from DeliverCompletion.
  void EndPending(Napi::Env env);

  void TrackHandle(const std::shared_ptr<HandleState>& handle);

  Napi::FunctionReference handleConstructor;

 private:
  void EventLoop();
  void Teardown();

  std::mutex mu_;
  libusb_context* ctx_ = nullptr;
  int initError_ = 0;
  std::thread eventThread_;
  std::atomic<bool> stopping_{false};
  CompletionTsfn tsfn_;
  int pending_ = 0;
  std::vector<std::weak_ptr<HandleState>> handles_;
};

}  // namespace usbscsi
