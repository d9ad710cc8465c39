// Linux SG_IO bindings: sgOpen opens a node once (sg_node.h) for every command of a transport;
// alignedBuffer gives page-aligned memory, which a block device's SG_IO maps in place.
#include <fcntl.h>
#include <scsi/sg.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "../common/args.h"
#include "../common/worker.h"
#include "sg_node.h"

namespace usbscsi {
namespace {

int OpenNode(const std::string& path) {
  int fd = open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0 && (errno == EROFS || errno == EACCES)) {
    const int first = errno;
    fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // read-only media / read-only permission
    if (fd < 0) errno = first;
  }
  return fd;
}

std::string PathArg(Napi::Env env, const Napi::Value& v) {
  if (!v.IsString()) ThrowBadInput(env, "path must be a string such as /dev/sg0 or /dev/sda");
  std::string path = v.As<Napi::String>().Utf8Value();
  if (path.empty() || path.find('\0') != std::string::npos) ThrowBadInput(env, "path must be a device node path");
  return path;
}

// { cdb, direction: 'none'|'in'|'out', buffer?, timeoutMs } -> a command (the buffer pinned by reference).
std::unique_ptr<SgCommand> CommandArg(Napi::Env env, const Napi::Value& value) {
  Napi::Object req = ObjectArg(env, value, "request");
  auto cmd = std::make_unique<SgCommand>(env);
  Napi::Uint8Array cdb = Bytes(env, req.Get("cdb"), "cdb");
  if (cdb.ByteLength() < 6 || cdb.ByteLength() > 16) ThrowBadInput(env, "cdb must be 6 to 16 bytes for SG_IO");
  cmd->cdb.assign(cdb.Data(), cdb.Data() + cdb.ByteLength());
  const Napi::Value dirValue = req.Get("direction");
  const std::string dir = dirValue.IsString() ? dirValue.As<Napi::String>().Utf8Value() : "";
  if (dir != "none" && dir != "in" && dir != "out") ThrowBadInput(env, "direction must be 'none', 'in' or 'out'");
  cmd->hdr.dxfer_direction = SG_DXFER_NONE;
  if (dir != "none") {
    Napi::Value bufferValue = req.Get("buffer");
    Napi::Uint8Array buf = Bytes(env, bufferValue, "buffer");
    if (buf.ByteLength() > 0x7fffffff) ThrowBadInput(env, "buffer must be smaller than 2 GiB");
    cmd->length = static_cast<uint32_t>(buf.ByteLength());
    if (cmd->length > 0) {
      cmd->hdr.dxferp = buf.Data();
      cmd->hdr.dxfer_len = cmd->length;
      cmd->hdr.dxfer_direction = dir == "in" ? SG_DXFER_FROM_DEV : SG_DXFER_TO_DEV;
      cmd->keep = Napi::Persistent(bufferValue);
    }
  }
  cmd->hdr.timeout = TimeoutMs(env, req.Get("timeoutMs"));
  return cmd;
}

// command(cdb, direction 0 none | 1 in | 2 out, buffer | undefined, timeoutMs, facts) -> Promise<void>:
// `execute` with positional arguments and the facts written into `facts` (kSgFactsBytes).
std::unique_ptr<SgCommand> PositionalCommand(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto cmd = std::make_unique<SgCommand>(env);
  Napi::Uint8Array cdb = Bytes(env, info[0], "cdb");
  if (cdb.ByteLength() < 6 || cdb.ByteLength() > 16) ThrowBadInput(env, "cdb must be 6 to 16 bytes for SG_IO");
  cmd->cdb.assign(cdb.Data(), cdb.Data() + cdb.ByteLength());
  const uint32_t dir = U32(env, info[1], "direction", 0, 2);
  cmd->hdr.dxfer_direction = SG_DXFER_NONE;
  if (dir != 0) {
    Napi::Uint8Array buf = Bytes(env, info[2], "buffer");
    if (buf.ByteLength() > 0x7fffffff) ThrowBadInput(env, "buffer must be smaller than 2 GiB");
    cmd->length = static_cast<uint32_t>(buf.ByteLength());
    if (cmd->length > 0) {
      cmd->hdr.dxferp = buf.Data();
      cmd->hdr.dxfer_len = cmd->length;
      cmd->hdr.dxfer_direction = dir == 1 ? SG_DXFER_FROM_DEV : SG_DXFER_TO_DEV;
      cmd->keep = Napi::Persistent(info[2]);
    }
  }
  cmd->hdr.timeout = TimeoutMs(env, info[3]);
  Napi::Uint8Array facts = Bytes(env, info[4], "facts");
  if (facts.ByteLength() < kSgFactsBytes) ThrowBadInput(env, "facts must be at least 316 bytes");
  cmd->facts = facts.Data();
  cmd->keepFacts = Napi::Persistent(info[4]);
  return cmd;
}

int ResetLevel(Napi::Env env, const Napi::Value& v) {
  const std::string level = v.IsString() ? v.As<Napi::String>().Utf8Value() : "device";
  if (level == "device") return SG_SCSI_RESET_DEVICE;
  if (level == "bus") return SG_SCSI_RESET_BUS;
  if (level == "host") return SG_SCSI_RESET_HOST;
#ifdef SG_SCSI_RESET_TARGET
  if (level == "target") return SG_SCSI_RESET_TARGET;
#endif
  ThrowBadInput(env, "level must be 'device', 'target', 'bus' or 'host'");
}

// The JS face of an open node: its functions share the node; collecting the object closes it.
Napi::Object NodeObject(Napi::Env env, std::shared_ptr<SgNode> node) {
  Napi::Object obj = Napi::Object::New(env);
  obj.Set("path", node->path());
  obj.Set("blockDevice", node->blockDevice());
  obj.Set("execute", Napi::Function::New(
                         env, [node](const Napi::CallbackInfo& info) -> Napi::Value {
                           return node->Execute(info.Env(), CommandArg(info.Env(), info[0]));
                         },
                         "execute"));
  obj.Set("command", Napi::Function::New(
                         env, [node](const Napi::CallbackInfo& info) -> Napi::Value {
                           return node->Execute(info.Env(), PositionalCommand(info));
                         },
                         "command"));
  obj.Set("job", Napi::Function::New(
                     env, [node](const Napi::CallbackInfo& info) -> Napi::Value {
                       return node->Job(info.Env(), SgJobArg(info.Env(), info[0], info[1], info[2]));
                     },
                     "job"));
  obj.Set("cancelJob", Napi::Function::New(
                           env, [node](const Napi::CallbackInfo& info) -> Napi::Value {
                             const uint32_t id = U32(info.Env(), info[0], "jobId", 1, 0x7fffffff);
                             return Napi::Boolean::New(info.Env(), node->CancelJob(id));
                           },
                           "cancelJob"));
  obj.Set("reset", Napi::Function::New(
                       env, [node](const Napi::CallbackInfo& info) -> Napi::Value {
                         return node->Reset(info.Env(), ResetLevel(info.Env(), info[0]));
                       },
                       "reset"));
  obj.Set("close", Napi::Function::New(
                       env, [node](const Napi::CallbackInfo& info) -> Napi::Value {
                         node->Close();
                         return info.Env().Undefined();
                       },
                       "close"));
  return obj;
}

// sgOpen(path) -> Promise<node>
Napi::Value SgOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string path = PathArg(env, info[0]);
  auto opened = std::make_shared<std::pair<int, bool>>(-1, false);
  auto* worker = new PromiseWorker(
      env, "usbscsi.sgOpen",
      [path, opened]() -> NativeError {
        const int fd = OpenNode(path);
        if (fd < 0) return FromErrno(errno, "SG_IO: open " + path);
        struct stat st {};
        if (fstat(fd, &st) != 0 || !(S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))) {
          close(fd);
          return MakeError("E_BAD_INPUT", "SG_IO: " + path + " is not a device node (an sg or block device such as "
                                                             "/dev/sg0 or /dev/sda)");
        }
        int version = 0;
        if (ioctl(fd, SG_GET_VERSION_NUM, &version) != 0) {
          const int err = errno;
          close(fd);
          NativeError e = FromErrno(err, "SG_IO: " + path + " is not a SCSI node (an sg device or a SCSI disk)");
          e.code = "E_BAD_INPUT";
          return e;
        }
        *opened = {fd, S_ISBLK(st.st_mode)};
        return {};
      },
      [path, opened](Napi::Env env) -> Napi::Value {
        return NodeObject(env, std::make_shared<SgNode>(env, path, opened->first, opened->second));
      });
  return worker->Queue();
}

// alignedBuffer(bytes) -> ArrayBuffer of zeroed, page-aligned memory
Napi::Value AlignedBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t bytes = U32(env, info[0], "bytes", 1, 0x7fffffff);
  void* p = nullptr;
  const size_t rounded = (bytes + kSgPageBytes - 1) / kSgPageBytes * kSgPageBytes;
  if (posix_memalign(&p, kSgPageBytes, rounded) != 0)
    ThrowNative(env, MakeError("E_NO_MEMORY", "cannot allocate " + std::to_string(bytes) + " aligned bytes"));
  std::memset(p, 0, rounded);
  return Napi::ArrayBuffer::New(env, p, bytes, [](Napi::Env, void* data) { std::free(data); });
}

}  // namespace

void InitSgBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("sgOpen", Napi::Function::New(env, SgOpen, "sgOpen"));
  exports.Set("alignedBuffer", Napi::Function::New(env, AlignedBuffer, "alignedBuffer"));
}

}  // namespace usbscsi
