// JS side of botExchange: the exchange block (exchange_block.h) in, the outcome written back
// into it. Types and ranges were checked by native/index.js when it encoded the block; this
// checks what only the decoded command can tell (CBW signature, direction, length) and throws
// a typed E_BAD_INPUT before anything is sent.
#include <cstring>

#include "args.h"
#include "exchange.h"
#include "exchange_block.h"

namespace usbscsi {

namespace {

template <typename T>
T Read(const uint8_t* block, size_t offset) {
  T value;
  std::memcpy(&value, block + offset, sizeof value);  // little-endian hosts only (x86-64, arm64)
  return value;
}

template <typename T>
void Write(uint8_t* block, size_t offset, T value) {
  std::memcpy(block + offset, &value, sizeof value);
}

uint8_t StatusCode(const std::string& name) {
  if (name == "ok") return block::kOk;
  if (name == "stall") return block::kStall;
  if (name == "timeout") return block::kTimeout;
  if (name == "overflow") return block::kOverflow;
  return block::kCancelled;
}

}  // namespace

void ExchangeCompletion::Settle(Napi::Env env) {
  bufferRef.Reset();
  if (!error.empty()) {
    blockRef.Reset();
    deferred_.Reject(ToJsError(env, error).Value());
    return;
  }
  uint8_t outFlags = 0;
  block[block::kCbwStatus] = StatusCode(cbwStatus);
  Write<uint32_t>(block, block::kCbwActual, static_cast<uint32_t>(cbwActual));
  if (hasData) {
    outFlags |= block::kReportedData;
    block[block::kDataStatus] = StatusCode(dataStatus);
    Write<double>(block, block::kDataActual, static_cast<double>(dataActual));
  }
  if (hasCsw) {
    outFlags |= block::kReportedCsw;
    block[block::kCswStatus] = StatusCode(cswStatus);
    const size_t n = std::min<size_t>(cswBytes.size(), 13);
    block[block::kCswLength] = static_cast<uint8_t>(n);
    std::memcpy(block + block::kCswBytes, cswBytes.data(), n);
  }
  block[block::kOutFlags] = outFlags;
  blockRef.Reset();
  if (notes.empty()) {
    deferred_.Resolve(env.Undefined());
    return;
  }
  Napi::Array arr = Napi::Array::New(env, notes.size());
  for (size_t i = 0; i < notes.size(); ++i) arr.Set(static_cast<uint32_t>(i), notes[i]);
  deferred_.Resolve(arr);
}

// exchangeBlock(block, dataBuffer?) -> Promise<undefined | string[] (notes)>
Napi::Value StartBotExchange(const Napi::CallbackInfo& info, const std::shared_ptr<HandleState>& state) {
  Napi::Env env = info.Env();
  Napi::Uint8Array blockArray = Bytes(env, info[0], "block");
  if (blockArray.ByteLength() != block::kSize) {
    ThrowBadInput(env, "the exchange block must be exactly " + std::to_string(block::kSize) + " bytes, got " +
                           std::to_string(blockArray.ByteLength()));
  }
  uint8_t* blk = blockArray.Data();
  ExchangeConfig cfg;
  std::memcpy(cfg.cbw, blk + block::kCbw, 31);
  if (std::memcmp(cfg.cbw, "USBC", 4) != 0) ThrowBadInput(env, "cbw must start with the signature USBC");
  const uint8_t flags = blk[block::kFlags];
  cfg.outEp = blk[block::kOutEndpoint];
  cfg.inEp = blk[block::kInEndpoint];
  if ((cfg.outEp & 0x80) || (cfg.outEp & 0x0f) == 0) ThrowBadInput(env, "outEndpoint must be an OUT endpoint (1..15, bit 7 clear)");
  if (!(cfg.inEp & 0x80) || (cfg.inEp & 0x0f) == 0) ThrowBadInput(env, "inEndpoint must be an IN endpoint (1..15, bit 7 set)");
  cfg.timeoutMs = Read<uint32_t>(blk, block::kTimeoutMs);
  if (cfg.timeoutMs < 1 || cfg.timeoutMs > 0x7fffffff) ThrowBadInput(env, "timeoutMs must be between 1 and 2147483647");
  const uint32_t chunk = Read<uint32_t>(blk, block::kChunkSize);
  if (chunk != 0) {
    if (chunk < 1024 || chunk > (64u << 20) || chunk % 1024 != 0) {
      ThrowBadInput(env, "chunkSize must be a multiple of 1024 from 1 KiB to 64 MiB (whole packets at every speed)");
    }
    cfg.chunkSize = chunk;
  }
  const uint32_t depth = Read<uint32_t>(blk, block::kDepth);
  if (depth != 0) {
    if (depth > 64) ThrowBadInput(env, "depth must be between 1 and 64");
    cfg.depth = depth;
  }
  cfg.queueAhead = (flags & block::kQueueAhead) != 0;
  const uint32_t opId = Read<uint32_t>(blk, block::kOpId);
  if (opId > 0x7fffffff) ThrowBadInput(env, "opId must be between 1 and 2147483647");

  Napi::Value bufferValue;
  if (flags & block::kHasData) {
    const bool in = (flags & block::kDataIn) != 0;
    if (flags & block::kDataFd) {
      cfg.fd = Read<int32_t>(blk, block::kFd);
      const double length = Read<double>(blk, block::kLength);
      const double position = Read<double>(blk, block::kPosition);
      if (cfg.fd < 0) ThrowBadInput(env, "data.fd must be a file descriptor (>= 0)");
      if (!(length >= 0 && length <= 9007199254740991.0) || !(position >= 0 && position <= 9007199254740991.0)) {
        ThrowBadInput(env, "data.length and data.position must be whole numbers of bytes >= 0");
      }
      cfg.length = static_cast<uint64_t>(length);
      cfg.position = static_cast<uint64_t>(position);
      cfg.mode = in ? DataMode::kFdIn : DataMode::kFdOut;
    } else {
      Napi::Uint8Array buf = Bytes(env, info[1], "data.buffer");
      cfg.buffer = buf.Data();
      cfg.length = buf.ByteLength();
      cfg.mode = in ? DataMode::kBufferIn : DataMode::kBufferOut;
      bufferValue = buf;
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
  completion->block = blk;
  completion->blockRef = Napi::Persistent(static_cast<Napi::Value>(blockArray));
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
