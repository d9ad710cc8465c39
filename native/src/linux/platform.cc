// Linux: string descriptors from sysfs (no open, no permission needed), the usbfs
// transfer-memory limit shared by every process's in-flight URBs, the credentials of a
// Unix-socket peer, file descriptors passed over a Unix socket, memory shared through a file, and
// whether the mount table changed.
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "../common/args.h"
#include "../common/platform.h"

namespace usbscsi {

void InitSgBindings(Napi::Env env, Napi::Object exports);  // sgio.cc

namespace {

// peerCredentials(fd) -> { pid, uid, gid } of the process that connected a Unix socket,
// as the kernel recorded them at connect() time (SO_PEERCRED): what the peer cannot forge.
// One getsockopt on a connected socket: it does not block.
Napi::Value PeerCredentials(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = static_cast<int>(U32(env, info[0], "fd", 0, 0x7fffffff));
  struct ucred cred {};
  socklen_t size = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &size) != 0) {
    ThrowNative(env, FromErrno(errno, "SO_PEERCRED on fd " + std::to_string(fd)));
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, cred.pid));
  out.Set("uid", Napi::Number::New(env, cred.uid));
  out.Set("gid", Napi::Number::New(env, cred.gid));
  return out;
}

// A failed fd-passing call as a fact (E_IO with the errno): FromErrno's advice is about device
// nodes; what a failure on a client's socket means is core's and the daemon's to say.
NativeError SocketError(int err, const std::string& what) {
  NativeError e;
  e.code = "E_IO";
  e.errnoValue = err;
  e.message = what + ": " + std::strerror(err) + ".";
  return e;
}

// sendFd(socketFd, fd): one byte on a connected Unix socket carrying a duplicate of `fd`
// (SCM_RIGHTS), so that usbscsid moves a range's bytes straight between the device and the
// client's file. Never blocks: a socket whose buffer cannot take one byte is an error.
Napi::Value SendFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int socketFd = static_cast<int>(U32(env, info[0], "socketFd", 0, 0x7fffffff));
  const int fd = static_cast<int>(U32(env, info[1], "fd", 0, 0x7fffffff));
  char byte = 'F';
  struct iovec iov { &byte, 1 };
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  ssize_t sent;
  do {
    sent = sendmsg(socketFd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent != 1) {
    ThrowNative(env, SocketError(sent < 0 ? errno : EIO,
                                 "sending fd " + std::to_string(fd) + " on socket " + std::to_string(socketFd)));
  }
  return env.Undefined();
}

// receiveFd(socketFd) -> the descriptor a peer sent with sendFd (close-on-exec), or null while
// nothing has arrived (it never waits: the caller polls, no thread is held). The peer is
// untrusted: a byte with no descriptor, or with more than one, is an error, and every descriptor
// that came with it is closed.
Napi::Value ReceiveFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int socketFd = static_cast<int>(U32(env, info[0], "socketFd", 0, 0x7fffffff));
  char byte = 0;
  struct iovec iov { &byte, 1 };
  constexpr int kMaxFds = 8;
  alignas(struct cmsghdr) char control[CMSG_SPACE(kMaxFds * sizeof(int))] = {};
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t got;
  do {
    got = recvmsg(socketFd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (got < 0 && errno == EINTR);
  if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return env.Null();
  if (got < 0) {
    ThrowNative(env, SocketError(errno, "receiving a file descriptor on socket " + std::to_string(socketFd)));
  }
  std::vector<int> fds;
  for (struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
      fds.push_back(fd);
    }
  }
  const bool truncated = (msg.msg_flags & MSG_CTRUNC) != 0;
  if (got == 1 && fds.size() == 1 && !truncated) return Napi::Number::New(env, fds[0]);
  for (int fd : fds) close(fd);
  const std::string what = got == 0 ? "the peer closed the connection before sending a file descriptor"
                                    : "the peer sent " + std::to_string(fds.size()) + " file descriptors" +
                                          (truncated ? " (and more than fit)" : "") + " where one was expected";
  ThrowNative(env, SocketError(EPROTO, what));
}

// Memory that is also a file (sharedMemory): the client's side of a range usbscsid moves in
// place. Found again by its address for releaseSharedMemory; any JS thread may make one.
struct SharedMemoryMapping {
  uint8_t* data = nullptr;
  size_t length = 0;
  int fd = -1;
  bool released = false;
  bool unshared = false;
};
std::mutex sharedMemoryLock;
std::unordered_map<const void*, SharedMemoryMapping*> sharedMemoryByAddress;

void UnmapSharedMemory(SharedMemoryMapping& m) {
  if (m.released) return;
  m.released = true;
  munmap(m.data, m.length);
  close(m.fd);
}

void FinalizeSharedMemory(Napi::Env, void*, SharedMemoryMapping* m) {
  UnmapSharedMemory(*m);
  {
    std::lock_guard<std::mutex> lock(sharedMemoryLock);
    auto it = sharedMemoryByAddress.find(m->data);
    if (it != sharedMemoryByAddress.end() && it->second == m) sharedMemoryByAddress.erase(it);
  }
  delete m;
}

// sharedMemory(bytes) -> { fd, buffer }: `bytes` of zeroed memory that are also the content of a
// file in memory only (memfd, mapped shared): handed to usbscsid, the daemon reads into the file
// or writes from it and the bytes are in `buffer` with no copy on this side. Sealed against
// shrinking and growing, so that a daemon holding the descriptor cannot cut the file under the
// mapping (touching a page past its end would be SIGBUS here). The descriptor and the mapping
// live until releaseSharedMemory or collection; the caller must not close the descriptor.
Napi::Value SharedMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint32_t bytes = U32(env, info[0], "bytes", 1, 0x7fffffff);
  const int fd = memfd_create("usbscsi-shared", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) ThrowNative(env, SocketError(errno, "memfd_create"));
  if (ftruncate(fd, bytes) != 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    const int err = errno;
    close(fd);
    ThrowNative(env, SocketError(err, "sizing and sealing a file in memory of " + std::to_string(bytes) + " bytes"));
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    close(fd);
    ThrowNative(env, SocketError(err, "mapping a file in memory of " + std::to_string(bytes) + " bytes"));
  }
  auto* m = new SharedMemoryMapping{static_cast<uint8_t*>(p), bytes, fd};
  Napi::ArrayBuffer ab;
  try {
    ab = Napi::ArrayBuffer::New(env, p, bytes, FinalizeSharedMemory, m);
  } catch (...) {
    UnmapSharedMemory(*m);
    delete m;
    throw;
  }
  {
    std::lock_guard<std::mutex> lock(sharedMemoryLock);
    sharedMemoryByAddress[p] = m;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", fd);
  out.Set("buffer", ab);
  return out;
}

// The ArrayBuffer argument of releaseSharedMemory / unshareSharedMemory (E_BAD_INPUT otherwise).
Napi::ArrayBuffer SharedMemoryArgument(const Napi::CallbackInfo& info, const char* name) {
  if (!info[0].IsArrayBuffer())
    ThrowBadInput(info.Env(), std::string(name) + " takes the ArrayBuffer sharedMemory returned");
  return info[0].As<Napi::ArrayBuffer>();
}

// The mapping sharedMemory made for this ArrayBuffer, found by its address; null for other memory.
SharedMemoryMapping* FindSharedMemory(Napi::ArrayBuffer ab) {
  std::lock_guard<std::mutex> lock(sharedMemoryLock);
  auto it = sharedMemoryByAddress.find(ab.Data());
  return it != sharedMemoryByAddress.end() ? it->second : nullptr;
}

// releaseSharedMemory(arrayBuffer) -> boolean: detaches the ArrayBuffer (its views read as empty),
// unmaps it and closes its descriptor now; false when it is not live shared memory. A daemon still
// moving bytes keeps its own descriptor of the file: its writes land in the file, not here.
Napi::Value ReleaseSharedMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::ArrayBuffer ab = SharedMemoryArgument(info, "releaseSharedMemory");
  SharedMemoryMapping* m = FindSharedMemory(ab);
  if (m == nullptr || m->released) return Napi::Boolean::New(env, false);
  ab.Detach();  // first: JS can no longer reach the memory that is unmapped next
  UnmapSharedMemory(*m);
  return Napi::Boolean::New(env, true);
}

// unshareSharedMemory(arrayBuffer) -> boolean: the memory keeps its address and its bytes but
// stops being the file, in one step (a private copy moved over the mapping): whatever a daemon
// still writes into the file no longer shows here. For a range the client gave up on before the
// daemon answered: the caller owns its memory again at once, whatever the daemon's command in
// flight does. The descriptor stays open (reading it gives what the file holds) until
// releaseSharedMemory or collection. False when it is not live shared memory, or already unshared.
Napi::Value UnshareSharedMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SharedMemoryMapping* m = FindSharedMemory(SharedMemoryArgument(info, "unshareSharedMemory"));
  if (m == nullptr || m->released || m->unshared) return Napi::Boolean::New(env, false);
  void* copy = mmap(nullptr, m->length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (copy == MAP_FAILED) ThrowNative(env, SocketError(errno, "mapping a private copy of shared memory"));
  std::memcpy(copy, m->data, m->length);
  // MREMAP_FIXED replaces the shared mapping at the same address: there is no moment when the
  // address is unmapped.
  if (mremap(copy, m->length, m->length, MREMAP_MAYMOVE | MREMAP_FIXED, m->data) == MAP_FAILED) {
    const int err = errno;
    munmap(copy, m->length);
    ThrowNative(env, SocketError(err, "moving a private copy over shared memory"));
  }
  m->unshared = true;
  return Napi::Boolean::New(env, true);
}

// pollPriority(fd) -> boolean: whether poll(2) reports an exceptional condition (POLLPRI or
// POLLERR) on `fd` right now; zero timeout, so it never blocks. On a /proc/<pid>/mountinfo
// descriptor that is the kernel saying the mount table changed since the descriptor was opened or
// last polled (proc(5)), which lets core re-read the table only when it did.
Napi::Value PollPriority(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = static_cast<int>(U32(env, info[0], "fd", 0, 0x7fffffff));
  struct pollfd p {};
  p.fd = fd;
  p.events = POLLPRI;
  int ready;
  do {
    ready = poll(&p, 1, 0);
  } while (ready < 0 && errno == EINTR);
  if (ready < 0) ThrowNative(env, FromErrno(errno, "polling fd " + std::to_string(fd)));
  if (p.revents & POLLNVAL) ThrowBadInput(env, "pollPriority: fd " + std::to_string(fd) + " is not open");
  return Napi::Boolean::New(env, (p.revents & (POLLPRI | POLLERR)) != 0);
}

}  // namespace

void InitPlatform(Napi::Env env, Napi::Object exports) {
  InitSgBindings(env, exports);
  exports.Set("peerCredentials", Napi::Function::New(env, PeerCredentials, "peerCredentials"));
  exports.Set("sendFd", Napi::Function::New(env, SendFd, "sendFd"));
  exports.Set("receiveFd", Napi::Function::New(env, ReceiveFd, "receiveFd"));
  exports.Set("sharedMemory", Napi::Function::New(env, SharedMemory, "sharedMemory"));
  exports.Set("releaseSharedMemory", Napi::Function::New(env, ReleaseSharedMemory, "releaseSharedMemory"));
  exports.Set("unshareSharedMemory", Napi::Function::New(env, UnshareSharedMemory, "unshareSharedMemory"));
  exports.Set("pollPriority", Napi::Function::New(env, PollPriority, "pollPriority"));
}

namespace {

std::optional<std::string> ReadLine(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

bool PlatformDeviceStrings(uint8_t busNumber, const std::vector<uint8_t>& portNumbers, DeviceStrings& out) {
  std::ostringstream dir;
  dir << "/sys/bus/usb/devices/";
  if (portNumbers.empty()) {
    dir << "usb" << static_cast<int>(busNumber);
  } else {
    dir << static_cast<int>(busNumber) << '-';
    for (size_t i = 0; i < portNumbers.size(); ++i) dir << (i ? "." : "") << static_cast<int>(portNumbers[i]);
  }
  struct stat st;
  if (stat(dir.str().c_str(), &st) != 0) return false;
  out.manufacturer = ReadLine(dir.str() + "/manufacturer");
  out.product = ReadLine(dir.str() + "/product");
  out.serialNumber = ReadLine(dir.str() + "/serial");
  return true;
}

uint64_t PlatformTransferMemoryLimit(std::string& source) {
  const char* path = "/sys/module/usbcore/parameters/usbfs_memory_mb";
  const auto value = ReadLine(path);
  if (!value) {
    source = "usbfs_memory_mb (not readable, assuming the default 16 MiB)";
    return 16ull << 20;
  }
  source = std::string(path) + " = " + *value;
  try {
    return std::stoull(*value) << 20;  // 0 = no limit
  } catch (...) {
    return 16ull << 20;
  }
}

const char* PlatformName() { return "linux"; }

}  // namespace usbscsi
