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
  sideRef.Reset();
  Write<uint32_t>(block + block::kJobDone, jobDone);
  Write<uint32_t>(block + block::kReposts, reposts);
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

// A job's command table (exchange_block.h): copied, checked against the plan it repeats.
std::vector<JobCommand> ReadJob(Napi::Env env, const Napi::Value& value, uint32_t count, const ExchangeConfig& cfg) {
  Napi::Uint8Array table = Bytes(env, value, "commands");
  if (table.ByteLength() != static_cast<size_t>(count) * block::kCommandSize) {
    ThrowBadInput(env, "exchange block: the command table must hold " + std::to_string(count) + " commands of " +
                           std::to_string(block::kCommandSize) + " bytes (core builds valid jobs)");
  }
  const auto& ph = cfg.phases;
  const bool shape = ph.size() == 3 && ph[0].source == block::kSourceInline && !(ph[0].endpoint & 0x80) &&
                     ph[0].length == block::kCommandBytesSize && ph[1].source != block::kSourceInline &&
                     ph[1].afterPrevious && ph[2].source == block::kSourceInline && (ph[2].endpoint & 0x80) &&
                     ph[2].length == block::kCommandStatusSize && ph[2].afterPrevious && ph[0].ends == 0 &&
                     ph[1].ends == 0 && ph[2].ends == 0 && ph[2].repostLength == 0;
  if (!shape) {
    ThrowBadInput(env, "exchange block: a job repeats a command, data and status plan (core builds valid jobs)");
  }
  std::vector<JobCommand> job(count);
  uint64_t total = 0;
  const uint8_t* at = table.Data();
  for (JobCommand& c : job) {
    std::memcpy(c.bytes, at + block::kCommandBytes, block::kCommandBytesSize);
    std::memcpy(c.status, at + block::kCommandStatus, block::kCommandStatusSize);
    c.length = Read<uint32_t>(at + block::kCommandLength);
    if (c.length < 1) ThrowBadInput(env, "exchange block: every command of a job moves data (core builds valid jobs)");
    total += c.length;
    at += block::kCommandSize;
  }
  if (total != ph[1].length) ThrowBadInput(env, "exchange block: the data phase length is not the job's total");
  if (ph[1].source == block::kSourceBuffer && ph[1].buffer == nullptr) BadPlan(env, 1, "no data buffer");
  return job;
}

// exchange(block, data?, commands?, side?) -> Promise<undefined | string[] (notes)>
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
  Napi::Value sideValue;
  uint8_t* side = nullptr;
  size_t sideLength = 0;
  if (info.Length() > 3 && !info[3].IsUndefined()) {
    Napi::Uint8Array buf = Bytes(env, info[3], "side");
    side = buf.Data();
    sideLength = buf.ByteLength();
    sideValue = buf;
  }
  bool usesSide = false;

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
    const double maxLength = Read<uint32_t>(blk + block::kJobCommands) != 0 && i == 1 ? kMaxSafe : 0xffffffffu;
    if (!WholeBytes(length) || length < 1 || length > maxLength) BadPlan(env, i, "length must be 1 .. 4 GiB - 1");
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
        p.staged = at[block::kStage] == 1;
        usesData = true;
        break;
      case block::kSourceSide:
        p.source = block::kSourceBuffer;  // the same mechanism, in the other buffer
        if (side == nullptr || static_cast<uint64_t>(offset) + p.length > sideLength) {
          BadPlan(env, i, "offset + length lies outside the side buffer");
        }
        p.buffer = side + static_cast<size_t>(offset);
        usesSide = true;
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
    p.repostLength = at[block::kRepostLength];
    if (p.repostLength > block::kRepostMax || (p.repostLength > 0 && !(p.endpoint & 0x80))) {
      BadPlan(env, i, "re-post bytes: at most 8, on an IN phase");
    }
    std::memcpy(p.repostBytes, at + block::kRepost, block::kRepostMax);
    p.ends = at[block::kEnds];
    if (p.ends > (block::kEndsWhenBack | block::kEndsIfIncomplete)) BadPlan(env, i, "unknown end bits");
  }

  const uint32_t jobCommands = Read<uint32_t>(blk + block::kJobCommands);
  if (jobCommands > block::kMaxJobCommands) ThrowBadInput(env, "exchange block: at most 2^20 commands in a job");
  if (jobCommands > 0) {
    if (info.Length() < 3) ThrowBadInput(env, "exchange block: a job needs its command table");
    cfg.job = ReadJob(env, info[2], jobCommands, cfg);
  }

  BeginHandleOp(env, *state);
  Addon* addon = Addon::Get(env);
  auto* completion = new ExchangeCompletion(env);
  completion->owner = state;
  completion->block = blk;
  completion->blockRef = Napi::Persistent(static_cast<Napi::Value>(blockArray));
  if (usesData) completion->bufferRef = Napi::Persistent(dataValue);
  if (usesSide) completion->sideRef = Napi::Persistent(sideValue);
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
