// libusb's events handled on the JS thread, inside libuv's loop: libuv polls libusb's file
// descriptors and, when one is ready, a pass of libusb_handle_events_locked (zero timeout) runs
// the transfer callbacks right there. A BOT command then costs what it costs the C loop — the
// URBs' own wake-ups — with no event thread waking the JS thread through a thread-safe function
// once per command (measured in docs/benchmarks.md).
//
// Rules that keep libuv and libusb agreeing about file descriptors:
// * A device fd is polled only after the JS thread has seen it in libusb_get_pollfds (Sync);
//   transient opens (string descriptors) hold the Addon's TransientOpenMutex() so Sync never
//   sees them.
// * A device handle is closed only on the JS thread, with its polls stopped first
//   (CloseDeviceHandle; other threads queue the handle and wake the loop).
// * Another thread may still handle events (a synchronous libusb call on a pool thread takes the
//   events lock): its callbacks arrive through Addon::Post's thread-safe function as before, and
//   while it holds the lock the polls pause for a millisecond instead of spinning.
#pragma once

#include <libusb.h>
#include <napi.h>
#include <poll.h>
#include <uv.h>

#include <functional>
#include <map>
#include <mutex>
#include <vector>

namespace usbscsi {

class Completion;

class EventPump {
 public:
  using Deliver = std::function<void(Completion*)>;
  // JS thread. `deliver` settles one completion (on the JS thread, inside a callback scope).
  EventPump(napi_env env, libusb_context* ctx, std::mutex& transientOpen, Deliver deliver);
  EventPump(const EventPump&) = delete;
  EventPump& operator=(const EventPump&) = delete;

  // JS thread: reconcile the polls with libusb's pollfds (after a device was opened).
  void Sync();
  // Any thread (libusb's pollfd notifiers): the set changed; the JS thread will Sync.
  void MarkDirty();
  // Any thread: closes `handle` on the JS thread with its fd unpolled first.
  void CloseDeviceHandle(libusb_device_handle* handle);
  // JS thread, inside the JS call that just submitted transfers: reap what has already come
  // back. A device that answers within the submit (QEMU's emulated controllers do; a fast
  // one may) then costs no turn of the loop per phase: the next phase is submitted and its
  // answer reaped here too, and the promise is settled before the call returns. Settles without
  // a callback scope: the caller's JavaScript is on the stack, and the reactions run after it.
  void PassNow();
  // JS thread, within a pass: a completion to settle once the events lock is released.
  // Returns false when not in a pass (the caller uses the thread-safe function).
  bool TakeCompletion(Completion* completion);
  // JS thread, environment teardown: stop polling, then close every libuv handle; `closed`
  // runs once libuv has released them all (the pump deletes itself first).
  void Shutdown(std::function<void()> closed);
  bool IsJsThread() const;
  // Any thread, after a libusb_submit_transfer that succeeded: a pass runs another round of
  // event handling only when its last round submitted something (a callback sent the next
  // phase), which the device may have answered already; what was in flight before wakes the
  // poll. (Polling the fds after every round cost a syscall per round: see Pass.)
  static void NoteSubmitted();

 private:
  struct Watch {
    uv_poll_t* poll = nullptr;
    short events = 0;
    bool running = false;
  };

  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnRetry(uv_timer_t* handle);
  static void OnTick(uv_timer_t* handle);
  static void OnWake(uv_async_t* handle);
  static void OnClosed(uv_handle_t* handle);

  // `inJsCall`: from PassNow (no retry timer, no callback scope).
  void Pass(bool inJsCall);
  void SyncIfDirty();
  void DeliverReady(bool inJsCall);
  void PauseAll();
  void ScheduleRetry();
  void StopWatch(Watch& w);
  void StartWatch(int fd, Watch& w);
  void CloseNow(libusb_device_handle* handle);
  void CloseQueued();

  napi_env env_;
  libusb_context* ctx_;
  Deliver deliver_;
  uv_loop_t* loop_ = nullptr;
  uv_thread_t jsThread_;
  napi_async_context asyncContext_ = nullptr;
  std::map<int, Watch> watches_;
  uv_timer_t* retry_ = nullptr;   // a pass could not take the events lock: try again shortly
  uv_timer_t* tick_ = nullptr;    // platforms without timerfd: transfer timeouts need a clock
  uv_async_t* wake_ = nullptr;    // other threads: pollfds changed, or a handle to close
  bool inPass_ = false;
  bool paused_ = false;
  bool shuttingDown_ = false;
  int openHandles_ = 0;
  std::function<void()> closed_;
  std::vector<Completion*> ready_;
  std::mutex& transientMu_;  // the Addon's: held around a libusb_open..libusb_close the JS thread must not poll
  std::mutex queueMu_;
  std::vector<libusb_device_handle*> closeQueue_;
  bool dirty_ = true;  // libusb's pollfd set changed since the last Sync (guarded by queueMu_)
};

}  // namespace usbscsi
