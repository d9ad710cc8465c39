// Argument checks shared by every binding: wrong types, negative or fractional
// numbers and out-of-range values throw a typed E_BAD_INPUT (never a crash).
#pragma once

#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "errors.h"

namespace usbscsi {

inline double NumberValue(Napi::Env env, const Napi::Value& v, const std::string& name, double min, double max) {
  if (!v.IsNumber()) ThrowBadInput(env, name + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d) {
    ThrowBadInput(env, name + " must be an integer, got " + std::to_string(d));
  }
  if (d < min || d > max) {
    ThrowBadInput(env, name + " must be between " + std::to_string(static_cast<long long>(min)) + " and " +
                           std::to_string(static_cast<long long>(max)) + ", got " +
                           std::to_string(static_cast<long long>(d)));
  }
  return d;
}

inline uint32_t U32(Napi::Env env, const Napi::Value& v, const std::string& name, uint32_t min, uint32_t max) {
  return static_cast<uint32_t>(NumberValue(env, v, name, min, max));
}

inline uint8_t Endpoint(Napi::Env env, const Napi::Value& v, const std::string& name,
                        int direction /* 1 in, 0 out, -1 any */) {
  const uint8_t ep = static_cast<uint8_t>(U32(env, v, name, 0, 0xff));
  if ((ep & 0x0f) == 0 || (ep & 0x70) != 0) {
    ThrowBadInput(env, name + " must be a non-control endpoint address (1..15, bit 7 = IN)");
  }
  if (direction == 1 && !(ep & 0x80)) ThrowBadInput(env, name + " must be an IN endpoint (bit 7 set)");
  if (direction == 0 && (ep & 0x80)) ThrowBadInput(env, name + " must be an OUT endpoint (bit 7 clear)");
  return ep;
}

inline Napi::Uint8Array Bytes(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowBadInput(env, name + " must be a Uint8Array (or Buffer)");
  }
  return v.As<Napi::Uint8Array>();
}

inline Napi::Object ObjectArg(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsObject() || v.IsArray() || v.IsFunction()) ThrowBadInput(env, name + " must be an object");
  return v.As<Napi::Object>();
}

// Timeouts: libusb takes unsigned milliseconds and 0 means "forever"; we require >= 1.
inline uint32_t TimeoutMs(Napi::Env env, const Napi::Value& v) {
  return U32(env, v, "timeoutMs", 1, 0x7fffffff);
}

}  // namespace usbscsi
