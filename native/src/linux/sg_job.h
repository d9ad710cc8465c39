// A run of SG_IO commands that move data the same way (a long READ or WRITE range), issued from
// one pool job with no JavaScript between them. The engine decides nothing: a command that does not
// come back plain (ioctl ok, status GOOD, no host or driver status, no sense, resid 0) ends the job,
// and its facts go back to core (PassThroughTransport), which judges it as it judges any command.
//
// Lanes: `depth` threads take the commands in order from one counter, each with its own SG_IO in
// flight, so the next command already waits in the block layer while the device serves the current
// one (as the kernel's own queue does for O_DIRECT), and one lane's copy runs during another's IO.
// Every command before the one that ended the job completed plain; with depth > 1 at most
// depth - 1 later commands may have run as well (their outcome is discarded).
//
// Data: a command whose memory is page-aligned (and a whole number of 512-byte blocks) goes to the
// kernel in place, which maps it; any other goes through the lane's page-aligned buffer, which the
// node keeps between jobs.
#pragma once

#include <napi.h>
#include <scsi/sg.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "../common/errors.h"

namespace usbscsi {

// One entry of the command table core encodes (packages/core/src/sg/sg-job.ts):
// byte 0 CDB length (6..16), bytes 4..7 data length (u32 LE), bytes 8..23 the CDB.
constexpr size_t kSgJobEntryBytes = 24;
constexpr uint32_t kSgJobMaxDepth = 4;

struct SgJobCommand {
  uint8_t cdb[16] = {};
  uint8_t cdbLength = 0;
  uint32_t length = 0;
  size_t offset = 0;  // in the job's data
};

struct SgJob {
  std::vector<SgJobCommand> commands;
  uint8_t* data = nullptr;
  size_t dataBytes = 0;
  bool out = false;
  uint32_t timeoutMs = 0;
  uint32_t depth = 1;
  uint64_t id = 0;
  std::shared_ptr<std::atomic<bool>> cancelled = std::make_shared<std::atomic<bool>>(false);
  std::vector<uint8_t*> bounces;  // one per lane when any command is bounced (owned by the node's pool)
  size_t bounceBytes = 0;
  Napi::Reference<Napi::Value> keep;  // the caller's buffer, alive until the job settles

  // Facts, written by the lanes (under the job's lock) and read on the JS thread after they joined.
  uint32_t done = 0;  // commands before the one that ended the job (all of them when none did)
  bool stopped = false;
  bool wasCancelled = false;
  sg_io_hdr_t stop{};  // the ending command's header (status, host/driver status, resid, sb_len_wr...)
  uint8_t sense[252] = {};
  uint64_t durationNs = 0;
  uint32_t bouncedCommands = 0;
  uint64_t ioctlNs = 0;  // time spent inside SG_IO, summed over the commands (a profile for the bench)
  uint64_t copyNs = 0;   // time spent copying through the aligned buffers
  NativeError error;  // the ending command's ioctl failed
};

// Reads the command table and the data buffer; throws E_BAD_INPUT on anything inconsistent.
std::unique_ptr<SgJob> SgJobArg(Napi::Env env, const Napi::Value& table, const Napi::Value& data,
                                const Napi::Value& options);

// Runs the job on `fd` (a pool thread; the lanes are this thread and depth - 1 more).
void RunSgJob(SgJob& job, int fd, const std::string& path);

// { done, stopped, cancelled, bouncedCommands, result? }: `result` is the ending command's facts in
// the shape of one SG_IO result.
Napi::Object SgJobResultObject(Napi::Env env, const SgJob& job);

}  // namespace usbscsi
