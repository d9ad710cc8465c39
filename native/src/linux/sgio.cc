// Linux SG_IO: one SCSI command through the kernel's own stack (/dev/sg* or the block
// device), on a pool thread. Nothing to detach: the kernel keeps the device.
#include <fcntl.h>
#include <scsi/sg.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "../common/args.h"
#include "../common/worker.h"

namespace usbscsi {
namespace {

struct SgRequest {
  std::string path;
  std::vector<uint8_t> cdb;
  int direction = SG_DXFER_NONE;
  uint8_t* data = nullptr;
  uint32_t length = 0;
  uint32_t timeoutMs = 0;
};

struct SgResult {
  sg_io_hdr_t hdr{};
  uint8_t sense[252] = {};
  uint64_t durationNs = 0;
};

int OpenNode(const std::string& path) {
  int fd = open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0 && (errno == EROFS || errno == EACCES)) {
    const int first = errno;
    fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // read-only media / read-only permission
    if (fd < 0) errno = first;
  }
  return fd;
}

// sgIo({ path, cdb, direction: 'none'|'in'|'out', buffer?, timeoutMs }) -> Promise<result>
Napi::Value SgIo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object req = ObjectArg(env, info[0], "request");
  auto r = std::make_shared<SgRequest>();
  if (!req.Get("path").IsString()) ThrowBadInput(env, "path must be a string such as /dev/sg0 or /dev/sda");
  r->path = req.Get("path").As<Napi::String>().Utf8Value();
  if (r->path.empty() || r->path.find('\0') != std::string::npos) ThrowBadInput(env, "path must be a device node path");
  Napi::Uint8Array cdb = Bytes(env, req.Get("cdb"), "cdb");
  if (cdb.ByteLength() < 6 || cdb.ByteLength() > 16) ThrowBadInput(env, "cdb must be 6 to 16 bytes for SG_IO");
  r->cdb.assign(cdb.Data(), cdb.Data() + cdb.ByteLength());
  const Napi::Value dirValue = req.Get("direction");
  const std::string dir = dirValue.IsString() ? dirValue.As<Napi::String>().Utf8Value() : "";
  if (dir != "none" && dir != "in" && dir != "out") ThrowBadInput(env, "direction must be 'none', 'in' or 'out'");
  Napi::Value bufferValue = req.Get("buffer");
  if (dir != "none") {
    Napi::Uint8Array buf = Bytes(env, bufferValue, "buffer");
    if (buf.ByteLength() > 0x7fffffff) ThrowBadInput(env, "buffer must be smaller than 2 GiB");
    r->data = buf.Data();
    r->length = static_cast<uint32_t>(buf.ByteLength());
    r->direction = r->length == 0 ? SG_DXFER_NONE : dir == "in" ? SG_DXFER_FROM_DEV : SG_DXFER_TO_DEV;
  }
  r->timeoutMs = TimeoutMs(env, req.Get("timeoutMs"));
  auto result = std::make_shared<SgResult>();
  auto keep = std::make_shared<Napi::Reference<Napi::Value>>(
      dir != "none" ? Napi::Persistent(bufferValue) : Napi::Reference<Napi::Value>());
  auto* worker = new PromiseWorker(
      env, "usbscsi.sgIo",
      [r, result]() -> NativeError {
        const int fd = OpenNode(r->path);
        if (fd < 0) return FromErrno(errno, "SG_IO: open " + r->path);
        sg_io_hdr_t& h = result->hdr;
        h.interface_id = 'S';
        h.dxfer_direction = r->direction;
        h.cmd_len = static_cast<unsigned char>(r->cdb.size());
        h.mx_sb_len = sizeof result->sense;
        h.dxfer_len = r->length;
        h.dxferp = r->data;
        h.cmdp = r->cdb.data();
        h.sbp = result->sense;
        h.timeout = r->timeoutMs;
        const auto start = std::chrono::steady_clock::now();
        int rc;
        do rc = ioctl(fd, SG_IO, &h);
        while (rc < 0 && errno == EINTR);
        const int err = errno;
        result->durationNs = static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
        close(fd);
        if (rc < 0) return FromErrno(err, "SG_IO on " + r->path);
        return {};
      },
      [result, keep](Napi::Env env) -> Napi::Value {
        keep->Reset();
        const sg_io_hdr_t& h = result->hdr;
        Napi::Object out = Napi::Object::New(env);
        out.Set("status", h.status);
        out.Set("maskedStatus", h.masked_status);
        out.Set("msgStatus", h.msg_status);
        out.Set("hostStatus", h.host_status);
        out.Set("driverStatus", h.driver_status);
        out.Set("resid", h.resid);
        out.Set("durationMs", h.duration);
        out.Set("durationNs", Napi::Number::New(env, static_cast<double>(result->durationNs)));
        out.Set("info", h.info);
        out.Set("sense", Napi::Buffer<uint8_t>::Copy(env, result->sense, h.sb_len_wr));
        return out;
      });
  return worker->Queue();
}

// sgReset(path, 'device' | 'target' | 'bus' | 'host') -> Promise<void>
Napi::Value SgReset(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) ThrowBadInput(env, "path must be a string such as /dev/sg0");
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  const std::string level = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "device";
  int value;
  if (level == "device") value = SG_SCSI_RESET_DEVICE;
  else if (level == "bus") value = SG_SCSI_RESET_BUS;
  else if (level == "host") value = SG_SCSI_RESET_HOST;
#ifdef SG_SCSI_RESET_TARGET
  else if (level == "target") value = SG_SCSI_RESET_TARGET;
#endif
  else ThrowBadInput(env, "level must be 'device', 'target', 'bus' or 'host'");
  auto* worker = new PromiseWorker(env, "usbscsi.sgReset", [path, value]() -> NativeError {
    const int fd = OpenNode(path);
    if (fd < 0) return FromErrno(errno, "SG_SCSI_RESET: open " + path);
    int v = value;
    const int rc = ioctl(fd, SG_SCSI_RESET, &v);
    const int err = errno;
    close(fd);
    if (rc < 0) return FromErrno(err, "SG_SCSI_RESET on " + path);
    return {};
  });
  return worker->Queue();
}

}  // namespace

void InitSgBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("sgIo", Napi::Function::New(env, SgIo, "sgIo"));
  exports.Set("sgReset", Napi::Function::New(env, SgReset, "sgReset"));
}

}  // namespace usbscsi
