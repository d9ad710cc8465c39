#include "exchange.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "platform.h"

namespace usbscsi {

namespace {

bool IsFailure(int status) { return status == LIBUSB_TRANSFER_NO_DEVICE || status == LIBUSB_TRANSFER_ERROR; }

NativeError TransferFailure(int status, const std::string& what) {
  return FromLibusb(status == LIBUSB_TRANSFER_NO_DEVICE ? LIBUSB_ERROR_NO_DEVICE : LIBUSB_ERROR_IO, what);
}

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

}  // namespace

Exchange::Exchange(Addon* addon, std::shared_ptr<HandleState> state, ExchangeConfig config, ExchangeCompletion* completion)
    : addon_(addon), state_(std::move(state)), handle_(state_->handle), config_(config), completion_(completion) {
  std::memcpy(&tag_, config_.cbw + 4, 4);  // compared as raw bytes, endianness irrelevant
}

Exchange::~Exchange() {
  // Deliver() frees everything once the exchange ran; this covers a Start() that failed.
  if (cbw_) libusb_free_transfer(cbw_);
  if (csw_) libusb_free_transfer(csw_);
  for (Slot& s : slots_) {
    if (s.transfer) libusb_free_transfer(s.transfer);
    if (s.own && s.pinned) libusb_dev_mem_free(handle_, s.own, config_.chunkSize);
    else std::free(s.own);
  }
}

uint32_t Exchange::ChunkLength(int64_t chunk) const {
  const uint64_t offset = ChunkOffset(chunk);
  return static_cast<uint32_t>(std::min<uint64_t>(config_.chunkSize, config_.length - offset));
}

uint8_t* Exchange::SlotBuffer(const Slot& slot) const {
  return IsFd() ? slot.own : config_.buffer + ChunkOffset(slot.chunk);
}

unsigned Exchange::RemainingMs() const {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - std::chrono::steady_clock::now()).count();
  return left < 1 ? 1u : static_cast<unsigned>(left);
}

bool Exchange::LooksLikeCsw(const uint8_t* bytes, int length) const {
  return length == 13 && std::memcmp(bytes, "USBS", 4) == 0 && std::memcmp(bytes + 4, &tag_, 4) == 0;
}

NativeError Exchange::Start(uint32_t opId, std::vector<std::string>& notes) {
  deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.timeoutMs);
  chunks_ = config_.mode == DataMode::kNone
                ? 0
                : static_cast<int64_t>((config_.length + config_.chunkSize - 1) / config_.chunkSize);
  uint32_t depth = static_cast<uint32_t>(std::min<int64_t>(config_.depth, std::max<int64_t>(chunks_, 1)));

  std::string source;
  const uint64_t limit = chunks_ > 0 ? TransferMemoryLimitCached(source) : 0;
  if (limit > 0) {
    if (config_.chunkSize > limit) {
      NativeError e = FromLibusb(LIBUSB_ERROR_NO_MEM, "botExchange");
      e.message = "botExchange: chunkSize " + std::to_string(config_.chunkSize) + " exceeds the usbfs transfer memory (" +
                  std::to_string(limit / (1024 * 1024)) + " MiB, " + source + "): " + e.message.substr(e.message.find("; ") + 2);
      return e;
    }
    // usbfs also charges each URB's bookkeeping, and the CBW/CSW and other programs share
    // the pool: keep an eighth (at most 1 MiB) free.
    const uint64_t fit = std::max<uint64_t>(1, (limit - std::min<uint64_t>(limit / 8, 1 << 20)) / config_.chunkSize);
    if (depth > fit) {
      notes.push_back("depth reduced from " + std::to_string(depth) + " to " + std::to_string(fit) + ": depth x chunkSize (" +
                      std::to_string(static_cast<uint64_t>(depth) * config_.chunkSize) + " bytes) would exceed " + source +
                      " (" + std::to_string(limit) + " bytes)");
      depth = static_cast<uint32_t>(fit);
    }
  }

  if (config_.mode == DataMode::kFdOut || config_.mode == DataMode::kFdIn) {
    struct stat st;
    if (fstat(config_.fd, &st) != 0) return FromErrno(errno, "botExchange: fd " + std::to_string(config_.fd));
    if (config_.mode == DataMode::kFdOut && S_ISREG(st.st_mode) &&
        static_cast<uint64_t>(st.st_size) < config_.position + config_.length) {
      return MakeError("E_BAD_INPUT", "botExchange: the file has " + std::to_string(st.st_size) + " bytes, fewer than position + length (" +
                                          std::to_string(config_.position + config_.length) + "); nothing was sent");
    }
  }

  cbw_ = libusb_alloc_transfer(0);
  csw_ = libusb_alloc_transfer(0);
  if (!cbw_ || !csw_) return FromLibusb(LIBUSB_ERROR_NO_MEM, "botExchange: allocate transfers");
  slots_.resize(chunks_ > 0 ? depth : 0);
  bool heapFallback = false;
  for (Slot& s : slots_) {
    s.transfer = libusb_alloc_transfer(0);
    if (!s.transfer) return FromLibusb(LIBUSB_ERROR_NO_MEM, "botExchange: allocate transfers");
    if (IsFd()) {
      s.own = libusb_dev_mem_alloc(handle_, config_.chunkSize);
      s.pinned = s.own != nullptr;
      if (!s.own) {
        heapFallback = true;
        s.own = static_cast<uint8_t*>(std::aligned_alloc(4096, (config_.chunkSize + 4095) / 4096 * 4096));
      }
      if (!s.own) return FromLibusb(LIBUSB_ERROR_NO_MEM, "botExchange: allocate streaming buffers");
    }
  }
  if (heapFallback) notes.push_back("pinned transfer memory (libusb_dev_mem_alloc) unavailable: using heap buffers");
  chunkActual_.assign(static_cast<size_t>(chunks_), -1);

  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->busyEndpoints.count(config_.outEp) || state_->busyEndpoints.count(config_.inEp)) {
      return MakeError("E_BAD_INPUT", "botExchange: a transfer is already pending on the bulk endpoints (one command at a time)");
    }
    opId_ = opId ? opId : state_->nextInternalId++;
    state_->active[opId_] = shared_from_this();
    state_->busyEndpoints.insert(config_.outEp);
    state_->busyEndpoints.insert(config_.inEp);
    ++state_->libusbInFlight;  // the whole exchange counts as one until Deliver()
  }
  completion_->notes = notes;
  self_ = shared_from_this();
  if (IsFd()) {
    std::thread([keep = shared_from_this()] { keep->IoThread(); }).detach();
  }

  bool fin;
  {
    std::lock_guard<std::mutex> lock(mu_);
    libusb_fill_bulk_transfer(cbw_, handle_, config_.outEp, config_.cbw, 31, &Exchange::OnCbw, this, RemainingMs());
    const int rc = libusb_submit_transfer(cbw_);
    if (rc < 0) {
      FailLocked(FromLibusb(rc, "botExchange: send the CBW"));
    } else {
      cbwInFlight_ = true;
      switch (config_.mode) {
        case DataMode::kNone:
          if (config_.queueAhead) SubmitCswLocked();  // else when the CBW is out (MaybeFinishLocked)
          break;
        case DataMode::kBufferOut:
          for (size_t s = 0; s < slots_.size(); ++s) AssignAndSubmitLocked(s);
          if (config_.queueAhead) SubmitCswLocked();
          break;
        case DataMode::kFdOut:
          for (size_t s = 0; s < slots_.size() && nextChunk_ < chunks_; ++s) {
            slots_[s].chunk = nextChunk_++;
            io_.push_back({s, true});
          }
          ioCv_.notify_all();
          if (config_.queueAhead) SubmitCswLocked();
          break;
        case DataMode::kBufferIn:
        case DataMode::kFdIn:
          if (config_.queueAhead) {
            for (size_t s = 0; s < slots_.size(); ++s) AssignAndSubmitLocked(s);
            MaybeSubmitCswAfterLastChunkLocked();
          }  // else from OnCbw, once the command is out
          break;
      }
    }
    fin = MaybeFinishLocked();
  }
  if (fin) Deliver();
  return {};
}

void Exchange::AssignAndSubmitLocked(size_t s) {
  if (dataStopped_ || nextChunk_ >= chunks_) return;
  slots_[s].chunk = nextChunk_++;
  SubmitSlotLocked(s);
}

void Exchange::SubmitSlotLocked(size_t s) {
  if (dataStopped_) return;
  if (!parked_.empty()) {  // keep chunk order on the wire
    parked_.push_back(s);
    return;
  }
  Slot& slot = slots_[s];
  const uint8_t ep = IsIn() ? config_.inEp : config_.outEp;
  libusb_fill_bulk_transfer(slot.transfer, handle_, ep, SlotBuffer(slot), static_cast<int>(ChunkLength(slot.chunk)),
                            &Exchange::OnData, this, RemainingMs());
  const int rc = libusb_submit_transfer(slot.transfer);
  if (rc == 0) {
    slot.inFlight = true;
    ++dataInFlight_;
    ++submittedChunks_;
  } else if (rc == LIBUSB_ERROR_NO_MEM && dataInFlight_ > 0) {
    // usbfs memory is shared with other transfers (and processes): run shallower.
    if (completion_->notes.empty() || completion_->notes.back().rfind("usbfs", 0) != 0) {
      completion_->notes.push_back("usbfs transfer memory exhausted while running: fewer URBs kept in flight");
    }
    parked_.push_back(s);
  } else {
    FailLocked(FromLibusb(rc, "botExchange: submit a data URB"));
  }
}

void Exchange::DrainParkedLocked() {
  while (!parked_.empty() && !dataStopped_) {
    const size_t s = parked_.front();
    parked_.pop_front();
    const size_t before = parked_.size();
    SubmitSlotLocked(s);
    if (parked_.size() > before) {  // parked again (still no memory): put it back first
      parked_.pop_back();
      parked_.push_front(s);
      return;
    }
  }
}

void Exchange::MaybeSubmitCswAfterLastChunkLocked() {
  if (config_.queueAhead && IsIn() && !cswSubmitted_ && !dataStopped_ && parked_.empty() && submittedChunks_ == chunks_) SubmitCswLocked();
}

void Exchange::SubmitCswLocked() {
  libusb_fill_bulk_transfer(csw_, handle_, config_.inEp, cswBuf_, sizeof cswBuf_, &Exchange::OnCsw, this, RemainingMs());
  cswSubmitted_ = true;
  cswDone_ = false;
  cswCancelledByUs_ = false;
  const int rc = libusb_submit_transfer(csw_);
  if (rc < 0) {
    FailLocked(FromLibusb(rc, "botExchange: queue the CSW read"));
    return;
  }
  cswInFlight_ = true;
}

void Exchange::CancelEverythingLocked() {
  dataStopped_ = true;
  parked_.clear();
  if (cbwInFlight_) libusb_cancel_transfer(cbw_);
  for (Slot& s : slots_)
    if (s.inFlight) libusb_cancel_transfer(s.transfer);
  if (cswInFlight_) {
    cswCancelledByUs_ = true;
    libusb_cancel_transfer(csw_);
  }
  ioCv_.notify_all();
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
    const bool dataDone = submittedChunks_ == chunks_ && dataInFlight_ == 0;
    if (!dataStopped_ && !dataDone) dataStatus_ = "cancelled";
    CancelEverythingLocked();
    fin = MaybeFinishLocked();
  }
  if (fin) Deliver();
}

void LIBUSB_CALL Exchange::OnCbw(libusb_transfer* t) {
  auto* ex = static_cast<Exchange*>(t->user_data);
  bool fin;
  {
    std::lock_guard<std::mutex> lock(ex->mu_);
    ex->cbwInFlight_ = false;
    ex->cbwStatus_ = t->status;
    ex->cbwActual_ = t->actual_length;
    if (IsFailure(t->status)) {
      ex->FailLocked(TransferFailure(t->status, "botExchange: send the CBW"));
    } else if (t->status != LIBUSB_TRANSFER_COMPLETED || t->actual_length != 31) {
      ex->CancelEverythingLocked();  // the command never went out whole: nothing else can follow
    } else if (ex->IsIn() && !ex->config_.queueAhead) {
      for (size_t s = 0; s < ex->slots_.size(); ++s) ex->AssignAndSubmitLocked(s);
    }
    fin = ex->MaybeFinishLocked();
  }
  if (fin) ex->Deliver();
}

void LIBUSB_CALL Exchange::OnData(libusb_transfer* t) {
  auto* ex = static_cast<Exchange*>(t->user_data);
  bool fin;
  {
    std::lock_guard<std::mutex> lock(ex->mu_);
    size_t s = 0;
    while (s < ex->slots_.size() && ex->slots_[s].transfer != t) ++s;
    Slot& slot = ex->slots_[s];
    slot.inFlight = false;
    --ex->dataInFlight_;
    const int64_t c = slot.chunk;
    const int actual = t->actual_length;
    ex->chunkActual_[static_cast<size_t>(c)] = actual;
    const bool full = t->status == LIBUSB_TRANSFER_COMPLETED && static_cast<uint32_t>(actual) == ex->ChunkLength(c);
    if (!full && (ex->firstIncomplete_ < 0 || c < ex->firstIncomplete_)) ex->firstIncomplete_ = c;
    const bool first = !full && c == ex->firstIncomplete_;
    const bool afterEnd = ex->firstIncomplete_ >= 0 && c > ex->firstIncomplete_;
    const bool fdIn = ex->config_.mode == DataMode::kFdIn;

    if (IsFailure(t->status)) {
      ex->FailLocked(TransferFailure(t->status, "botExchange: data phase"));
    } else if (afterEnd) {
      // After a short URB the device went on to the CSW; it may have landed here.
      if (!ex->shortIsCsw_ && !ex->cswFromData_ && ex->IsIn() && ex->LooksLikeCsw(ex->SlotBuffer(slot), actual)) {
        ex->cswFromData_ = true;
        std::memcpy(ex->cswFromDataBytes_, ex->SlotBuffer(slot), 13);
        ex->completion_->notes.push_back("short data-in: the CSW arrived in data URB " + std::to_string(c) +
                                         " (queued after the short one) and was taken from there");
      }
    } else if (full) {
      // Last chunk back whole: read the CSW now, before any disk write of the chunk.
      if (++ex->fullChunks_ == ex->chunks_ && !ex->cswSubmitted_ && !ex->dataStopped_) ex->SubmitCswLocked();
      if (fdIn) {
        ex->io_.push_back({s, false});  // write it out, then the I/O thread reuses the slot
        ex->ioCv_.notify_all();
      } else if (ex->config_.mode == DataMode::kFdOut) {
        if (!ex->dataStopped_ && ex->nextChunk_ < ex->chunks_) {
          slot.chunk = ex->nextChunk_++;
          ex->io_.push_back({s, true});
          ex->ioCv_.notify_all();
        }
      } else {
        ex->DrainParkedLocked();
        ex->AssignAndSubmitLocked(s);
        ex->MaybeSubmitCswAfterLastChunkLocked();
      }
    } else if (first && t->status == LIBUSB_TRANSFER_COMPLETED) {
      // Short data: the data phase is over (status stays ok).
      if (ex->IsIn() && ex->LooksLikeCsw(ex->SlotBuffer(slot), actual)) {
        ex->shortIsCsw_ = true;
        ex->cswFromData_ = true;
        std::memcpy(ex->cswFromDataBytes_, ex->SlotBuffer(slot), 13);
        ex->completion_->notes.push_back("the device ended the data phase early and sent its CSW in place of data (at byte " +
                                         std::to_string(ex->ChunkOffset(c)) + ")");
      } else if (fdIn && actual > 0) {
        ex->io_.push_back({s, false});
        ex->ioCv_.notify_all();
      }
      ex->dataStopped_ = true;
      ex->parked_.clear();
      const bool laterInFlight = ex->dataInFlight_ > 0;
      for (Slot& other : ex->slots_)
        if (other.inFlight) libusb_cancel_transfer(other.transfer);
      if (ex->IsIn() && ex->cswInFlight_ && (laterInFlight || ex->shortIsCsw_)) {
        ex->cswCancelledByUs_ = true;  // the CSW will be found in a data URB, or read again
        libusb_cancel_transfer(ex->csw_);
      } else if (!ex->cswSubmitted_ && !laterInFlight && !ex->shortIsCsw_) {
        ex->SubmitCswLocked();
      }
    } else if (first) {
      // stall, timeout, overflow or cancellation: the exchange stops here; core recovers.
      if (ex->dataStatus_ == "ok") ex->dataStatus_ = TransferStatusName(static_cast<libusb_transfer_status>(t->status));
      if (fdIn && actual > 0) {
        ex->io_.push_back({s, false});
        ex->ioCv_.notify_all();
      }
      ex->CancelEverythingLocked();
    }
    fin = ex->MaybeFinishLocked();
  }
  if (fin) ex->Deliver();
}

void LIBUSB_CALL Exchange::OnCsw(libusb_transfer* t) {
  auto* ex = static_cast<Exchange*>(t->user_data);
  bool fin;
  {
    std::lock_guard<std::mutex> lock(ex->mu_);
    ex->cswInFlight_ = false;
    ex->cswDone_ = true;
    ex->cswStatus_ = t->status;
    ex->cswActual_ = t->actual_length;
    if (IsFailure(t->status)) ex->FailLocked(TransferFailure(t->status, "botExchange: read the CSW"));
    fin = ex->MaybeFinishLocked();
  }
  if (fin) ex->Deliver();
}

bool Exchange::MaybeFinishLocked() {
  if (finished_) return false;
  if (cbwInFlight_ || dataInFlight_ > 0 || cswInFlight_ || ioBusy_ > 0 || !io_.empty()) return false;
  if (!parked_.empty() && !dataStopped_) {
    DrainParkedLocked();
    if (dataInFlight_ > 0) return false;
    FailLocked(FromLibusb(LIBUSB_ERROR_NO_MEM, "botExchange: submit a data URB"));
  }
  const bool cbwOk = cbwStatus_ == LIBUSB_TRANSFER_COMPLETED && cbwActual_ == 31;
  const bool dataOk = config_.mode == DataMode::kNone || dataStatus_ == "ok";
  const bool dataDone = dataStopped_ || submittedChunks_ == chunks_;
  if (cbwOk && error_.empty() && !cancelled_ && dataOk && dataDone && !cswFromData_) {
    const bool cswEmptyCancelled = cswDone_ && cswCancelledByUs_ && cswActual_ == 0;
    if (!cswSubmitted_ || cswEmptyCancelled) {
      SubmitCswLocked();  // the CSW read that was cancelled (or never queued) after short data
      if (cswInFlight_) return false;
    }
  }
  finished_ = true;
  ioStop_ = true;
  ioCv_.notify_all();
  return true;
}

void Exchange::Deliver() {
  ExchangeCompletion* c = completion_;
  completion_ = nullptr;
  const bool cbwOk = cbwStatus_ == LIBUSB_TRANSFER_COMPLETED && cbwActual_ == 31;
  c->error = error_;
  c->cbwStatus = cbwStatus_ < 0 ? "cancelled" : TransferStatusName(static_cast<libusb_transfer_status>(cbwStatus_));
  c->cbwActual = cbwActual_;
  if (config_.mode != DataMode::kNone && cbwOk) {
    c->hasData = true;
    c->dataStatus = dataStatus_;
    uint64_t total = 0;
    for (int64_t i = 0; i < chunks_; ++i) {
      const int64_t a = chunkActual_[static_cast<size_t>(i)];
      if (a < 0 || (i == firstIncomplete_ && shortIsCsw_)) break;
      total += static_cast<uint64_t>(a);
      if (static_cast<uint32_t>(a) < ChunkLength(i)) break;
    }
    c->dataActual = total;
  }
  const bool dataOk = config_.mode == DataMode::kNone || dataStatus_ == "ok";
  if (cbwOk && dataOk) {
    if (cswFromData_) {
      c->hasCsw = true;
      c->cswStatus = "ok";
      c->cswBytes.assign(cswFromDataBytes_, cswFromDataBytes_ + 13);
    } else if (cswDone_ && !(cswCancelledByUs_ && cswActual_ == 0 && !cancelled_)) {
      c->hasCsw = true;
      c->cswStatus = TransferStatusName(static_cast<libusb_transfer_status>(cswStatus_));
      if (c->cswStatus.empty()) c->cswStatus = "cancelled";
      c->cswBytes.assign(cswBuf_, cswBuf_ + cswActual_);
    }
  }
  libusb_free_transfer(cbw_);
  libusb_free_transfer(csw_);
  cbw_ = csw_ = nullptr;
  for (Slot& s : slots_) {
    libusb_free_transfer(s.transfer);
    s.transfer = nullptr;
    if (s.own && s.pinned) libusb_dev_mem_free(handle_, s.own, config_.chunkSize);
    else std::free(s.own);
    s.own = nullptr;
  }
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->active.erase(opId_);
    state_->busyEndpoints.erase(config_.outEp);
    state_->busyEndpoints.erase(config_.inEp);
    --state_->libusbInFlight;
    state_->cv.notify_all();
  }
  addon_->Post(c);
  std::shared_ptr<Exchange> keep = std::move(self_);  // may be the last reference
}

void Exchange::IoThread() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    ioCv_.wait(lock, [this] { return !io_.empty() || ioStop_; });
    if (io_.empty()) return;  // finished
    const IoJob job = io_.front();
    io_.pop_front();
    ++ioBusy_;
    Slot& slot = slots_[job.slot];
    const int64_t chunk = slot.chunk;
    const uint64_t offset = config_.position + ChunkOffset(chunk);
    const size_t length = job.fill ? ChunkLength(chunk) : static_cast<size_t>(chunkActual_[static_cast<size_t>(chunk)]);
    uint8_t* buf = slot.own;
    const bool skip = job.fill && dataStopped_;
    lock.unlock();
    int err = 0;
    if (!skip) err = job.fill ? PreadFull(config_.fd, buf, length, offset) : PwriteFull(config_.fd, buf, length, offset);
    lock.lock();
    --ioBusy_;
    if (err == -1) {
      FailLocked(MakeError("E_BAD_INPUT", "botExchange: the file ended before byte " + std::to_string(offset + length) +
                                              " while streaming the data phase out"));
    } else if (err != 0) {
      FailLocked(FromErrno(err, std::string("botExchange: ") + (job.fill ? "read the source file" : "write the destination file")));
    } else if (job.fill) {
      SubmitSlotLocked(job.slot);
    } else {
      DrainParkedLocked();
      AssignAndSubmitLocked(job.slot);
      MaybeSubmitCswAfterLastChunkLocked();
    }
    if (MaybeFinishLocked()) {
      lock.unlock();
      Deliver();
      lock.lock();
    }
  }
}

}  // namespace usbscsi
