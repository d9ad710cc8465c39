// The exchange block: 128 bytes that carry one BOT command into the engine and its outcome
// back, so that a command crosses the N-API boundary as one typed array (plus the data buffer)
// instead of a request object read field by field and a result object built key by key. The
// JS side (native/botexchange.js, OFFSET) writes and reads it; both sides use these offsets.
// All multi-byte fields are little-endian.
#pragma once

#include <cstddef>

namespace usbscsi::block {

constexpr size_t kSize = 128;

// In: what JS fills before the call.
constexpr size_t kCbw = 0;          // u8[31]  the CBW, as sent
constexpr size_t kFlags = 31;       // u8      kQueueAhead | kHasData | kDataIn | kDataFd
constexpr size_t kOutEndpoint = 32; // u8
constexpr size_t kInEndpoint = 33;  // u8
constexpr size_t kTimeoutMs = 36;   // u32     whole-command budget, >= 1
constexpr size_t kOpId = 40;        // u32     0: none
constexpr size_t kChunkSize = 44;   // u32     0: engine default
constexpr size_t kDepth = 48;       // u32     0: engine default
constexpr size_t kFd = 52;          // i32     fd data phase
constexpr size_t kLength = 56;      // f64     fd data phase length (buffer: the buffer's length)
constexpr size_t kPosition = 64;    // f64     fd data phase file position

constexpr unsigned char kQueueAhead = 1, kHasData = 2, kDataIn = 4, kDataFd = 8;

// Out: what the engine fills before the promise resolves.
constexpr size_t kCbwStatus = 72;   // u8      a Status
constexpr size_t kDataStatus = 73;  // u8
constexpr size_t kCswStatus = 74;   // u8
constexpr size_t kOutFlags = 75;    // u8      kReportedData | kReportedCsw
constexpr size_t kCbwActual = 76;   // u32
constexpr size_t kDataActual = 80;  // f64
constexpr size_t kCswLength = 88;   // u8      0..13
constexpr size_t kCswBytes = 89;    // u8[13]

constexpr unsigned char kReportedData = 1, kReportedCsw = 2;

// The order of native/botexchange.js's STATUS_NAMES.
enum Status : unsigned char { kOk = 0, kStall = 1, kTimeout = 2, kOverflow = 3, kCancelled = 4 };

}  // namespace usbscsi::block
