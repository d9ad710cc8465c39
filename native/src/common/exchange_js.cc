// JS side of botExchange: argument checks (typed E_BAD_INPUT before anything is sent) and
// the result object.
#include <cstring>

#include "args.h"
#include "exchange.h"

namespace usbscsi {

void ExchangeCompletion::Settle(Napi::Env env) {
  bufferRef.Reset();
  if (!error.empty()) {
    deferred_.Reject(ToJsError(env, error).Value());
    return;
  }
  Napi::Object out = Napi::Object::New(env);
  Napi::Object cbw = Napi::Object::New(env);
  cbw.Set("status", cbwStatus);
  cbw.Set("actualLength", cbwActual);
  out.Set("cbw", cbw);
  if (hasData) {
    Napi::Object data = Napi::Object::New(env);
    data.Set("status", dataStatus);
    data.Set("actualLength", Napi::Number::New(env, static_cast<double>(dataActual)));
    out.Set("data", data);
  }
  if (hasCsw) {
    Napi::Object csw = Napi::Object::New(env);
    csw.Set("status", cswStatus);
    csw.Set("actualLength", static_cast<double>(cswBytes.size()));
    csw.Set("bytes", Napi::Buffer<uint8_t>::Copy(env, cswBytes.data(), cswBytes.size()));
    out.Set("csw", csw);
  }
  if (!notes.empty()) {
    Napi::Array arr = Napi::Array::New(env, notes.size());
    for (size_t i = 0; i < notes.size(); ++i) arr.Set(static_cast<uint32_t>(i), notes[i]);
    out.Set("notes", arr);
  }
  deferred_.Resolve(out);
}

Napi::Value StartBotExchange(const Napi::CallbackInfo& info, const std::shared_ptr<HandleState>& state) {
  Napi::Env env = info.Env();
  Napi::Object req = ObjectArg(env, info[0], "request");
  ExchangeConfig cfg;
  Napi::Uint8Array cbw = Bytes(env, req.Get("cbw"), "cbw");
  if (cbw.ByteLength() != 31) ThrowBadInput(env, "cbw must be exactly 31 bytes, got " + std::to_string(cbw.ByteLength()));
  if (std::memcmp(cbw.Data(), "USBC", 4) != 0) ThrowBadInput(env, "cbw must start with the signature USBC");
  std::memcpy(cfg.cbw, cbw.Data(), 31);
  cfg.outEp = Endpoint(env, req.Get("outEndpoint"), "outEndpoint", 0);
  cfg.inEp = Endpoint(env, req.Get("inEndpoint"), "inEndpoint", 1);
  cfg.timeoutMs = TimeoutMs(env, req.Get("timeoutMs"));
  if (!req.Get("chunkSize").IsUndefined()) cfg.chunkSize = U32(env, req.Get("chunkSize"), "chunkSize", 1024, 64u << 20);
  if (cfg.chunkSize % 1024 != 0) ThrowBadInput(env, "chunkSize must be a multiple of 1024 (whole packets at every speed)");
  if (!req.Get("depth").IsUndefined()) cfg.depth = U32(env, req.Get("depth"), "depth", 1, 64);
  const Napi::Value ahead = req.Get("queueAhead");
  if (!ahead.IsUndefined() && !ahead.IsBoolean()) ThrowBadInput(env, "queueAhead must be a boolean");
  cfg.queueAhead = ahead.IsBoolean() && ahead.As<Napi::Boolean>().Value();
  const uint32_t opId = req.Get("opId").IsUndefined() ? 0 : U32(env, req.Get("opId"), "opId", 1, 0x7fffffff);

  Napi::Value bufferValue;
  const Napi::Value dataValue = req.Get("data");
  if (!dataValue.IsUndefined()) {
    Napi::Object data = ObjectArg(env, dataValue, "data");
    const Napi::Value dir = data.Get("direction");
    const std::string direction = dir.IsString() ? dir.As<Napi::String>().Utf8Value() : "";
    if (direction != "in" && direction != "out") ThrowBadInput(env, "data.direction must be 'in' or 'out'");
    const bool in = direction == "in";
    if (!data.Get("buffer").IsUndefined()) {
      Napi::Uint8Array buf = Bytes(env, data.Get("buffer"), "data.buffer");
      cfg.buffer = buf.Data();
      cfg.length = buf.ByteLength();
      cfg.mode = in ? DataMode::kBufferIn : DataMode::kBufferOut;
      bufferValue = buf;
    } else {
      cfg.fd = static_cast<int>(U32(env, data.Get("fd"), "data.fd", 0, 0x7fffffff));
      cfg.length = static_cast<uint64_t>(NumberValue(env, data.Get("length"), "data.length", 0, 9007199254740991.0));
      cfg.position = static_cast<uint64_t>(NumberValue(env, data.Get("position"), "data.position", 0, 9007199254740991.0));
      cfg.mode = in ? DataMode::kFdIn : DataMode::kFdOut;
    }
    if (cfg.length > 0xffffffffull) ThrowBadInput(env, "a BOT data phase is at most 4 GiB - 1 (dCBWDataTransferLength is 32-bit)");
    if (cfg.length == 0) cfg.mode = DataMode::kNone;
    if (cfg.length > 0 && ((cfg.cbw[12] & 0x80) != 0) != in) {
      ThrowBadInput(env, "the CBW direction flag (bmCBWFlags bit 7) does not match data.direction");
    }
  }
  const uint32_t le = static_cast<uint32_t>(cfg.cbw[8]) | static_cast<uint32_t>(cfg.cbw[9]) << 8 |
                      static_cast<uint32_t>(cfg.cbw[10]) << 16 | static_cast<uint32_t>(cfg.cbw[11]) << 24;
  if (le != cfg.length) {
    ThrowBadInput(env, "the CBW's dCBWDataTransferLength (" + std::to_string(le) + ") does not match the data phase length (" +
                           std::to_string(cfg.length) + ")");
  }

  BeginHandleOp(env, *state);
  Addon* addon = Addon::Get(env);
  auto* completion = new ExchangeCompletion(env);
  completion->owner = state;
  if (!bufferValue.IsEmpty()) completion->bufferRef = Napi::Persistent(bufferValue);
  Napi::Promise promise = completion->Promise();
  addon->BeginPending(env);
  auto exchange = std::make_shared<Exchange>(addon, state, cfg, completion);
  std::vector<std::string> notes;
  NativeError error = exchange->Start(opId, notes);
  if (!error.empty()) {
    completion->error = error;
    completion->Settle(env);
    delete completion;
    EndHandleOp(*state);
    addon->EndPending(env);
  }
  return promise;
}

}  // namespace usbscsi
