// The N-API surface of the macOS handoff: `addon.darwin.*`. Arguments are
// checked on the JS thread (E_BAD_INPUT); every step that can wait runs in a
// DarwinPromiseWorker. Typed in packages/core/src/handoff/darwin-native.ts.
#include <napi.h>

#include <cctype>
#include <string>
#include <vector>

#include "../common/args.h"
#include "darwin_bindings.h"
#include "darwin_capture.h"
#include "darwin_disk_arbitration.h"
#include "darwin_registry.h"
#include "darwin_system.h"
#include "darwin_wait.h"
#include "darwin_worker.h"

namespace usbscsi::darwin {

namespace {

void SetIfNotEmpty(Napi::Env env, Napi::Object object, const char* key, const std::string& value) {
  if (!value.empty()) object.Set(key, Napi::String::New(env, value));
}

Napi::Object StorageToJs(Napi::Env env, const DarwinUsbStorage& storage) {
  Napi::Object object = Napi::Object::New(env);
  object.Set("locationId", Napi::Number::New(env, storage.locationId));
  object.Set("registryId", Napi::String::New(env, std::to_string(storage.registryId)));
  object.Set("vendorId", Napi::Number::New(env, storage.vendorId));
  object.Set("productId", Napi::Number::New(env, storage.productId));
  SetIfNotEmpty(env, object, "manufacturer", storage.manufacturer);
  SetIfNotEmpty(env, object, "product", storage.product);
  SetIfNotEmpty(env, object, "serialNumber", storage.serialNumber);
  object.Set("interfaceCount", Napi::Number::New(env, storage.interfaceCount));
  Napi::Array interfaces = Napi::Array::New(env, storage.interfaces.size());
  for (size_t i = 0; i < storage.interfaces.size(); ++i) {
    const DarwinMassStorageInterface& source = storage.interfaces[i];
    Napi::Object interface = Napi::Object::New(env);
    interface.Set("interfaceNumber", Napi::Number::New(env, source.interfaceNumber));
    interface.Set("interfaceSubClass", Napi::Number::New(env, source.interfaceSubClass));
    interface.Set("interfaceProtocol", Napi::Number::New(env, source.interfaceProtocol));
    interface.Set("driver", source.driver.empty() ? env.Null() : Napi::String::New(env, source.driver));
    interfaces.Set(static_cast<uint32_t>(i), interface);
  }
  object.Set("interfaces", interfaces);
  Napi::Array media = Napi::Array::New(env, storage.media.size());
  for (size_t i = 0; i < storage.media.size(); ++i) {
    const DarwinMedia& source = storage.media[i];
    Napi::Object item = Napi::Object::New(env);
    item.Set("bsdName", Napi::String::New(env, source.bsdName));
    item.Set("whole", Napi::Boolean::New(env, source.whole));
    item.Set("synthesized", Napi::Boolean::New(env, source.synthesized));
    item.Set("wholeDisk", Napi::String::New(env, source.wholeDisk));
    item.Set("size", Napi::Number::New(env, static_cast<double>(source.size)));
    item.Set("writable", Napi::Boolean::New(env, source.writable));
    item.Set("removable", Napi::Boolean::New(env, source.removable));
    SetIfNotEmpty(env, item, "content", source.content);
    SetIfNotEmpty(env, item, "mountPoint", source.mountPoint);
    SetIfNotEmpty(env, item, "volumeName", source.volumeName);
    SetIfNotEmpty(env, item, "volumeKind", source.volumeKind);
    item.Set("readOnly", Napi::Boolean::New(env, source.readOnlyMount));
    media.Set(static_cast<uint32_t>(i), item);
  }
  object.Set("media", media);
  return object;
}

// disk4, disk4s1, disk12s3s1: nothing else reaches DiskArbitration.
std::string BsdNameArg(Napi::Env env, const Napi::Value& value) {
  if (!value.IsString()) ThrowBadInput(env, "bsdName must be a string such as \"disk4\"");
  std::string name = value.As<Napi::String>().Utf8Value();
  bool ok = name.size() > 4 && name.size() < 32 && name.compare(0, 4, "disk") == 0 && std::isdigit(name[4]);
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    ok = ok && (std::isdigit(u) || std::islower(u));
  }
  if (!ok) ThrowBadInput(env, "bsdName must be a BSD disk name such as \"disk4\" or \"disk4s1\", got \"" + name + "\"");
  return name;
}

uint32_t LocationIdArg(Napi::Env env, const Napi::Value& value) {
  return U32(env, value, "locationId", 1, 0xffffffffu);
}

class ListWorker : public DarwinPromiseWorker {
 public:
  explicit ListWorker(Napi::Env env) : DarwinPromiseWorker(env, "usbscsi.darwin.list") {}
  bool Run() override { return ListUsbStorage(devices_, failure_); }
  Napi::Value Result(Napi::Env env) override {
    Napi::Array array = Napi::Array::New(env, devices_.size());
    for (size_t i = 0; i < devices_.size(); ++i) array.Set(static_cast<uint32_t>(i), StorageToJs(env, devices_[i]));
    return array;
  }

 private:
  std::vector<DarwinUsbStorage> devices_;
};

class UnmountWorker : public DarwinPromiseWorker {
 public:
  UnmountWorker(Napi::Env env, std::string bsd, uint32_t timeoutMs)
      : DarwinPromiseWorker(env, "usbscsi.darwin.unmount"), bsd_(std::move(bsd)), timeoutMs_(timeoutMs) {}
  bool Run() override { return UnmountWholeDisk(bsd_, timeoutMs_, failure_); }

 private:
  std::string bsd_;
  uint32_t timeoutMs_;
};

class MountWorker : public DarwinPromiseWorker {
 public:
  MountWorker(Napi::Env env, std::string bsd, uint32_t timeoutMs, bool readOnly, bool whole)
      : DarwinPromiseWorker(env, "usbscsi.darwin.mount"), bsd_(std::move(bsd)), timeoutMs_(timeoutMs),
        readOnly_(readOnly), whole_(whole) {}
  bool Run() override { return MountDisk(bsd_, timeoutMs_, readOnly_, whole_, failure_); }

 private:
  std::string bsd_;
  uint32_t timeoutMs_;
  bool readOnly_;
  bool whole_;
};

class CaptureWorker : public DarwinPromiseWorker {
 public:
  CaptureWorker(Napi::Env env, uint32_t locationId, uint32_t timeoutMs, bool capture)
      : DarwinPromiseWorker(env, capture ? "usbscsi.darwin.capture" : "usbscsi.darwin.release"),
        locationId_(locationId), timeoutMs_(timeoutMs), capture_(capture) {}
  bool Run() override {
    return capture_ ? CaptureDevice(locationId_, timeoutMs_, failure_) : ReleaseDevice(locationId_, failure_);
  }

 private:
  uint32_t locationId_;
  uint32_t timeoutMs_;
  bool capture_;
};

class WaitWorker : public DarwinPromiseWorker {
 public:
  WaitWorker(Napi::Env env, const StorageExpectation& expected)
      : DarwinPromiseWorker(env, "usbscsi.darwin.wait"), expected_(expected) {}
  bool Run() override { return WaitForStorage(expected_, storage_, failure_); }
  Napi::Value Result(Napi::Env env) override { return StorageToJs(env, storage_); }

 private:
  StorageExpectation expected_;
  DarwinUsbStorage storage_;
};

class SyncWorker : public DarwinPromiseWorker {
 public:
  SyncWorker(Napi::Env env, std::vector<std::string> paths)
      : DarwinPromiseWorker(env, "usbscsi.darwin.sync"), paths_(std::move(paths)) {}
  bool Run() override {
    failed_ = SyncMountPoints(paths_);
    return true;
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Array array = Napi::Array::New(env, failed_.size());
    for (size_t i = 0; i < failed_.size(); ++i) array.Set(static_cast<uint32_t>(i), Napi::String::New(env, failed_[i]));
    return array;
  }

 private:
  std::vector<std::string> paths_;
  std::vector<std::string> failed_;
};

Napi::Value JsListStorage(const Napi::CallbackInfo& info) {
  return (new ListWorker(info.Env()))->Start();
}

Napi::Value JsUnmountDisk(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string bsd = BsdNameArg(env, info[0]);
  return (new UnmountWorker(env, bsd, TimeoutMs(env, info[1])))->Start();
}

Napi::Value JsMountDisk(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string bsd = BsdNameArg(env, info[0]);
  uint32_t timeoutMs = TimeoutMs(env, info[1]);
  bool readOnly = info.Length() > 2 && info[2].ToBoolean().Value();
  bool whole = info.Length() <= 3 || info[3].IsUndefined() || info[3].ToBoolean().Value();
  return (new MountWorker(env, bsd, timeoutMs, readOnly, whole))->Start();
}

Napi::Value JsCapture(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t locationId = LocationIdArg(env, info[0]);
  return (new CaptureWorker(env, locationId, TimeoutMs(env, info[1]), true))->Start();
}

Napi::Value JsRelease(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return (new CaptureWorker(env, LocationIdArg(env, info[0]), 1, false))->Start();
}

Napi::Value JsWaitForStorage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object options = ObjectArg(env, info[0], "options");
  StorageExpectation expected;
  expected.locationId = LocationIdArg(env, options.Get("locationId"));
  expected.wholeDisks = U32(env, options.Get("wholeDisks"), "wholeDisks", 0, 64);
  expected.partitions = U32(env, options.Get("partitions"), "partitions", 0, 1024);
  expected.timeoutMs = TimeoutMs(env, options.Get("timeoutMs"));
  if (options.Has("pollMs") && !options.Get("pollMs").IsUndefined()) {
    expected.pollMs = U32(env, options.Get("pollMs"), "pollMs", 10, 5000);
  }
  return (new WaitWorker(env, expected))->Start();
}

Napi::Value JsSyncMountPoints(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) ThrowBadInput(env, "mountPoints must be an array of absolute paths");
  Napi::Array array = info[0].As<Napi::Array>();
  std::vector<std::string> paths;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value value = array.Get(i);
    if (!value.IsString() || value.As<Napi::String>().Utf8Value().rfind('/', 0) != 0) {
      ThrowBadInput(env, "mountPoints[" + std::to_string(i) + "] must be an absolute path");
    }
    paths.push_back(value.As<Napi::String>().Utf8Value());
  }
  return (new SyncWorker(env, std::move(paths)))->Start();
}

// Synchronous: one sysctl, no waiting.
Napi::Value JsProcessStartTime(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = static_cast<int>(U32(env, info[0], "pid", 1, 0x7fffffff));
  std::optional<std::string> start = ProcessStartTime(pid);
  return start ? Napi::String::New(env, *start) : env.Null();
}

Napi::Value JsHasEntitlement(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), HasDeviceAccessEntitlement());
}

}  // namespace

void RegisterDarwin(Napi::Env env, Napi::Object exports) {
  Napi::Object darwin = Napi::Object::New(env);
  darwin.Set("listStorage", Napi::Function::New(env, JsListStorage, "listStorage"));
  darwin.Set("unmountDisk", Napi::Function::New(env, JsUnmountDisk, "unmountDisk"));
  darwin.Set("mountDisk", Napi::Function::New(env, JsMountDisk, "mountDisk"));
  darwin.Set("capture", Napi::Function::New(env, JsCapture, "capture"));
  darwin.Set("release", Napi::Function::New(env, JsRelease, "release"));
  darwin.Set("waitForStorage", Napi::Function::New(env, JsWaitForStorage, "waitForStorage"));
  darwin.Set("syncMountPoints", Napi::Function::New(env, JsSyncMountPoints, "syncMountPoints"));
  darwin.Set("processStartTime", Napi::Function::New(env, JsProcessStartTime, "processStartTime"));
  darwin.Set("hasDeviceAccessEntitlement", Napi::Function::New(env, JsHasEntitlement, "hasDeviceAccessEntitlement"));
  exports.Set("darwin", darwin);
}

}  // namespace usbscsi::darwin
