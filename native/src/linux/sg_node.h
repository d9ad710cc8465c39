// One Linux SCSI node (/dev/sg* or a block device) opened once for many SG_IO commands.
//
// An sg node has the kernel's asynchronous interface (sg v3: write() queues a command, read()
// collects a finished one): a small command is queued from the JS thread and completed when the
// node polls readable on the JS thread's own loop, with no thread hop. A command with a large data
// phase, and every command on a block device (which has no such interface), runs its SG_IO on a
// pool thread instead, since the kernel copies data inside those calls.
//
// A block device maps user memory in place when it is page-aligned (anything else the block layer
// copies through pages it allocates per command): the node copies an unaligned data phase through
// its own page-aligned buffer, allocated once and grown to the largest command.
#pragma once

#include <napi.h>
#include <scsi/sg.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../common/errors.h"
#include "sg_job.h"

namespace usbscsi {

constexpr size_t kSgPageBytes = 4096;
constexpr uint32_t kSgSenseBytes = 252;
// Largest data phase queued through write()/read() on the JS thread: the sg driver copies it
// there (indirect IO), so a longer one goes to a pool thread.
constexpr uint32_t kSgAsyncMaxBytes = 64 * 1024;
// The facts block of `command` (core's sg-node-binding.ts reads it): i32 status, masked status,
// msg status, host status, driver status, resid, duration ms, info, sense length, bounced (bytes
// 0..39), f64 duration ns (40..47), the sense bytes from 64. The facts come back in the caller's
// memory instead of an object built property by property, which costs more than the command.
constexpr size_t kSgFactsBytes = 64 + kSgSenseBytes;

// Monotonic nanoseconds, for the durations commands and jobs report.
inline uint64_t SgNowNs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

// Memory the block layer maps for SG_IO instead of copying (page-aligned, whole sectors).
inline bool SgInPlace(const uint8_t* data, uint32_t length) {
  return reinterpret_cast<uintptr_t>(data) % kSgPageBytes == 0 && length % 512 == 0;
}

struct SgCommand {
  explicit SgCommand(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
  sg_io_hdr_t hdr{};
  uint8_t sense[kSgSenseBytes] = {};
  std::vector<uint8_t> cdb;
  uint8_t* callerData = nullptr;  // the caller's memory when the data phase goes through the bounce buffer
  uint32_t length = 0;
  bool bounced = false;
  uint64_t startNs = 0;
  uint64_t durationNs = 0;
  Napi::Promise::Deferred deferred;
  Napi::Reference<Napi::Value> keep;  // the caller's buffer, alive until the command settles
  uint8_t* facts = nullptr;           // `command`: the facts block to fill (kSgFactsBytes), else a result object
  Napi::Reference<Napi::Value> keepFacts;
};

class SgNode : public std::enable_shared_from_this<SgNode> {
 public:
  SgNode(Napi::Env env, std::string path, int fd, bool blockDevice);
  ~SgNode();

  const std::string& path() const { return path_; }
  bool blockDevice() const { return block_; }

  // JS thread. Returns the command's promise; a closed node rejects with E_DEVICE_GONE.
  Napi::Promise Execute(Napi::Env env, std::unique_ptr<SgCommand> cmd);
  Napi::Promise Reset(Napi::Env env, int level);
  // A run of READs or WRITEs on a pool thread (sg_job.h); resolves with its facts.
  Napi::Promise Job(Napi::Env env, std::unique_ptr<SgJob> job);
  // Ends a running job before its next command (the one in flight completes); false if none has that id.
  bool CancelJob(uint64_t id);
  // Refuses new commands; the descriptor closes once the commands in flight have settled.
  void Close();

 private:
  void ExecuteQueued(std::unique_ptr<SgCommand> cmd);
  void ExecuteOnPool(Napi::Env env, std::unique_ptr<SgCommand> cmd);
  void Begin();
  void Settle(Napi::Env env, SgCommand& cmd, const NativeError& error);
  void Drain();
  void FailQueued(const NativeError& error);
  void Release();
  uint8_t* TakeAligned(size_t bytes);
  void GiveBackAligned(uint8_t* p);
  static void OnReadable(uv_poll_t* poll, int status, int events);
  static void OnEnvCleanup(void* arg);

  napi_env env_;
  std::string path_;
  int fd_;
  bool block_;
  bool closed_ = false;
  bool released_ = false;
  int inFlight_ = 0;                     // commands not settled yet (JS thread)
  std::shared_ptr<SgNode> selfWhileBusy_;  // the node outlives its JS object while commands are in flight
  uv_poll_t* poll_ = nullptr;
  bool polling_ = false;
  std::unique_ptr<Napi::AsyncContext> context_;
  std::map<uint64_t, std::unique_ptr<SgCommand>> queued_;  // sg async interface, by usr_ptr
  uint64_t nextId_ = 1;
  uint8_t* bounce_ = nullptr;
  size_t bounceBytes_ = 0;
  bool bounceBusy_ = false;
  std::map<uint64_t, std::shared_ptr<std::atomic<bool>>> jobs_;  // running jobs' cancel flags, by id
  std::vector<std::pair<uint8_t*, size_t>> spareAligned_;         // jobs' lane buffers, kept between jobs
  std::map<uint8_t*, size_t> alignedSize_;                         // lane buffers in use, with their sizes
};

// The node's result object (the fields of sg_io_hdr core reads, plus the sense bytes).
// One SG_IO header's facts as the object core's SgIoResult reads (sense: kSgSenseBytes long).
Napi::Object SgHeaderObject(Napi::Env env, const sg_io_hdr_t& h, uint64_t durationNs, const uint8_t* sense);
Napi::Object SgResultObject(Napi::Env env, const SgCommand& cmd);
// The same facts written into `cmd.facts` (kSgFactsBytes).
void WriteSgFacts(const SgCommand& cmd);

}  // namespace usbscsi
