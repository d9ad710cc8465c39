// JS side of exchange: the exchange block (exchange_block.h) in, the facts written back into
// it. Core validates plans (packages/core/src/backends/native-exchange.ts); this keeps only the
// checks that protect memory and libusb (sizes within the buffers, known enum values), each a
// generic E_BAD_INPUT thrown before anything is sent.
#include <cstring>

#include "args.h"
#include "exchange.h"
#include "exchange_block.h"

namespace usbscsi {

namespace {

template <typename T>
T Read(const uint8_t* at) {
  T value;
  std::memcpy(&value, at, sizeof value);  // little-endian hosts only (x86-64, arm64)
  return value;
}

template <typename T>
void Write(uint8_t* at, T value) {
  std::memcpy(at, &value, sizeof value);
}

constexpr double kMaxSafe = 9007199254740991.0;

bool WholeBytes(double v) { return v >= 0 && v <= kMaxSafe && static_cast<double>(static_cast<uint64_t>(v)) == v; }

[[noreturn]] void BadPlan(Napi::Env env, size_t phase, const std::string& what) {
  ThrowBadInput(env, "exchange block: phase " + std::to_string(phase) + ": " + what + " (core builds valid plans)");
}

}  // namespace

void ExchangeCompletion::Settle(Napi::Env env) {
  bufferRef.Reset();
  if (!error.empty()) {
    blockRef.Reset();
    deferred_.Reject(ToJsError(env, error).Value());
    return;
  }
  for (size_t i = 0; i < phases.size(); ++i) {
    uint8_t* at = block + block::kHeaderSize + i * block::kPhaseSize;
    const PhaseFacts& f = phases[i];
    at[block::kReported] = f.reported ? 1 : 0;
    at[block::kStatus] = f.status;
    Write<double>(at + block::kActual, static_cast<double>(f.actual));
    if (!f.inlineIn.empty()) std::memcpy(at + block::kInline, f.inlineIn.data(), f.inlineIn.size());
    Write<double>(at + block::kAfterEndLength, static_cast<double>(f.afterEndLength));
    if (!f.afterEnd.empty()) std::memcpy(at + block::kAfterEndBytes, f.afterEnd.data(), f.afterEnd.size());
  }
  blockRef.Reset();
  if (notes.empty()) {
    deferred_.Resolve(env.Undefined());
    return;
  }
  Napi::Array arr = Napi::Array::New(env, notes.size());
  for (size_t i = 0; i < notes.size(); ++i) arr.Set(static_cast<uint32_t>(i), notes[i]);
  deferred_.Resolve(arr);
}

// exchange(block, data?) -> Promise<undefined | string[] (notes)>
Napi::Value StartExchange(const Napi::CallbackInfo& info, const std::shared_ptr<HandleState>& state) {
  Napi::Env env = info.Env();
  Napi::Uint8Array blockArray = Bytes(env, info[0], "block");
  if (blockArray.ByteLength() != block::kSize) {
    ThrowBadInput(env, "the exchange block must be exactly " + std::to_string(block::kSize) + " bytes, got " +
                           std::to_string(blockArray.ByteLength()));
  }
  uint8_t* blk = blockArray.Data();
  Napi::Value dataValue;
  uint8_t* data = nullptr;
  size_t dataLength = 0;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    Napi::Uint8Array buf = Bytes(env, info[1], "data");
    data = buf.Data();
    dataLength = buf.ByteLength();
    dataValue = buf;
  }

  ExchangeConfig cfg;
  const size_t count = blk[block::kPhaseCount];
  if (count < 1 || count > block::kMaxPhases) ThrowBadInput(env, "exchange block: 1 to 4 phases");
  cfg.timeoutMs = Read<uint32_t>(blk + block::kTimeoutMs);
  if (cfg.timeoutMs < 1 || cfg.timeoutMs > 0x7fffffff) {
    ThrowBadInput(env, "exchange block: timeoutMs must be 1..2147483647");
  }
  const uint32_t opId = Read<uint32_t>(blk + block::kOpId);
  if (opId > 0x7fffffff) ThrowBadInput(env, "exchange block: opId must be 0..2147483647");
  bool usesData = false;
  cfg.phases.resize(count);
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* at = blk + block::kHeaderSize + i * block::kPhaseSize;
    PhaseConfig& p = cfg.phases[i];
    p.endpoint = at[block::kEndpoint];
    if ((p.endpoint & 0x0f) == 0 || (p.endpoint & 0x70) != 0) BadPlan(env, i, "not a non-control endpoint address");
    p.afterPrevious = at[block::kStart] == block::kStartAfterPrevious;
    if (at[block::kStart] > block::kStartAfterPrevious || (i == 0 && p.afterPrevious)) BadPlan(env, i, "bad start");
    p.streamId = Read<uint32_t>(at + block::kStreamId);
    const double length = Read<double>(at + block::kLength);
    const double offset = Read<double>(at + block::kOffset);
    if (!WholeBytes(length) || length < 1 || length > 0xffffffffu) BadPlan(env, i, "length must be 1 .. 4 GiB - 1");
    if (!WholeBytes(offset)) BadPlan(env, i, "offset must be a whole number of bytes");
    p.length = static_cast<uint64_t>(length);
    const uint32_t chunk = Read<uint32_t>(at + block::kChunkSize);
    const uint32_t depth = Read<uint32_t>(at + block::kDepth);
    if (chunk > (64u << 20) || depth > 64) BadPlan(env, i, "chunkSize at most 64 MiB, depth at most 64");
    if (chunk != 0) p.chunkSize = chunk;
    if (depth != 0) p.depth = depth;
    switch (at[block::kSource]) {
      case block::kSourceInline:
        p.source = block::kSourceInline;
        if (p.length > block::kInlineMax) BadPlan(env, i, "an inline phase carries at most 32 bytes");
        std::memcpy(p.inlineBytes, at + block::kInline, block::kInlineMax);
        break;
      case block::kSourceBuffer:
        p.source = block::kSourceBuffer;
        if (data == nullptr || static_cast<uint64_t>(offset) + p.length > dataLength) {
          BadPlan(env, i, "offset + length lies outside the data buffer");
        }
        p.buffer = data + static_cast<size_t>(offset);
        usesData = true;
        break;
      case block::kSourceFd:
        p.source = block::kSourceFd;
        p.fd = Read<int32_t>(at + block::kFd);
        if (p.fd < 0) BadPlan(env, i, "fd must be >= 0");
        p.position = static_cast<uint64_t>(offset);
        break;
      default:
        BadPlan(env, i, "unknown source");
    }
  }

  BeginHandleOp(env, *state);
  Addon* addon = Addon::Get(env);
  auto* completion = new ExchangeCompletion(env);
  completion->owner = state;
  completion->block = blk;
  completion->blockRef = Napi::Persistent(static_cast<Napi::Value>(blockArray));
  if (usesData) completion->bufferRef = Napi::Persistent(dataValue);
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
    return promise;
  }
  addon->ReapNow();
  return promise;
}

}  // namespace usbscsi
