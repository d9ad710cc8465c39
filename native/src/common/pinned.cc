// Pinned transfer buffers: memory mapped from the device's usbfs file (libusb_dev_mem_alloc),
// handed to JS as an external ArrayBuffer. A URB whose buffer lies in such a mapping is filled
// or sent by the host controller in place: no copy_to_user / copy_from_user of every byte,
// which is what the kernel's own O_DIRECT path also avoids (2-2.5x at 4 MiB in the benchmark's
// guest). The mapping counts toward usbfs_memory_mb until it is released or collected.
#include <sys/mman.h>

#include "args.h"
#include "handle.h"

namespace usbscsi {

struct PinnedBuffer {
  std::shared_ptr<HandleState> state;
  uint8_t* data = nullptr;
  size_t length = 0;
  bool released = false;
};

namespace {

// The mapping outlives libusb_close (it holds the usbfs file): unmap it either way.
void Unmap(PinnedBuffer& p) {
  if (p.released) return;
  p.released = true;
  libusb_device_handle* h;
  {
    std::lock_guard<std::mutex> lock(p.state->mu);
    h = p.state->handle;
  }
  if (h != nullptr) {
    libusb_dev_mem_free(h, p.data, p.length);
  } else {
#if defined(__linux__)
    munmap(p.data, p.length);  // what libusb_dev_mem_free does on Linux, without the closed handle
#endif
  }
}

void Finalize(Napi::Env, void*, PinnedBuffer* p) {
  Unmap(*p);
  {
    std::lock_guard<std::mutex> lock(p->state->mu);
    auto it = p->state->pinned.find(p->data);
    if (it != p->state->pinned.end() && it->second == p) p->state->pinned.erase(it);
  }
  delete p;
}

}  // namespace

// allocTransferBuffer(bytes) -> ArrayBuffer | null (null: this platform or usbfs cannot pin it)
Napi::Value AllocTransferBuffer(const Napi::CallbackInfo& info, const std::shared_ptr<HandleState>& state) {
  Napi::Env env = info.Env();
  const uint32_t bytes = U32(env, info[0], "bytes", 1, 0x7fffffff);
  libusb_device_handle* h;
  {
    std::lock_guard<std::mutex> lock(state->mu);
    if (state->closed || state->handle == nullptr) {
      ThrowNative(env, MakeError("E_DEVICE_GONE", "the device handle is closed (or was reset): open the device again"));
    }
    h = state->handle;
  }
  uint8_t* data = libusb_dev_mem_alloc(h, bytes);
  if (data == nullptr) return env.Null();  // not Linux, or over usbfs_memory_mb: ordinary memory will do
  auto* p = new PinnedBuffer{state, data, bytes};
  Napi::ArrayBuffer ab;
  try {
    ab = Napi::ArrayBuffer::New(env, data, bytes, Finalize, p);
  } catch (...) {
    Unmap(*p);
    delete p;
    throw;
  }
  std::lock_guard<std::mutex> lock(state->mu);
  state->pinned[data] = p;
  return ab;
}

// releaseTransferBuffer(arrayBuffer) -> boolean: unmaps now and detaches the ArrayBuffer (its
// views read as empty afterwards); false when it is not a live pinned buffer of this handle.
Napi::Value ReleaseTransferBuffer(const Napi::CallbackInfo& info, const std::shared_ptr<HandleState>& state) {
  Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer()) {
    ThrowBadInput(env, "releaseTransferBuffer takes the ArrayBuffer that allocTransferBuffer returned");
  }
  Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
  PinnedBuffer* p = nullptr;
  {
    std::lock_guard<std::mutex> lock(state->mu);
    auto it = state->pinned.find(static_cast<const uint8_t*>(ab.Data()));
    if (it != state->pinned.end()) p = it->second;
  }
  if (p == nullptr || p->released) return Napi::Boolean::New(env, false);
  // A command may still have URBs (of this handle or another) pointing into the mapping; once
  // unmapped, that address could be reused and an IN transfer would land in foreign memory.
  if (Addon::Get(env)->PendingCount() > 0) {
    ThrowNative(env, MakeError("E_BUSY",
                               "a transfer buffer cannot be released while commands are in flight: "
                               "release it after they settle"));
  }
  ab.Detach();  // first: JS can no longer reach the memory that is unmapped next
  Unmap(*p);
  return Napi::Boolean::New(env, true);
}

}  // namespace usbscsi
