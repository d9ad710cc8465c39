#include "darwin_worker.h"

namespace usbscsi::darwin {

Napi::Error FailureToJsError(Napi::Env env, const DarwinFailure& failure) {
  Napi::Error error = Napi::Error::New(env, failure.operation + ": " + failure.message);
  Napi::Object object = error.Value();
  object.Set("code", Napi::String::New(env, failure.code.empty() ? "E_IO" : failure.code));
  object.Set("operation", Napi::String::New(env, failure.operation));
  if (failure.status != 0) object.Set("osStatus", Napi::Number::New(env, static_cast<double>(failure.status)));
  if (!failure.statusName.empty()) object.Set("osStatusName", Napi::String::New(env, failure.statusName));
  if (!failure.bsdName.empty()) object.Set("bsdName", Napi::String::New(env, failure.bsdName));
  if (failure.hasLocationId) object.Set("locationId", Napi::Number::New(env, failure.locationId));
  if (failure.hasDissenter) {
    Napi::Object dissenter = Napi::Object::New(env);
    dissenter.Set("status", Napi::Number::New(env, static_cast<double>(failure.dissenterStatus)));
    dissenter.Set("statusName", Napi::String::New(env, failure.dissenterStatusName));
    if (!failure.dissenterStatusString.empty()) {
      dissenter.Set("statusString", Napi::String::New(env, failure.dissenterStatusString));
    }
    object.Set("dissenter", dissenter);
  }
  return error;
}

}  // namespace usbscsi::darwin
