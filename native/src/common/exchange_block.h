// The exchange block: one typed array that carries a transfer plan into the engine and its
// facts back, so that a command crosses the N-API boundary as one array (plus the caller's
// data buffer) instead of an object read field by field and a result built key by key.
// Core (packages/core/src/backends/native-exchange.ts, EXCHANGE_BLOCK) writes and reads it;
// a test parses this header and compares every constant, so the two cannot drift.
// All multi-byte fields are little-endian.
#pragma once

#include <cstddef>
#include <cstdint>

namespace usbscsi::block {

constexpr size_t kMaxPhases = 4;
constexpr size_t kHeaderSize = 32;
constexpr size_t kPhaseSize = 128;
constexpr size_t kSize = kHeaderSize + kMaxPhases * kPhaseSize;  // 544

// Header, filled by core.
constexpr size_t kPhaseCount = 0;    // u8      1..kMaxPhases
constexpr size_t kTimeoutMs = 4;     // u32     the whole plan's budget, >= 1 (a job: each command's)
constexpr size_t kOpId = 8;          // u32     0: none (cancel(opId) cannot reach it)
constexpr size_t kJobCommands = 16;  // u32     0: one plan; N >= 1: a job of N commands (below)
// Out: filled by the engine.
constexpr size_t kJobDone = 20;  // u32     a job: commands that completed whole and whose status matched
constexpr size_t kReposts = 24;  // u32     URBs submitted again because they received their phase's kRepost bytes

// A job runs one 3-phase plan (an inline OUT command, a buffer or fd data phase, an inline IN
// status of kCommandStatusSize bytes) once per command of a table core passes beside the block,
// the next command's first phase submitted from the completion of the previous one's last. Each
// entry gives the command bytes, the status bytes the command must end with, and its data
// length; data phases follow one another in the buffer (or file) from the data phase's offset.
// The engine compares the received status with the given bytes and nothing else: the first
// command whose phases do not all complete whole, or whose status differs, ends the job; its
// facts are the phases' facts in the block and kJobDone counts the commands before it.
constexpr size_t kCommandSize = 48;
constexpr size_t kCommandBytes = 0;        // u8[31]  the first phase's bytes (a BOT CBW)
constexpr size_t kCommandBytesSize = 31;
constexpr size_t kCommandStatus = 31;      // u8[13]  what the last phase must receive (a BOT CSW)
constexpr size_t kCommandStatusSize = 13;
constexpr size_t kCommandLength = 44;      // u32     data phase bytes, >= 1
constexpr size_t kMaxJobCommands = 1048576;  // 2^20

// Phase p starts at kHeaderSize + p * kPhaseSize. In: filled by core.
constexpr size_t kEndpoint = 0;    // u8      endpoint address; bit 7 = IN
constexpr size_t kSource = 1;      // u8      a Source
constexpr size_t kStart = 2;       // u8      a Start
constexpr size_t kStreamId = 4;    // u32     bulk stream id, 0: none
constexpr size_t kChunkSize = 8;   // u32     bytes per URB (buffer, fd); 0: engine default
constexpr size_t kDepth = 12;      // u32     URBs in flight (buffer, fd); 0: engine default
constexpr size_t kLength = 16;     // f64     bytes to move, >= 1
constexpr size_t kOffset = 24;     // f64     kBuffer: offset into the data buffer; kFd: file position
constexpr size_t kFd = 32;         // i32     kFd: the file descriptor
// kBuffer: 1 = move the bytes through the engine's pinned (usbfs-mapped) memory and copy them
// to or from the buffer on the I/O pool, when the buffer itself is not pinned; 0 = in place.
constexpr size_t kStage = 37;      // u8
// A one-URB IN phase whose URB comes back ok with exactly these bytes (kRepostLength of them,
// 0: never) is submitted again into the same memory: a UAS status read that received a Read or
// Write Ready IU for its own tag, which core describes. The engine compares bytes, nothing else.
constexpr size_t kRepostLength = 38;  // u8      0..kRepostMax
constexpr size_t kRepost = 120;       // u8[8]
constexpr size_t kRepostMax = 8;
// How the phase ends the plan (kEnds* bits). In a plan where any phase has one, phases run
// side by side: one that falls short or fails ends only itself, every phase that started is
// reported, and the plan ends when a phase with a matching bit says so (everything still in
// flight is cancelled then) or when every phase is back.
constexpr size_t kEnds = 39;  // u8
constexpr size_t kInline = 48;     // u8[32]  kInline: OUT bytes to send; IN bytes received (out)
constexpr size_t kInlineMax = 32;
// Out: filled by the engine before the promise resolves.
constexpr size_t kStatus = 3;      // u8      a Status
constexpr size_t kReported = 36;   // u8      1: the phase ran and is reported; 0: not started / after the end
constexpr size_t kActual = 40;     // f64     bytes moved (every byte up to the first short or failed URB)
// A phase that ended before its length (a short, stalled, ... URB) may have had later URBs
// queued at the host controller; what they received is not part of the phase (nor written to
// its buffer's file), but it did arrive: the device's next bytes, reported as they are.
constexpr size_t kAfterEndLength = 80;  // f64     bytes received by URBs after the one that ended the phase
constexpr size_t kAfterEndBytes = 88;   // u8[32]  the first of them (min(kAfterEndLength, 32)); the rest dropped
constexpr size_t kAfterEndMax = 32;

// kSourceSide: like kSourceBuffer, in the plan's second buffer (exchange's `side` argument): a
// UAS status IU that does not fit inline, beside a data phase in the caller's buffer.
enum Source : unsigned char { kSourceInline = 0, kSourceBuffer = 1, kSourceFd = 2, kSourceSide = 3 };
enum Ends : unsigned char {
  kEndsWhenBack = 1,        // the phase is back (after any re-posts): the plan is over
  kEndsIfIncomplete = 2,    // the phase fell short or failed: the plan is over
};
enum Start : unsigned char { kStartAtOnce = 0, kStartAfterPrevious = 1 };

// The numbers of core's TransferStatus.
enum Status : unsigned char { kOk = 0, kStall = 1, kTimeout = 2, kOverflow = 3, kCancelled = 4 };

}  // namespace usbscsi::block
