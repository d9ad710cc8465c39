#include "exchange.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "platform.h"

namespace usbscsi {

namespace {

bool IsFailure(int status) { return status == LIBUSB_TRANSFER_NO_DEVICE || status == LIBUSB_TRANSFER_ERROR; }

NativeError TransferFailure(int status, const std::string& what) {
  return FromLibusb(status == LIBUSB_TRANSFER_NO_DEVICE ? LIBUSB_ERROR_NO_DEVICE : LIBUSB_ERROR_IO, what);
}

uint8_t StatusOf(int status) {
  switch (status) {
    case LIBUSB_TRANSFER_COMPLETED: return block::kOk;
    case LIBUSB_TRANSFER_STALL: return block::kStall;
    case LIBUSB_TRANSFER_TIMED_OUT: return block::kTimeout;
    case LIBUSB_TRANSFER_OVERFLOW: return block::kOverflow;
    default: return block::kCancelled;
  }
}

std::string PhaseName(size_t phase) { return "exchange: phase " + std::to_string(phase); }

// 0 on success, else errno; -1 = end of file before `length`.
int PreadFull(int fd, uint8_t* buf, size_t length, uint64_t offset) {
  size_t done = 0;
  while (done < length) {
    const ssize_t n = pread(fd, buf + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return -1;
    done += static_cast<size_t>(n);
  }
  return 0;
}

int PwriteFull(int fd, const uint8_t* buf, size_t length, uint64_t offset) {
  size_t done = 0;
  while (done < length) {
    const ssize_t n = pwrite(fd, buf + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : EIO;
    done += static_cast<size_t>(n);
  }
  return 0;
}

// The usbfs limit is a module parameter an administrator may change at run time: re-read at
// most once a second, not per command (a sysfs open/read/close on every data phase).
uint64_t TransferMemoryLimitCached(std::string& source) {
  static std::mutex mu;
  static std::chrono::steady_clock::time_point readAt;
  static uint64_t limit = 0;
  static std::string cachedSource;
  std::lock_guard<std::mutex> lock(mu);
  const auto now = std::chrono::steady_clock::now();
  if (cachedSource.empty() || now - readAt > std::chrono::seconds(1)) {
    limit = PlatformTransferMemoryLimit(cachedSource);
    readAt = now;
  }
  source = cachedSource;
  return limit;
}

// Pinned slot buffers outlive one plan: mapping usbfs memory costs an mmap and its page faults,
// which a 64 KiB command would pay every time. Kept per handle, at most this much (and an
// eighth of usbfs_memory_mb, which they count toward).
constexpr size_t kSpareMax = 8u << 20;

uint8_t* TakePinned(HandleState& state, libusb_device_handle* h, size_t bytes) {
  {
    std::lock_guard<std::mutex> lock(state.mu);
    for (auto it = state.spare.begin(); it != state.spare.end(); ++it) {
      if (it->second != bytes) continue;
      uint8_t* p = it->first;
      state.spareBytes -= bytes;
      state.spare.erase(it);
      return p;
    }
  }
  return libusb_dev_mem_alloc(h, bytes);
}

void GivePinned(HandleState& state, libusb_device_handle* h, uint8_t* p, size_t bytes) {
  std::string source;
  const uint64_t limit = TransferMemoryLimitCached(source);
  const uint64_t cap = limit > 0 ? std::min<uint64_t>(kSpareMax, limit / 8) : kSpareMax;
  {
    std::lock_guard<std::mutex> lock(state.mu);
    if (state.handle != nullptr && !state.closed && state.spareBytes + bytes <= cap) {
      state.spare.emplace_back(p, bytes);
      state.spareBytes += bytes;
      return;
    }
  }
  libusb_dev_mem_free(h, p, bytes);
}

}  // namespace

Exchange::Exchange(Addon* addon, std::shared_ptr<HandleState> state, ExchangeConfig config,
                   ExchangeCompletion* completion)
    : addon_(addon), state_(std::move(state)), handle_(state_->handle), completion_(completion) {
  timeoutMs_ = config.timeoutMs;
  deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(config.timeoutMs);
  deadlineFresh_ = true;
  phases_.resize(config.phases.size());
  for (size_t i = 0; i < phases_.size(); ++i) phases_[i].cfg = config.phases[i];
  endsAt_ = phases_.empty() ? 0 : phases_.size() - 1;
  for (const Phase& p : phases_) sideBySide_ = sideBySide_ || p.cfg.ends != 0;
  job_ = std::move(config.job);
  if (!job_.empty()) {
    dataBase_ = phases_[1].cfg.buffer;
    positionBase_ = phases_[1].cfg.position;
  }
}

Exchange::~Exchange() {
  // Deliver() frees everything once the plan ran; this covers a Start() that failed.
  for (Phase& p : phases_) {
    for (Slot& s : p.slots) {
      if (s.transfer) libusb_free_transfer(s.transfer);
      if (s.own && s.pinned) libusb_dev_mem_free(handle_, s.own, p.cfg.chunkSize);
      else std::free(s.own);
    }
  }
}

void Exchange::LoadCommandLocked(size_t k) {
  const JobCommand& c = job_[k];
  jobIndex_ = k;
  std::memcpy(phases_[0].cfg.inlineBytes, c.bytes, block::kCommandBytesSize);
  PhaseConfig& data = phases_[1].cfg;
  data.length = c.length;
  if (data.source == block::kSourceFd) data.position = positionBase_ + jobOffset_;
  else data.buffer = dataBase_ + jobOffset_;
  std::memset(phases_[2].cfg.inlineBytes, 0, block::kInlineMax);
  for (Phase& p : phases_) {
    p.chunks = static_cast<int64_t>((p.cfg.length + p.cfg.chunkSize - 1) / p.cfg.chunkSize);
    p.nextChunk = p.submittedChunks = p.fullChunks = 0;
    p.chunkActual.assign(static_cast<size_t>(p.chunks), -1);
    p.chunkStatus.assign(static_cast<size_t>(p.chunks), block::kOk);
    p.started = p.stopped = false;
    p.firstIncomplete = -1;
    p.parked.clear();
    p.afterEnd.clear();
    p.afterEndLength = 0;
    for (Slot& s : p.slots) s.chunk = -1;
  }
  endsAt_ = phases_.size() - 1;
  deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs_);
  deadlineFresh_ = true;
}

bool Exchange::NextCommandLocked() {
  if (job_.empty() || cancelled_ || !error_.empty()) return false;
  for (const Phase& p : phases_)
    if (!p.started || p.fullChunks != p.chunks) return false;
  const Phase& status = phases_.back();
  if (std::memcmp(status.cfg.inlineBytes, job_[jobIndex_].status, block::kCommandStatusSize) != 0) return false;
  ++jobDone_;
  if (jobDone_ >= job_.size()) return false;
  jobOffset_ += job_[jobIndex_].length;
  LoadCommandLocked(jobIndex_ + 1);
  StartCommandLocked();
  return true;
}

void Exchange::StartCommandLocked() {
  for (size_t i = 0; i < phases_.size(); ++i)
    if (i == 0 || !phases_[i].cfg.afterPrevious) StartPhaseLocked(i);
}

bool Exchange::UsesEndpoint(uint8_t ep) const {
  for (const Phase& p : phases_)
    if (p.cfg.endpoint == ep) return true;
  return false;
}

uint32_t Exchange::ChunkLength(const Phase& p, int64_t chunk) const {
  return static_cast<uint32_t>(std::min<uint64_t>(p.cfg.chunkSize, p.cfg.length - ChunkOffset(p, chunk)));
}

uint8_t* Exchange::SlotBuffer(Phase& p, const Slot& slot) {
  if (p.cfg.staged) return slot.own;
  switch (p.cfg.source) {
    case block::kSourceInline: return p.cfg.inlineBytes;
    case block::kSourceBuffer: return p.cfg.buffer + ChunkOffset(p, slot.chunk);
    default: return slot.own;
  }
}

unsigned Exchange::RemainingMs() {
  if (deadlineFresh_) {
    // The deadline was set just now (the plan or the job's command starts): its first URB gets
    // the whole budget without another clock read (a syscall in a guest without a vDSO clock).
    deadlineFresh_ = false;
    return timeoutMs_;
  }
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - std::chrono::steady_clock::now()).count();
  return left < 1 ? 1u : static_cast<unsigned>(left);
}

NativeError Exchange::Start(uint32_t opId, std::vector<std::string>& notes) {
  std::string source;
  uint64_t limit = 0;
  bool limitRead = false;
  bool heapFallback = false;
  uint64_t jobTotal = 0;
  if (!job_.empty()) {  // slots for the largest command; LoadCommandLocked sets each one's length
    uint32_t largest = 0;
    for (const JobCommand& c : job_) {
      largest = std::max(largest, c.length);
      jobTotal += c.length;
    }
    phases_[1].cfg.length = largest;
  }
  for (size_t i = 0; i < phases_.size(); ++i) {
    Phase& p = phases_[i];
    PhaseConfig& cfg = p.cfg;
    if (cfg.source == block::kSourceInline) {
      cfg.chunkSize = static_cast<uint32_t>(cfg.length);
      cfg.depth = 1;
    }
    p.chunks = static_cast<int64_t>((cfg.length + cfg.chunkSize - 1) / cfg.chunkSize);
    uint32_t depth = static_cast<uint32_t>(std::min<int64_t>(cfg.depth, p.chunks));
    if (cfg.source != block::kSourceInline) {
      if (!limitRead) {
        limit = TransferMemoryLimitCached(source);
        limitRead = true;
      }
      if (limit > 0) {
        if (cfg.chunkSize > limit) {
          NativeError e = FromLibusb(LIBUSB_ERROR_NO_MEM, PhaseName(i));
          e.message = PhaseName(i) + ": chunkSize " + std::to_string(cfg.chunkSize) +
                      " exceeds the usbfs transfer memory (" + std::to_string(limit / (1024 * 1024)) + " MiB, " +
                      source + "): " + e.message.substr(e.message.find("; ") + 2);
          return e;
        }
        // usbfs also charges each URB's bookkeeping, and other transfers and programs share
        // the pool: keep an eighth (at most 1 MiB) free.
        const uint64_t fit = std::max<uint64_t>(1, (limit - std::min<uint64_t>(limit / 8, 1 << 20)) / cfg.chunkSize);
        if (depth > fit) {
          const uint64_t wanted = static_cast<uint64_t>(depth) * cfg.chunkSize;
          notes.push_back("phase " + std::to_string(i) + ": depth reduced from " + std::to_string(depth) + " to " +
                          std::to_string(fit) + ": depth x chunkSize (" + std::to_string(wanted) +
                          " bytes) would exceed " + source + " (" + std::to_string(limit) + " bytes)");
          depth = static_cast<uint32_t>(fit);
        }
      }
    }
    if (cfg.source == block::kSourceFd) {
      struct stat st;
      if (fstat(cfg.fd, &st) != 0) return FromErrno(errno, PhaseName(i) + ": fd " + std::to_string(cfg.fd));
      const uint64_t end = cfg.position + (job_.empty() ? cfg.length : jobTotal);
      if (!IsIn(p) && S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) < end) {
        return MakeError("E_BAD_INPUT", PhaseName(i) + ": the file has " + std::to_string(st.st_size) +
                                            " bytes, fewer than position + length (" + std::to_string(end) +
                                            "); nothing was sent");
      }
    }
    p.slots.resize(depth);
    for (Slot& s : p.slots) {
      s.owner = this;
      s.phase = i;
      s.transfer = libusb_alloc_transfer(0);
      if (!s.transfer) return FromLibusb(LIBUSB_ERROR_NO_MEM, PhaseName(i) + ": allocate transfers");
      if (OwnsBuffers(p)) {
        s.own = TakePinned(*state_, handle_, cfg.chunkSize);
        s.pinned = s.own != nullptr;
        if (!s.own && cfg.staged) break;  // below: the phase moves the caller's memory in place
        if (!s.own) {
          heapFallback = true;
          s.own = static_cast<uint8_t*>(std::aligned_alloc(4096, (cfg.chunkSize + 4095) / 4096 * 4096));
        }
        if (!s.own) return FromLibusb(LIBUSB_ERROR_NO_MEM, PhaseName(i) + ": allocate streaming buffers");
      }
    }
    if (cfg.staged && (p.slots.empty() || !p.slots.back().own)) {
      // Staging only pays when the memory is pinned: without it the kernel copies in place anyway.
      for (Slot& s : p.slots) {
        if (s.own) GivePinned(*state_, handle_, s.own, cfg.chunkSize);
        s.owner = this;
        s.phase = i;
        s.own = nullptr;
        s.pinned = false;
        if (!s.transfer) s.transfer = libusb_alloc_transfer(0);
        if (!s.transfer) return FromLibusb(LIBUSB_ERROR_NO_MEM, PhaseName(i) + ": allocate transfers");
      }
      cfg.staged = false;
      notes.push_back("phase " + std::to_string(i) +
                      ": pinned transfer memory (usbfs mapping) refused: the data phase uses the caller's memory, "
                      "which the kernel copies");
    }
    p.chunkActual.assign(static_cast<size_t>(p.chunks), -1);
    p.chunkStatus.assign(static_cast<size_t>(p.chunks), block::kOk);
  }
  if (heapFallback) notes.push_back("pinned transfer memory (libusb_dev_mem_alloc) unavailable: using heap buffers");

  {
    std::lock_guard<std::mutex> lock(state_->mu);
    opId_ = opId ? opId : state_->nextInternalId++;
    state_->active[opId_] = shared_from_this();
    ++state_->libusbInFlight;  // the whole plan counts as one until Deliver()
  }
  completion_->notes = notes;
  self_ = shared_from_this();

  bool fin;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!job_.empty()) LoadCommandLocked(0);
    StartCommandLocked();
    fin = MaybeFinishLocked();
  }
  if (fin) Deliver();
  return {};
}

void Exchange::StartPhaseLocked(size_t i) {
  if (i >= phases_.size() || i > endsAt_ || cancelled_ || !error_.empty()) return;
  Phase& p = phases_[i];
  if (p.started) return;
  p.started = true;
  if (IsFd(p) && !IsIn(p)) {
    for (size_t s = 0; s < p.slots.size() && p.nextChunk < p.chunks; ++s) {
      p.slots[s].chunk = p.nextChunk++;
      QueueIoLocked({i, s, true});
    }
    return;
  }
  for (size_t s = 0; s < p.slots.size(); ++s) AssignAndSubmitLocked(i, s);
}

void Exchange::AssignAndSubmitLocked(size_t i, size_t s) {
  Phase& p = phases_[i];
  if (p.stopped || p.nextChunk >= p.chunks) return;
  p.slots[s].chunk = p.nextChunk++;
  SubmitSlotLocked(i, s);
}

void Exchange::SubmitSlotLocked(size_t i, size_t s) {
  Phase& p = phases_[i];
  if (p.stopped) return;
  if (!p.parked.empty()) {  // keep chunk order on the wire
    p.parked.push_back(s);
    return;
  }
  Slot& slot = p.slots[s];
  const int length = static_cast<int>(ChunkLength(p, slot.chunk));
  if (p.cfg.staged && !IsIn(p)) std::memcpy(slot.own, p.cfg.buffer + ChunkOffset(p, slot.chunk), length);
  if (p.cfg.streamId != 0) {
    libusb_fill_bulk_stream_transfer(slot.transfer, handle_, p.cfg.endpoint, p.cfg.streamId, SlotBuffer(p, slot),
                                     length, &Exchange::OnTransfer, &slot, RemainingMs());
  } else {
    libusb_fill_bulk_transfer(slot.transfer, handle_, p.cfg.endpoint, SlotBuffer(p, slot), length,
                              &Exchange::OnTransfer, &slot, RemainingMs());
  }
  const int rc = libusb_submit_transfer(slot.transfer);
  if (rc == 0) {
    EventPump::NoteSubmitted();
    slot.inFlight = true;
    ++p.inFlight;
    ++p.submittedChunks;
  } else if (rc == LIBUSB_ERROR_NO_MEM && p.inFlight > 0) {
    // usbfs memory is shared with other transfers (and processes): run shallower.
    const std::string note = "phase " + std::to_string(i) +
                             ": usbfs transfer memory exhausted while running: fewer URBs kept in flight";
    if (std::find(completion_->notes.begin(), completion_->notes.end(), note) == completion_->notes.end()) {
      completion_->notes.push_back(note);
    }
    p.parked.push_back(s);
  } else {
    FailLocked(FromLibusb(rc, PhaseName(i) + ": submit a URB"));
  }
}

void Exchange::DrainParkedLocked(size_t i) {
  Phase& p = phases_[i];
  while (!p.parked.empty() && !p.stopped) {
    const size_t s = p.parked.front();
    p.parked.pop_front();
    const size_t before = p.parked.size();
    SubmitSlotLocked(i, s);
    if (p.parked.size() > before) {  // parked again (still no memory): put it back first
      p.parked.pop_back();
      p.parked.push_front(s);
      return;
    }
  }
}

void Exchange::EndAfterLocked(size_t i) {
  endsAt_ = std::min(endsAt_, i);
  for (size_t q = i + 1; q < phases_.size(); ++q) {
    Phase& p = phases_[q];
    p.stopped = true;
    p.parked.clear();
    for (Slot& s : p.slots)
      if (s.inFlight) libusb_cancel_transfer(s.transfer);
  }
}

void Exchange::CancelEverythingLocked() {
  for (Phase& p : phases_) {
    p.stopped = true;
    p.parked.clear();
    for (Slot& s : p.slots)
      if (s.inFlight) libusb_cancel_transfer(s.transfer);
  }
}

void Exchange::FailLocked(const NativeError& error) {
  if (error_.empty()) error_ = error;
  CancelEverythingLocked();
}

void Exchange::Cancel() {
  bool fin;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return;
    cancelled_ = true;
    CancelEverythingLocked();
    fin = MaybeFinishLocked();
  }
  if (fin) Deliver();
}

void Exchange::QueueIoLocked(IoJob job) {
  deadlineFresh_ = false;  // the disk takes its time before the URB is submitted
  io_.push_back(job);
  if (ioScheduled_) return;
  ioScheduled_ = true;
  if (!addon_->Io().Post([keep = shared_from_this()] { keep->RunIo(); })) {
    ioScheduled_ = false;
    io_.clear();
    FailLocked(MakeError("E_DEVICE_GONE", "exchange: the engine is shutting down"));
  }
}

void LIBUSB_CALL Exchange::OnTransfer(libusb_transfer* t) {
  auto* slot = static_cast<Slot*>(t->user_data);
  Exchange* ex = slot->owner;
  bool fin;
  {
    std::lock_guard<std::mutex> lock(ex->mu_);
    ex->OnTransferLocked(*slot, t);
    fin = ex->MaybeFinishLocked();
  }
  if (fin) ex->Deliver();
}

void Exchange::OnTransferLocked(Slot& slot, libusb_transfer* t) {
  const size_t i = slot.phase;
  Phase& p = phases_[i];
  const size_t s = static_cast<size_t>(&slot - p.slots.data());
  slot.inFlight = false;
  --p.inFlight;
  const int64_t c = slot.chunk;
  const int actual = t->actual_length;
  p.chunkActual[static_cast<size_t>(c)] = actual;
  p.chunkStatus[static_cast<size_t>(c)] = StatusOf(t->status);
  if (IsFailure(t->status)) {
    FailLocked(TransferFailure(t->status, PhaseName(i)));
    return;
  }
  if (RepostLocked(i, s, t)) return;
  const bool full = t->status == LIBUSB_TRANSFER_COMPLETED && static_cast<uint32_t>(actual) == ChunkLength(p, c);
  const bool afterEnd = p.firstIncomplete >= 0 && c > p.firstIncomplete;
  if (!full && !afterEnd) p.firstIncomplete = c;
  if (afterEnd) {
    // Queued behind the URB that ended the phase: not part of it (never written to an fd), but
    // the device sent it (a BOT device's CSW, say); kept for the caller to judge.
    if (actual > 0) {
      p.afterEndLength += static_cast<uint64_t>(actual);
      const uint8_t* bytes = SlotBuffer(p, slot);
      const size_t kept = std::min<size_t>(static_cast<size_t>(actual), block::kAfterEndMax);
      p.afterEnd.emplace_back(c, std::vector<uint8_t>(bytes, bytes + kept));
    }
    return;
  }
  const bool fdIn = IsFd(p) && IsIn(p);
  if (p.cfg.staged && IsIn(p) && actual > 0) {
    // The host controller filled the pinned chunk in place; the caller's buffer gets it here,
    // where usbfs would otherwise have copied it (and allocated kernel memory for it) on reap.
    std::memcpy(p.cfg.buffer + ChunkOffset(p, c), slot.own, static_cast<size_t>(actual));
  }
  if (full) {
    if (++p.fullChunks == p.chunks) {
      if (i + 1 < phases_.size() && phases_[i + 1].cfg.afterPrevious) StartPhaseLocked(i + 1);
      if (sideBySide_) PhaseBackLocked(i, true);
    }
    if (fdIn) {
      QueueIoLocked({i, s, false});  // write it out; then the slot takes the next chunk
    } else if (IsFd(p)) {
      if (!p.stopped && p.nextChunk < p.chunks) {
        slot.chunk = p.nextChunk++;
        QueueIoLocked({i, s, true});
      }
    } else {
      DrainParkedLocked(i);
      AssignAndSubmitLocked(i, s);
    }
    return;
  }
  // This URB ended the phase (short, stall, timeout, overflow, cancelled), and the plan with it.
  if (fdIn && actual > 0) QueueIoLocked({i, s, false});
  p.stopped = true;
  p.parked.clear();
  for (Slot& other : p.slots)
    if (other.inFlight) libusb_cancel_transfer(other.transfer);
  if (sideBySide_) PhaseBackLocked(i, false);
  else EndAfterLocked(i);
}

bool Exchange::RepostLocked(size_t i, size_t s, libusb_transfer* t) {
  Phase& p = phases_[i];
  const uint8_t n = p.cfg.repostLength;
  if (n == 0 || p.chunks != 1 || t->status != LIBUSB_TRANSFER_COMPLETED || t->actual_length != n) return false;
  if (p.stopped || cancelled_ || !error_.empty() || std::memcmp(t->buffer, p.cfg.repostBytes, n) != 0) return false;
  // The same read again, from the callback: no JavaScript between a Ready IU and the status.
  ++reposts_;
  p.chunkActual[0] = -1;
  --p.submittedChunks;
  SubmitSlotLocked(i, s);
  if (p.inFlight == 0 && error_.empty()) FailLocked(FromLibusb(LIBUSB_ERROR_NO_MEM, PhaseName(i) + ": submit again"));
  return true;
}

void Exchange::PhaseBackLocked(size_t i, bool whole) {
  const uint8_t ends = phases_[i].cfg.ends;
  if ((ends & block::kEndsWhenBack) || (!whole && (ends & block::kEndsIfIncomplete))) CancelEverythingLocked();
}

bool Exchange::MaybeFinishLocked() {
  for (;;) {
    if (finished_) return false;
    if (ioBusy_ > 0 || !io_.empty()) return false;
    for (Phase& p : phases_)
      if (p.inFlight > 0) return false;
    for (size_t i = 0; i < phases_.size(); ++i) {
      Phase& p = phases_[i];
      if (p.parked.empty() || p.stopped) continue;
      DrainParkedLocked(i);
      if (p.inFlight > 0) return false;
      FailLocked(FromLibusb(LIBUSB_ERROR_NO_MEM, PhaseName(i) + ": submit a URB"));
    }
    // A job goes on from here, with everything of the previous command back: the next
    // command's first phase is submitted from its last one's completion.
    if (!NextCommandLocked()) break;
  }
  finished_ = true;
  return true;
}

void Exchange::Deliver() {
  ExchangeCompletion* c = completion_;
  completion_ = nullptr;
  c->error = error_;
  c->jobDone = jobDone_;
  c->reposts = reposts_;
  c->phases.resize(phases_.size());
  for (size_t i = 0; i < phases_.size(); ++i) {
    Phase& p = phases_[i];
    PhaseFacts& f = c->phases[i];
    if (!p.started) {
      // Cancelled between two phases: the next one is reported as cancelled with nothing moved.
      if (cancelled_ && i <= endsAt_) {
        f.reported = true;
        f.status = block::kCancelled;
      }
      break;
    }
    f.reported = true;
    f.status = block::kOk;
    bool whole = true;
    for (int64_t k = 0; k < p.chunks; ++k) {
      const int64_t a = p.chunkActual[static_cast<size_t>(k)];
      if (a < 0) {  // never submitted or never back: the plan was cancelled or failed first
        f.status = block::kCancelled;
        whole = false;
        break;
      }
      f.actual += static_cast<uint64_t>(a);
      if (static_cast<uint32_t>(a) < ChunkLength(p, k) || p.chunkStatus[static_cast<size_t>(k)] != block::kOk) {
        f.status = p.chunkStatus[static_cast<size_t>(k)];
        whole = false;
        break;
      }
    }
    if (IsIn(p) && p.cfg.source == block::kSourceInline) {
      f.inlineIn.assign(p.cfg.inlineBytes, p.cfg.inlineBytes + std::min<uint64_t>(f.actual, block::kInlineMax));
    }
    if (p.afterEndLength > 0) {
      std::sort(p.afterEnd.begin(), p.afterEnd.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      f.afterEndLength = p.afterEndLength;
      for (const auto& chunk : p.afterEnd) {
        const size_t room = block::kAfterEndMax - f.afterEnd.size();
        const auto take = static_cast<std::ptrdiff_t>(std::min(room, chunk.second.size()));
        f.afterEnd.insert(f.afterEnd.end(), chunk.second.begin(), chunk.second.begin() + take);
      }
    }
    if (!whole && !sideBySide_) break;  // the first phase that did not complete is the last one reported
  }
  for (Phase& p : phases_) {
    for (Slot& s : p.slots) {
      libusb_free_transfer(s.transfer);
      s.transfer = nullptr;
      if (s.own && s.pinned) GivePinned(*state_, handle_, s.own, p.cfg.chunkSize);
      else std::free(s.own);
      s.own = nullptr;
    }
  }
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->active.erase(opId_);
    --state_->libusbInFlight;
    state_->cv.notify_all();
  }
  addon_->Post(c);
  std::shared_ptr<Exchange> keep = std::move(self_);  // may be the last reference
}

void Exchange::RunIo() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!io_.empty()) {
    const IoJob job = io_.front();
    io_.pop_front();
    ++ioBusy_;
    Phase& p = phases_[job.phase];
    Slot& slot = p.slots[job.slot];
    const int64_t chunk = slot.chunk;
    const uint64_t offset = p.cfg.position + ChunkOffset(p, chunk);
    const size_t length =
        job.fill ? ChunkLength(p, chunk) : static_cast<size_t>(p.chunkActual[static_cast<size_t>(chunk)]);
    uint8_t* buf = slot.own;
    const int fd = p.cfg.fd;
    const bool skip = job.fill && p.stopped;
    lock.unlock();
    int err = 0;
    if (!skip) err = job.fill ? PreadFull(fd, buf, length, offset) : PwriteFull(fd, buf, length, offset);
    lock.lock();
    --ioBusy_;
    if (err == -1) {
      FailLocked(MakeError("E_BAD_INPUT", PhaseName(job.phase) + ": the file ended before byte " +
                                              std::to_string(offset + length) + " while streaming it out"));
    } else if (err != 0) {
      const char* what = job.fill ? ": read the source file" : ": write the destination file";
      FailLocked(FromErrno(err, PhaseName(job.phase) + what));
    } else if (job.fill) {
      SubmitSlotLocked(job.phase, job.slot);
    } else {
      DrainParkedLocked(job.phase);
      AssignAndSubmitLocked(job.phase, job.slot);
    }
  }
  ioScheduled_ = false;
  const bool fin = MaybeFinishLocked();
  lock.unlock();
  if (fin) Deliver();
}

}  // namespace usbscsi
