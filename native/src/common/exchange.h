// exchange: one transfer plan (up to four phases, each on its own endpoint and optional bulk
// stream) run from libusb's callbacks, with no JavaScript per URB. A phase moves `length`
// bytes from or into a small inline buffer, the caller's buffer, or a file descriptor, in
// URBs of `chunkSize` with `depth` in flight; it starts at once or when the previous phase
// moved every byte with status ok. The engine reports facts per phase (status, bytes moved,
// the bytes of an inline IN phase, what arrived after the URB that ended a phase) and never
// interprets them: the protocol is core's.
#pragma once

#include <libusb.h>

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "exchange_block.h"
#include "handle.h"

namespace usbscsi {

struct PhaseConfig {
  uint8_t endpoint = 0;
  uint32_t streamId = 0;
  block::Source source = block::kSourceInline;
  bool afterPrevious = false;
  uint64_t length = 0;
  uint8_t* buffer = nullptr;  // kSourceBuffer: the caller's bytes at the phase's offset (zero copy)
  int fd = -1;
  uint64_t position = 0;
  uint32_t chunkSize = 256 * 1024;
  uint32_t depth = 4;
  bool staged = false;  // kSourceBuffer through the engine's pinned memory (copied at submit / reap)
  uint8_t inlineBytes[block::kInlineMax] = {};
  uint8_t repostLength = 0;  // > 0: submit the URB again when it received exactly repostBytes
  uint8_t repostBytes[block::kRepostMax] = {};
  uint8_t ends = 0;  // block::Ends bits
};

// One command of a job (exchange_block.h, kCommandSize).
struct JobCommand {
  uint8_t bytes[block::kCommandBytesSize];
  uint8_t status[block::kCommandStatusSize];
  uint32_t length;
};

struct ExchangeConfig {
  std::vector<PhaseConfig> phases;
  uint32_t timeoutMs = 0;        // the whole plan; a job: each command
  std::vector<JobCommand> job;  // empty: one plan
};

struct PhaseFacts {
  bool reported = false;
  uint8_t status = block::kOk;
  uint64_t actual = 0;
  std::vector<uint8_t> inlineIn;  // an inline IN phase's bytes
  uint64_t afterEndLength = 0;    // bytes received by URBs queued after the one that ended the phase
  std::vector<uint8_t> afterEnd;  // the first block::kAfterEndMax of them, in chunk order
};

// What the plan hands back to JS; built off the JS thread, settled on it (exchange_js.cc).
struct ExchangeCompletion : Completion {
  using Completion::Completion;
  NativeError error;
  std::vector<PhaseFacts> phases;
  uint32_t jobDone = 0;
  uint32_t reposts = 0;
  std::vector<std::string> notes;
  Napi::Reference<Napi::Value> bufferRef;  // the caller's data buffer, kept alive (zero copy)
  Napi::Reference<Napi::Value> sideRef;    // the plan's side buffer (kSourceSide), kept alive
  uint8_t* block = nullptr;                // the exchange block: Settle writes the facts here
  Napi::Reference<Napi::Value> blockRef;   // keeps it alive until then

  void Settle(Napi::Env env) override;
  void Abandon() override {
    bufferRef.SuppressDestruct();
    sideRef.SuppressDestruct();
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
  bool UsesEndpoint(uint8_t ep) const override;

 private:
  struct Phase;
  struct Slot {
    Exchange* owner = nullptr;
    size_t phase = 0;
    libusb_transfer* transfer = nullptr;
    uint8_t* own = nullptr;  // fd sources: our (pinned if possible) buffer
    bool pinned = false;
    int64_t chunk = -1;
    bool inFlight = false;
  };
  struct Phase {
    PhaseConfig cfg;
    std::vector<Slot> slots;
    int64_t chunks = 0;
    int64_t nextChunk = 0;        // next chunk to assign
    int64_t submittedChunks = 0;  // chunks handed to libusb (in order)
    int64_t fullChunks = 0;       // chunks that came back whole
    std::vector<int64_t> chunkActual;  // -1 until the chunk's URB came back
    std::vector<uint8_t> chunkStatus;  // a block::Status once back
    int inFlight = 0;
    bool started = false;
    bool stopped = false;  // no more submissions: ended short or failed, or the plan ended
    int64_t firstIncomplete = -1;  // first chunk that came back not full (short, stall, ...)
    // Ready slots waiting for usbfs memory (in chunk order). Lists, not deques: libstdc++'s
    // deque allocates even when empty, two mallocs per phase and plan that a TUR paid for nothing.
    std::list<size_t> parked;
    // What URBs queued after firstIncomplete received, by chunk (their first kAfterEndMax
    // bytes): not part of the phase, reported as a fact. Callbacks on one endpoint come back in
    // order, but the map does not rely on it.
    std::vector<std::pair<int64_t, std::vector<uint8_t>>> afterEnd;
    uint64_t afterEndLength = 0;
  };
  struct IoJob {
    size_t phase, slot;
    bool fill;  // true: pread for OUT; false: pwrite after IN
  };

  static void LIBUSB_CALL OnTransfer(libusb_transfer* t);

  static bool IsIn(const Phase& p) { return (p.cfg.endpoint & 0x80) != 0; }
  static bool IsFd(const Phase& p) { return p.cfg.source == block::kSourceFd; }
  // Moves its bytes through the engine's own (pinned) buffers: fd phases (filled or emptied on
  // the I/O pool) and staged buffer phases (copied where the URB is submitted or reaped).
  static bool OwnsBuffers(const Phase& p) { return IsFd(p) || p.cfg.staged; }
  uint64_t ChunkOffset(const Phase& p, int64_t chunk) const { return static_cast<uint64_t>(chunk) * p.cfg.chunkSize; }
  uint32_t ChunkLength(const Phase& p, int64_t chunk) const;
  uint8_t* SlotBuffer(Phase& p, const Slot& slot);
  unsigned RemainingMs();

  // All *Locked functions run with mu_ held.
  void StartCommandLocked();
  void LoadCommandLocked(size_t command);  // a job: the command's bytes, data window, fresh phase state
  bool NextCommandLocked();                // a job: true when the next command was started
  void StartPhaseLocked(size_t phase);
  void AssignAndSubmitLocked(size_t phase, size_t slot);  // IN or buffer-OUT: next chunk into this slot
  void SubmitSlotLocked(size_t phase, size_t slot);       // chunk already assigned (and filled for OUT)
  void DrainParkedLocked(size_t phase);
  void EndAfterLocked(size_t phase);  // the plan ends with this phase: nothing after it runs
  void CancelEverythingLocked();
  void FailLocked(const NativeError& error);
  void QueueIoLocked(IoJob job);
  bool MaybeFinishLocked();  // true when the caller must Deliver() after unlocking
  void OnTransferLocked(Slot& slot, libusb_transfer* t);
  bool RepostLocked(size_t phase, size_t slot, libusb_transfer* t);  // true when the URB went out again
  void PhaseBackLocked(size_t phase, bool whole);                  // side-by-side plans: ends the plan?
  void Deliver();
  void RunIo();

  Addon* addon_;
  std::shared_ptr<HandleState> state_;
  libusb_device_handle* handle_;
  ExchangeCompletion* completion_;
  uint32_t opId_ = 0;
  std::chrono::steady_clock::time_point deadline_;
  bool deadlineFresh_ = false;  // set with deadline_; the next RemainingMs() needs no clock read
  std::shared_ptr<Exchange> self_;

  std::mutex mu_;
  bool finished_ = false;
  bool cancelled_ = false;
  size_t endsAt_;  // no phase after this one starts (the plan's last phase until one falls short)
  NativeError error_;
  std::vector<Phase> phases_;
  uint32_t timeoutMs_;
  bool sideBySide_ = false;  // some phase has kEnds bits (exchange_block.h)
  uint32_t reposts_ = 0;

  std::vector<JobCommand> job_;
  size_t jobIndex_ = 0;      // the command running
  uint32_t jobDone_ = 0;     // commands that completed whole with the given status
  uint64_t jobOffset_ = 0;   // where the running command's data starts, from the data phase's base
  uint8_t* dataBase_ = nullptr;
  uint64_t positionBase_ = 0;

  std::list<IoJob> io_;
  bool ioScheduled_ = false;  // a pool task is draining io_ (one at a time: file order per plan)
  int ioBusy_ = 0;
};

}  // namespace usbscsi
