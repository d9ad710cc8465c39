// botExchange: a whole BOT command (CBW out, data phase in `depth` URBs of `chunkSize`,
// CSW in) in one call, completed on the libusb event thread; disk I/O for fd streaming
// runs on a per-exchange I/O thread so the event thread never waits for the disk.
#pragma once

#include <libusb.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "handle.h"

namespace usbscsi {

enum class DataMode { kNone, kBufferIn, kBufferOut, kFdIn, kFdOut };

struct ExchangeConfig {
  uint8_t outEp = 0, inEp = 0;
  uint8_t cbw[31] = {};
  uint32_t timeoutMs = 0;
  DataMode mode = DataMode::kNone;
  uint8_t* buffer = nullptr;  // buffer modes: the caller's bytes (zero copy)
  uint64_t length = 0;
  int fd = -1;
  uint64_t position = 0;
  uint32_t chunkSize = 256 * 1024;
  uint32_t depth = 4;
  // Submit the data-IN URBs together with the CBW and the CSW read behind the data, before
  // the previous phase has completed (saves one completion-to-submit hop per phase). Off by
  // default: QEMU's usb-storage answers an IN packet that reaches it before the CBW (EHCI)
  // or during the data-out phase with a STALL, and deadlocks when a queued CSW packet arrives
  // while the command completes (native/README.md). Real devices NAK until they are ready.
  // Data-OUT URBs always queue right behind the CBW: same endpoint, order kept.
  bool queueAhead = false;
};

// What the exchange hands back to JS; built off the JS thread, settled on it (exchange_js.cc).
struct ExchangeCompletion : Completion {
  using Completion::Completion;
  NativeError error;
  std::string cbwStatus;
  int cbwActual = 0;
  bool hasData = false;
  std::string dataStatus;
  uint64_t dataActual = 0;
  bool hasCsw = false;
  std::string cswStatus;
  std::vector<uint8_t> cswBytes;
  std::vector<std::string> notes;
  Napi::Reference<Napi::Value> bufferRef;  // the caller's data buffer, kept alive (zero copy)
  uint8_t* block = nullptr;                // the exchange block: Settle writes the outcome here
  Napi::Reference<Napi::Value> blockRef;   // keeps it alive until then

  void Settle(Napi::Env env) override;
  void Abandon() override {
    bufferRef.SuppressDestruct();
    blockRef.SuppressDestruct();
  }
};

class Exchange : public Op, public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(Addon* addon, std::shared_ptr<HandleState> state, ExchangeConfig config, ExchangeCompletion* completion);
  ~Exchange() override;

  // Allocates and submits. Returns an error before anything was sent, or empty.
  NativeError Start(uint32_t opId, std::vector<std::string>& notes);
  void Cancel() override;
  bool UsesEndpoint(uint8_t ep) const override { return ep == config_.outEp || ep == config_.inEp; }

 private:
  struct Slot {
    libusb_transfer* transfer = nullptr;
    uint8_t* own = nullptr;  // fd modes: our (pinned if possible) buffer
    bool pinned = false;
    int64_t chunk = -1;
    bool inFlight = false;
  };
  struct IoJob {
    size_t slot;
    bool fill;  // true: pread for OUT; false: pwrite after IN
  };

  static void LIBUSB_CALL OnCbw(libusb_transfer* t);
  static void LIBUSB_CALL OnData(libusb_transfer* t);
  static void LIBUSB_CALL OnCsw(libusb_transfer* t);

  bool IsIn() const { return config_.mode == DataMode::kBufferIn || config_.mode == DataMode::kFdIn; }
  bool IsFd() const { return config_.mode == DataMode::kFdIn || config_.mode == DataMode::kFdOut; }
  uint64_t ChunkOffset(int64_t chunk) const { return static_cast<uint64_t>(chunk) * config_.chunkSize; }
  uint32_t ChunkLength(int64_t chunk) const;
  uint8_t* SlotBuffer(const Slot& slot) const;
  unsigned RemainingMs() const;

  // All *Locked functions run with mu_ held.
  void AssignAndSubmitLocked(size_t slot);  // IN or buffer-OUT: next chunk into this slot
  void SubmitSlotLocked(size_t slot);       // chunk already assigned (and filled for OUT)
  void DrainParkedLocked();
  void SubmitCswLocked();
  void StopDataLocked(const char* status);
  void CancelEverythingLocked();
  void FailLocked(const NativeError& error);
  bool MaybeFinishLocked();  // true when the caller must Deliver() after unlocking
  void MaybeSubmitCswAfterLastChunkLocked();
  bool LooksLikeCsw(const uint8_t* bytes, int length) const;
  void Deliver();
  void IoThread();

  Addon* addon_;
  std::shared_ptr<HandleState> state_;
  libusb_device_handle* handle_;
  ExchangeConfig config_;
  ExchangeCompletion* completion_;
  uint32_t tag_ = 0;
  uint32_t opId_ = 0;
  std::chrono::steady_clock::time_point deadline_;
  std::shared_ptr<Exchange> self_;

  std::mutex mu_;
  std::condition_variable ioCv_;
  bool finished_ = false;
  bool cancelled_ = false;
  NativeError error_;

  libusb_transfer* cbw_ = nullptr;
  bool cbwInFlight_ = false;
  int cbwStatus_ = -1;
  int cbwActual_ = 0;

  std::vector<Slot> slots_;
  int64_t chunks_ = 0;
  int64_t nextChunk_ = 0;       // next chunk to assign
  int64_t submittedChunks_ = 0; // chunks handed to libusb (in order)
  int64_t fullChunks_ = 0;      // chunks that came back whole
  std::vector<int64_t> chunkActual_;  // -1 until the chunk's URB came back
  int dataInFlight_ = 0;
  bool dataStopped_ = false;
  std::string dataStatus_ = "ok";
  int64_t firstIncomplete_ = -1;  // first chunk that came back not full (short, stall, …)
  bool shortIsCsw_ = false;
  std::deque<size_t> parked_;     // ready slots waiting for usbfs memory (in chunk order)

  libusb_transfer* csw_ = nullptr;
  uint8_t cswBuf_[13] = {};
  bool cswSubmitted_ = false;
  bool cswInFlight_ = false;
  bool cswDone_ = false;
  bool cswCancelledByUs_ = false;
  int cswStatus_ = -1;
  int cswActual_ = 0;
  bool cswFromData_ = false;
  uint8_t cswFromDataBytes_[13] = {};

  std::deque<IoJob> io_;
  int ioBusy_ = 0;
  bool ioStop_ = false;
};

}  // namespace usbscsi
