#include "sg_job.h"

#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "../common/args.h"
#include "sg_node.h"

namespace usbscsi {
namespace {

// What the lanes share.
struct Lanes {
  SgJob& job;
  int fd;
  const std::string& path;
  std::atomic<uint32_t> next{0};
  std::atomic<uint32_t> end;  // the index of the command that ended the job (commands.size() while none did)
  std::mutex lock;

  Lanes(SgJob& j, int f, const std::string& p)
      : job(j), fd(f), path(p), end(static_cast<uint32_t>(j.commands.size())) {}

  // Records command `index` as the one that ends the job, unless an earlier one already does.
  void Stop(uint32_t index, const sg_io_hdr_t& hdr, const uint8_t* sense, uint64_t durationNs, NativeError error,
            bool cancelled) {
    std::lock_guard<std::mutex> guard(lock);
    if (index >= end.load()) return;
    end.store(index);
    job.stopped = true;
    job.wasCancelled = cancelled;
    job.stop = hdr;
    job.stop.sbp = nullptr;
    job.stop.dxferp = nullptr;
    job.stop.cmdp = nullptr;
    std::memcpy(job.sense, sense, sizeof job.sense);
    job.durationNs = durationNs;
    job.error = std::move(error);
  }

  void Run(uint8_t* bounce) {
    uint8_t sense[sizeof job.sense] = {};
    uint32_t bounced = 0;
    uint64_t ioctlNs = 0;
    uint64_t copyNs = 0;
    for (;;) {
      const uint32_t i = next.fetch_add(1);
      if (i >= end.load()) break;
      const SgJobCommand& c = job.commands[i];
      if (job.cancelled->load()) {
        Stop(i, sg_io_hdr_t{}, sense, 0, {}, true);
        break;
      }
      uint8_t* data = job.data + c.offset;
      const bool viaBounce = !SgInPlace(data, c.length);
      if (viaBounce && bounce == nullptr) {  // cannot happen: the node gave every lane a buffer
        Stop(i, sg_io_hdr_t{}, sense, 0, MakeError("E_IO", "SG_IO job on " + path + ": no aligned buffer"), false);
        break;
      }
      sg_io_hdr_t h{};
      h.interface_id = 'S';
      h.cmd_len = c.cdbLength;
      h.cmdp = const_cast<uint8_t*>(c.cdb);
      h.mx_sb_len = sizeof sense;
      h.sbp = sense;
      h.dxfer_direction = job.out ? SG_DXFER_TO_DEV : SG_DXFER_FROM_DEV;
      h.dxfer_len = c.length;
      h.dxferp = viaBounce ? bounce : data;
      h.timeout = job.timeoutMs;
      if (viaBounce) {
        bounced++;
        if (job.out) {
          const uint64_t copyStart = SgNowNs();
          std::memcpy(bounce, data, c.length);
          copyNs += SgNowNs() - copyStart;
        }
      }
      const uint64_t start = SgNowNs();
      int rc;
      do rc = ioctl(fd, SG_IO, &h);
      while (rc < 0 && errno == EINTR);
      const int err = errno;
      const uint64_t took = SgNowNs() - start;
      ioctlNs += took;
      if (rc < 0) {
        Stop(i, h, sense, took, FromErrno(err, "SG_IO on " + path), false);
        break;
      }
      if (viaBounce && !job.out) {
        // Only what the device sent: the rest of the lane's buffer is an earlier command's.
        const int32_t resid = h.resid;
        const uint32_t moved = resid <= 0 ? c.length : static_cast<uint32_t>(resid) < c.length ? c.length - resid : 0;
        const uint64_t copyStart = SgNowNs();
        std::memcpy(data, bounce, moved);
        copyNs += SgNowNs() - copyStart;
      }
      const bool plain = h.status == 0 && h.host_status == 0 && (h.driver_status & 0x0f) == 0 && h.resid == 0 &&
                         h.sb_len_wr == 0;
      if (!plain) {
        Stop(i, h, sense, took, {}, false);
        break;
      }
    }
    std::lock_guard<std::mutex> guard(lock);
    job.bouncedCommands += bounced;
    job.ioctlNs += ioctlNs;
    job.copyNs += copyNs;
  }
};

}  // namespace

std::unique_ptr<SgJob> SgJobArg(Napi::Env env, const Napi::Value& tableValue, const Napi::Value& dataValue,
                                const Napi::Value& optionsValue) {
  Napi::Uint8Array table = Bytes(env, tableValue, "table");
  Napi::Uint8Array data = Bytes(env, dataValue, "data");
  Napi::Object options = ObjectArg(env, optionsValue, "options");
  const size_t count = table.ByteLength() / kSgJobEntryBytes;
  if (count == 0 || table.ByteLength() % kSgJobEntryBytes != 0)
    ThrowBadInput(env, "table must hold one or more 24-byte command entries");
  auto job = std::make_unique<SgJob>();
  const Napi::Value dir = options.Get("direction");
  const std::string direction = dir.IsString() ? dir.As<Napi::String>().Utf8Value() : "";
  if (direction != "in" && direction != "out") ThrowBadInput(env, "direction must be 'in' or 'out'");
  job->out = direction == "out";
  job->timeoutMs = TimeoutMs(env, options.Get("timeoutMs"));
  job->depth = U32(env, options.Get("depth"), "depth", 1, kSgJobMaxDepth);
  job->id = U32(env, options.Get("jobId"), "jobId", 1, 0x7fffffff);
  const uint8_t* t = table.Data();
  size_t offset = 0;
  job->commands.resize(count);
  for (size_t i = 0; i < count; i++) {
    const uint8_t* e = t + i * kSgJobEntryBytes;
    SgJobCommand& c = job->commands[i];
    c.cdbLength = e[0];
    if (c.cdbLength < 6 || c.cdbLength > 16) ThrowBadInput(env, "each job command's CDB is 6 to 16 bytes");
    c.length = static_cast<uint32_t>(e[4]) | static_cast<uint32_t>(e[5]) << 8 | static_cast<uint32_t>(e[6]) << 16 |
               static_cast<uint32_t>(e[7]) << 24;
    if (c.length == 0 || c.length > 0x7fffffff) ThrowBadInput(env, "each job command moves 1 byte to 2 GiB");
    std::memcpy(c.cdb, e + 8, c.cdbLength);
    c.offset = offset;
    offset += c.length;
  }
  if (offset != data.ByteLength()) ThrowBadInput(env, "data must be exactly as long as the job's commands move");
  job->data = data.Data();
  job->dataBytes = data.ByteLength();
  for (const SgJobCommand& c : job->commands)
    if (!SgInPlace(job->data + c.offset, c.length) && c.length > job->bounceBytes) job->bounceBytes = c.length;
  job->keep = Napi::Persistent(dataValue);
  return job;
}

void RunSgJob(SgJob& job, int fd, const std::string& path) {
  Lanes lanes(job, fd, path);
  const uint32_t depth = std::min<uint32_t>(job.depth, static_cast<uint32_t>(job.commands.size()));
  std::vector<std::thread> others;
  for (uint32_t lane = 1; lane < depth; lane++) {
    uint8_t* bounce = lane < job.bounces.size() ? job.bounces[lane] : nullptr;
    try {
      others.emplace_back([&lanes, bounce]() { lanes.Run(bounce); });
    } catch (const std::system_error&) {
      break;  // no thread: fewer lanes, the same commands
    }
  }
  lanes.Run(job.bounces.empty() ? nullptr : job.bounces[0]);
  for (std::thread& t : others) t.join();
  job.done = lanes.end.load();
}

Napi::Object SgJobResultObject(Napi::Env env, const SgJob& job) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("done", job.done);
  out.Set("stopped", job.stopped);
  out.Set("cancelled", job.wasCancelled);
  out.Set("bouncedCommands", job.bouncedCommands);
  out.Set("ioctlNs", Napi::Number::New(env, static_cast<double>(job.ioctlNs)));
  out.Set("copyNs", Napi::Number::New(env, static_cast<double>(job.copyNs)));
  if (job.stopped && !job.wasCancelled) {
    static_assert(sizeof job.sense == kSgSenseBytes, "a job's sense buffer is an SG_IO one");
    out.Set("result", SgHeaderObject(env, job.stop, job.durationNs, job.sense));
  }
  return out;
}

}  // namespace usbscsi
