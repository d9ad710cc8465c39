#include "sg_node.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "../common/worker.h"

namespace usbscsi {
namespace {

// SG_IO on a pool thread; the data phase through the node's bounce buffer when `cmd.bounced`.
class PoolCommand : public Napi::AsyncWorker {
 public:
  PoolCommand(Napi::Env env, std::shared_ptr<SgNode> node, int fd, std::unique_ptr<SgCommand> cmd,
              std::function<void(Napi::Env, SgCommand&, const NativeError&)> settle)
      : Napi::AsyncWorker(env, "usbscsi.sgExecute"),
        node_(std::move(node)),
        fd_(fd),
        cmd_(std::move(cmd)),
        settle_(std::move(settle)) {}

 protected:
  void Execute() override {
    SgCommand& c = *cmd_;
    const bool out = c.hdr.dxfer_direction == SG_DXFER_TO_DEV;
    if (c.bounced && out) std::memcpy(c.hdr.dxferp, c.callerData, c.length);
    int rc;
    do rc = ioctl(fd_, SG_IO, &c.hdr);
    while (rc < 0 && errno == EINTR);
    const int err = errno;
    c.durationNs = SgNowNs() - c.startNs;
    if (rc < 0) {
      error_ = FromErrno(err, "SG_IO on " + node_->path());
      return;
    }
    if (c.bounced && !out) {
      // Only what the device sent: the rest of the bounce buffer belongs to earlier commands.
      const int32_t resid = c.hdr.resid;
      const uint32_t moved = resid > 0 && static_cast<uint32_t>(resid) < c.length ? c.length - resid
                             : resid > 0                                          ? 0
                                                                                  : c.length;
      std::memcpy(c.callerData, c.hdr.dxferp, moved);
    }
  }
  void OnOK() override { settle_(Env(), *cmd_, error_); }
  void OnError(const Napi::Error& e) override { settle_(Env(), *cmd_, MakeError("E_IO", e.Message())); }

 private:
  std::shared_ptr<SgNode> node_;
  int fd_;
  std::unique_ptr<SgCommand> cmd_;
  std::function<void(Napi::Env, SgCommand&, const NativeError&)> settle_;
  NativeError error_;
};

// A job's lanes on a pool thread (sg_job.h); settles on the JS thread through `finish`.
class JobWorker : public Napi::AsyncWorker {
 public:
  JobWorker(Napi::Env env, std::shared_ptr<SgNode> node, int fd, std::unique_ptr<SgJob> job,
            std::function<void(Napi::Env, SgJob&)> finish)
      : Napi::AsyncWorker(env, "usbscsi.sgJob"),
        node_(std::move(node)),
        fd_(fd),
        job_(std::move(job)),
        finish_(std::move(finish)) {}

 protected:
  void Execute() override { RunSgJob(*job_, fd_, node_->path()); }
  void OnOK() override { finish_(Env(), *job_); }
  void OnError(const Napi::Error& e) override {
    job_->error = MakeError("E_IO", e.Message());
    finish_(Env(), *job_);
  }

 private:
  std::shared_ptr<SgNode> node_;
  int fd_;
  std::unique_ptr<SgJob> job_;
  std::function<void(Napi::Env, SgJob&)> finish_;
};

}  // namespace

Napi::Object SgHeaderObject(Napi::Env env, const sg_io_hdr_t& h, uint64_t durationNs, const uint8_t* sense) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("status", h.status);
  out.Set("maskedStatus", h.masked_status);
  out.Set("msgStatus", h.msg_status);
  out.Set("hostStatus", h.host_status);
  out.Set("driverStatus", h.driver_status);
  out.Set("resid", h.resid);
  out.Set("durationMs", h.duration);
  out.Set("durationNs", Napi::Number::New(env, static_cast<double>(durationNs)));
  out.Set("info", h.info);
  const size_t senseBytes = h.sb_len_wr < kSgSenseBytes ? h.sb_len_wr : kSgSenseBytes;
  out.Set("sense", Napi::Buffer<uint8_t>::Copy(env, sense, senseBytes));
  return out;
}

Napi::Object SgResultObject(Napi::Env env, const SgCommand& cmd) {
  Napi::Object out = SgHeaderObject(env, cmd.hdr, cmd.durationNs, cmd.sense);
  out.Set("bounced", cmd.bounced);
  return out;
}

void WriteSgFacts(const SgCommand& cmd) {
  const sg_io_hdr_t& h = cmd.hdr;
  const uint32_t senseBytes = h.sb_len_wr < kSgSenseBytes ? h.sb_len_wr : kSgSenseBytes;
  const int32_t ints[10] = {h.status,
                            h.masked_status,
                            h.msg_status,
                            h.host_status,
                            h.driver_status,
                            h.resid,
                            static_cast<int32_t>(h.duration),
                            static_cast<int32_t>(h.info),
                            static_cast<int32_t>(senseBytes),
                            cmd.bounced ? 1 : 0};
  std::memcpy(cmd.facts, ints, sizeof ints);
  const double ns = static_cast<double>(cmd.durationNs);
  std::memcpy(cmd.facts + 40, &ns, sizeof ns);
  std::memcpy(cmd.facts + 64, cmd.sense, senseBytes);
}

SgNode::SgNode(Napi::Env env, std::string path, int fd, bool blockDevice)
    : env_(env), path_(std::move(path)), fd_(fd), block_(blockDevice) {
  context_ = std::make_unique<Napi::AsyncContext>(env, "usbscsi.sgNode");
  if (!block_) {
    poll_ = new uv_poll_t;
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, poll_, fd_) != 0) {
      delete poll_;
      poll_ = nullptr;  // no event loop to poll on: every command takes the pool thread
    } else {
      poll_->data = this;
    }
  }
  napi_add_env_cleanup_hook(env, OnEnvCleanup, this);
}

SgNode::~SgNode() {
  if (!released_) Release();
  std::free(bounce_);
  for (auto& [p, bytes] : spareAligned_) std::free(p);
}

uint8_t* SgNode::TakeAligned(size_t bytes) {
  for (auto it = spareAligned_.begin(); it != spareAligned_.end(); ++it) {
    if (it->second < bytes) continue;
    uint8_t* p = it->first;
    alignedSize_[p] = it->second;
    spareAligned_.erase(it);
    return p;
  }
  const size_t rounded = (bytes + kSgPageBytes - 1) / kSgPageBytes * kSgPageBytes;
  void* p = nullptr;
  if (posix_memalign(&p, kSgPageBytes, rounded) != 0) return nullptr;
  alignedSize_[static_cast<uint8_t*>(p)] = rounded;
  return static_cast<uint8_t*>(p);
}

void SgNode::GiveBackAligned(uint8_t* p) {
  auto it = alignedSize_.find(p);
  if (it == alignedSize_.end()) return;
  const size_t bytes = it->second;
  alignedSize_.erase(it);
  // Kept for the next job (a fresh buffer faults in every page on its first command), a few at most.
  if (spareAligned_.size() < kSgJobMaxDepth) spareAligned_.emplace_back(p, bytes);
  else std::free(p);
}

Napi::Promise SgNode::Job(Napi::Env env, std::unique_ptr<SgJob> job) {
  auto deferred = Napi::Promise::Deferred::New(env);
  Napi::Promise promise = deferred.Promise();
  if (closed_) {
    deferred.Reject(
        ToJsError(env, MakeError("E_DEVICE_GONE", "the SG_IO node " + path_ + " is closed; open it again")).Value());
    return promise;
  }
  if (jobs_.count(job->id) != 0) ThrowBadInput(env, "jobId is in use by a running job");
  if (job->bounceBytes > 0) {
    for (uint32_t lane = 0; lane < job->depth; lane++) {
      uint8_t* p = TakeAligned(job->bounceBytes);
      if (p == nullptr) break;
      job->bounces.push_back(p);
    }
    if (job->bounces.empty()) {
      deferred.Reject(ToJsError(env, MakeError("E_NO_MEMORY", "cannot allocate " + std::to_string(job->bounceBytes) +
                                                                  " aligned bytes for an SG_IO job"))
                          .Value());
      return promise;
    }
    job->depth = static_cast<uint32_t>(job->bounces.size());
  }
  jobs_[job->id] = job->cancelled;
  Begin();
  auto self = shared_from_this();
  auto finish = [self, deferred](Napi::Env e, SgJob& j) {
    self->jobs_.erase(j.id);
    for (uint8_t* p : j.bounces) self->GiveBackAligned(p);
    j.bounces.clear();
    if (!j.error.empty()) deferred.Reject(ToJsError(e, j.error).Value());
    else deferred.Resolve(SgJobResultObject(e, j));
    j.keep.Reset();
    if (--self->inFlight_ == 0) {
      if (self->closed_) self->Release();
      self->selfWhileBusy_.reset();
    }
  };
  auto* worker = new JobWorker(env, self, fd_, std::move(job), finish);
  worker->Queue();
  return promise;
}

bool SgNode::CancelJob(uint64_t id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return false;
  it->second->store(true);
  return true;
}

void SgNode::OnEnvCleanup(void* arg) {
  auto* node = static_cast<SgNode*>(arg);
  node->closed_ = true;
  node->queued_.clear();  // the environment is going away: nobody is left to settle them for
  node->Release();
  auto last = std::move(node->selfWhileBusy_);  // may destroy the node: nothing touches it after
}

void SgNode::Release() {
  if (released_) return;
  released_ = true;
  napi_remove_env_cleanup_hook(env_, OnEnvCleanup, this);
  if (poll_ != nullptr) {
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  context_.reset();
}

void SgNode::Begin() {
  if (inFlight_++ == 0) selfWhileBusy_ = shared_from_this();
}

void SgNode::Settle(Napi::Env env, SgCommand& cmd, const NativeError& error) {
  if (cmd.bounced) bounceBusy_ = false;
  if (!error.empty()) {
    cmd.deferred.Reject(ToJsError(env, error).Value());
  } else if (cmd.facts != nullptr) {
    WriteSgFacts(cmd);
    cmd.deferred.Resolve(env.Undefined());
  } else {
    cmd.deferred.Resolve(SgResultObject(env, cmd));
  }
  cmd.keep.Reset();
  cmd.keepFacts.Reset();
  if (--inFlight_ == 0) {
    if (closed_) Release();
    selfWhileBusy_.reset();  // may destroy this node: last statement
  }
}

Napi::Promise SgNode::Execute(Napi::Env env, std::unique_ptr<SgCommand> cmd) {
  Napi::Promise promise = cmd->deferred.Promise();
  if (closed_) {
    cmd->deferred.Reject(
        ToJsError(env, MakeError("E_DEVICE_GONE", "the SG_IO node " + path_ + " is closed; open it again")).Value());
    return promise;
  }
  sg_io_hdr_t& h = cmd->hdr;
  h.interface_id = 'S';
  h.cmd_len = static_cast<unsigned char>(cmd->cdb.size());
  h.cmdp = cmd->cdb.data();
  h.mx_sb_len = kSgSenseBytes;
  h.sbp = cmd->sense;
  uint8_t* data = static_cast<uint8_t*>(h.dxferp);
  if (block_ && cmd->length > 0 && !SgInPlace(data, cmd->length) && !bounceBusy_) {
    if (bounceBytes_ < cmd->length) {
      const size_t bytes = (cmd->length + kSgPageBytes - 1) / kSgPageBytes * kSgPageBytes;
      void* p = nullptr;
      if (posix_memalign(&p, kSgPageBytes, bytes) == 0) {
        std::free(bounce_);
        bounce_ = static_cast<uint8_t*>(p);
        bounceBytes_ = bytes;
      }
    }
    if (bounceBytes_ >= cmd->length) {  // else the kernel copies, as it would have
      cmd->bounced = true;
      cmd->callerData = data;
      h.dxferp = bounce_;
      bounceBusy_ = true;
    }
  }
  Begin();
  cmd->startNs = SgNowNs();
  if (poll_ != nullptr && cmd->length <= kSgAsyncMaxBytes) ExecuteQueued(std::move(cmd));
  else ExecuteOnPool(env, std::move(cmd));
  return promise;
}

void SgNode::ExecuteOnPool(Napi::Env env, std::unique_ptr<SgCommand> cmd) {
  auto self = shared_from_this();
  auto settle = [self](Napi::Env e, SgCommand& c, const NativeError& err) { self->Settle(e, c, err); };
  auto* worker = new PoolCommand(env, self, fd_, std::move(cmd), settle);
  worker->Queue();
}

void SgNode::ExecuteQueued(std::unique_ptr<SgCommand> cmd) {
  const uint64_t id = nextId_++;
  cmd->hdr.usr_ptr = reinterpret_cast<void*>(static_cast<uintptr_t>(id));
  ssize_t n;
  do n = write(fd_, &cmd->hdr, sizeof cmd->hdr);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    const int err = errno;
    Napi::Env env(env_);
    Settle(env, *cmd, FromErrno(err, "SG_IO on " + path_));
    return;
  }
  queued_.emplace(id, std::move(cmd));
  if (!polling_) {
    polling_ = uv_poll_start(poll_, UV_READABLE, OnReadable) == 0;
    if (!polling_) FailQueued(MakeError("E_IO", "SG_IO on " + path_ + ": cannot watch the node for completions"));
  }
  // The poll stays started between commands (no epoll_ctl per command); only referenced while
  // something is queued, so an idle node keeps no loop alive.
  if (polling_) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
}

void SgNode::OnReadable(uv_poll_t* poll, int status, int /*events*/) {
  auto* node = static_cast<SgNode*>(poll->data);
  auto keep = node->shared_from_this();  // settling may drop the node's last other reference
  Napi::Env env(node->env_);
  Napi::HandleScope scope(env);
  // Promises settled here run their continuations when this scope closes, as from any callback.
  Napi::CallbackScope callback(env, *node->context_);
  if (status < 0) node->FailQueued(MakeError("E_IO", "SG_IO on " + node->path_ + ": " + uv_strerror(status)));
  else node->Drain();
}

void SgNode::Drain() {
  Napi::Env env(env_);
  while (!queued_.empty()) {
    sg_io_hdr_t h{};
    h.interface_id = 'S';
    const ssize_t n = read(fd_, &h, sizeof h);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      FailQueued(FromErrno(errno, "SG_IO on " + path_ + " (reading a completion)"));
      return;
    }
    auto it = queued_.find(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(h.usr_ptr)));
    if (it == queued_.end()) continue;  // not ours (cannot happen on our own descriptor): drop it
    std::unique_ptr<SgCommand> cmd = std::move(it->second);
    queued_.erase(it);
    cmd->durationNs = SgNowNs() - cmd->startNs;
    // The kernel wrote the sense through the command's own sbp; the rest comes back in `h`.
    cmd->hdr.status = h.status;
    cmd->hdr.masked_status = h.masked_status;
    cmd->hdr.msg_status = h.msg_status;
    cmd->hdr.sb_len_wr = h.sb_len_wr;
    cmd->hdr.host_status = h.host_status;
    cmd->hdr.driver_status = h.driver_status;
    cmd->hdr.resid = h.resid;
    cmd->hdr.duration = h.duration;
    cmd->hdr.info = h.info;
    if (queued_.empty() && polling_) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));  // idle: keeps no loop alive
    Settle(env, *cmd, {});
    if (released_) return;
  }
}

void SgNode::FailQueued(const NativeError& error) {
  Napi::Env env(env_);
  if (polling_) {
    uv_poll_stop(poll_);
    polling_ = false;
  }
  auto queued = std::move(queued_);
  queued_.clear();
  for (auto& [id, cmd] : queued) Settle(env, *cmd, error);
}

Napi::Promise SgNode::Reset(Napi::Env env, int level) {
  if (closed_) {
    auto deferred = Napi::Promise::Deferred::New(env);
    deferred.Reject(
        ToJsError(env, MakeError("E_DEVICE_GONE", "the SG_IO node " + path_ + " is closed; open it again")).Value());
    return deferred.Promise();
  }
  Begin();
  auto self = shared_from_this();
  const int fd = fd_;
  const std::string path = path_;
  auto* worker = new PromiseWorker(env, "usbscsi.sgReset", [fd, level, path]() -> NativeError {
    int v = level;
    const int rc = ioctl(fd, SG_SCSI_RESET, &v);
    if (rc < 0) return FromErrno(errno, "SG_SCSI_RESET on " + path);
    return {};
  });
  worker->After([self]() {
    if (--self->inFlight_ == 0) {
      if (self->closed_) self->Release();
      self->selfWhileBusy_.reset();
    }
  });
  return worker->Queue();
}

void SgNode::Close() {
  if (closed_) return;
  closed_ = true;
  if (inFlight_ == 0) Release();
}

}  // namespace usbscsi
