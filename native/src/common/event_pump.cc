#include "event_pump.h"

#include <cstdlib>
#include <new>

#include "addon.h"

namespace usbscsi {

namespace {

int UvEvents(short events) {
  int flags = 0;
  if (events & POLLIN) flags |= UV_READABLE;
  if (events & POLLOUT) flags |= UV_WRITABLE;  // usbfs reports reapable URBs as writable
  return flags ? flags : UV_READABLE;
}

// libusb's pollfd notifiers run on whichever thread opened or closed a device: they only mark
// the set dirty and wake the loop; the JS thread reconciles (Sync).
void LIBUSB_CALL OnPollfdAdded(int, short, void* user) { static_cast<EventPump*>(user)->MarkDirty(); }
void LIBUSB_CALL OnPollfdRemoved(int, void* user) { static_cast<EventPump*>(user)->MarkDirty(); }

// libuv handles are C structs of different types freed through uv_handle_t*: calloc/free.
template <typename T>
T* NewHandle(EventPump* pump) {
  T* h = static_cast<T*>(std::calloc(1, sizeof(T)));
  if (h == nullptr) throw std::bad_alloc();
  h->data = pump;
  return h;
}

}  // namespace

EventPump::EventPump(napi_env env, libusb_context* ctx, std::mutex& transientOpen, Deliver deliver)
    : env_(env), ctx_(ctx), deliver_(std::move(deliver)), transientMu_(transientOpen) {
  napi_get_uv_event_loop(env_, &loop_);
  jsThread_ = uv_thread_self();
  napi_value name;
  napi_create_string_utf8(env_, "usbscsi.usbEvents", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env_, nullptr, name, &asyncContext_);

  retry_ = NewHandle<uv_timer_t>(this);
  uv_timer_init(loop_, retry_);
  uv_unref(reinterpret_cast<uv_handle_t*>(retry_));
  wake_ = NewHandle<uv_async_t>(this);
  uv_async_init(loop_, wake_, &EventPump::OnWake);
  uv_unref(reinterpret_cast<uv_handle_t*>(wake_));
  openHandles_ = 2;
  if (!libusb_pollfds_handle_timeouts(ctx_)) {
    // No timerfd (macOS): libusb's transfer timeouts are checked on a clock instead of an fd.
    tick_ = NewHandle<uv_timer_t>(this);
    uv_timer_init(loop_, tick_);
    uv_timer_start(tick_, &EventPump::OnTick, 50, 50);
    uv_unref(reinterpret_cast<uv_handle_t*>(tick_));
    ++openHandles_;
  }
  libusb_set_pollfd_notifiers(ctx_, &OnPollfdAdded, &OnPollfdRemoved, this);
  Sync();
}

bool EventPump::IsJsThread() const {
  const uv_thread_t self = uv_thread_self();
  return uv_thread_equal(&self, &jsThread_) != 0;
}

void EventPump::MarkDirty() {
  {
    std::lock_guard<std::mutex> lock(queueMu_);
    if (shuttingDown_) return;
    dirty_ = true;
  }
  uv_async_send(wake_);
}

void EventPump::StartWatch(int fd, Watch& w) {
  if (w.running || paused_ || shuttingDown_) return;
  if (w.poll == nullptr) {
    w.poll = NewHandle<uv_poll_t>(this);
    if (uv_poll_init(loop_, w.poll, fd) != 0) {
      std::free(w.poll);  // never initialised: not a libuv handle yet
      w.poll = nullptr;
      return;
    }
    uv_unref(reinterpret_cast<uv_handle_t*>(w.poll));  // only pending operations keep the loop alive
    ++openHandles_;
  }
  if (uv_poll_start(w.poll, UvEvents(w.events), &EventPump::OnPoll) == 0) w.running = true;
}

void EventPump::StopWatch(Watch& w) {
  if (w.poll != nullptr && w.running) uv_poll_stop(w.poll);
  w.running = false;
}

void EventPump::PauseAll() {
  paused_ = true;
  for (auto& entry : watches_) StopWatch(entry.second);
}

void EventPump::ScheduleRetry() {
  PauseAll();
  if (!shuttingDown_) uv_timer_start(retry_, &EventPump::OnRetry, 1, 0);
}

void EventPump::Sync() {
  if (shuttingDown_) return;
  std::unique_lock<std::mutex> transient(transientMu_, std::try_to_lock);
  if (!transient.owns_lock()) {  // a device is open only for a moment on another thread
    ScheduleRetry();
    return;
  }
  {
    std::lock_guard<std::mutex> lock(queueMu_);
    dirty_ = false;
  }
  std::map<int, short> want;
  const libusb_pollfd** fds = libusb_get_pollfds(ctx_);
  if (fds != nullptr) {
    for (size_t i = 0; fds[i] != nullptr; ++i) want[fds[i]->fd] = fds[i]->events;
    libusb_free_pollfds(fds);
  }
  transient.unlock();
  for (auto it = watches_.begin(); it != watches_.end();) {
    const auto w = want.find(it->first);
    if (w == want.end()) {
      StopWatch(it->second);
      if (it->second.poll != nullptr) uv_close(reinterpret_cast<uv_handle_t*>(it->second.poll), &EventPump::OnClosed);
      it = watches_.erase(it);
    } else {
      if (it->second.events != w->second) StopWatch(it->second);
      it->second.events = w->second;
      ++it;
    }
  }
  for (const auto& [fd, events] : want) {
    Watch& w = watches_[fd];
    w.events = events;
    StartWatch(fd, w);
  }
}

// A pass runs rounds of libusb_handle_events_locked (zero timeout) while the last round
// submitted a URB: a transfer callback submits the next phase (CBW -> data -> CSW), and when the
// device has answered it within the submit, the next round reaps it instead of a later turn of
// the loop (an epoll wake-up per phase that a synchronous C loop never pays). A round that
// submitted nothing ends the pass: what is still in flight makes its fd ready and wakes the
// poll. Each round's own poll is the only readiness check (no extra poll() before or after a
// round: in a TCG guest a syscall costs microseconds, and a TUR took five polls instead of two).
// Bounded, so a device that streams without pause cannot keep the loop from its other work.
constexpr int kMaxRounds = 8;

namespace {
thread_local uint64_t submittedOnThisThread = 0;
}  // namespace

void EventPump::NoteSubmitted() { ++submittedOnThisThread; }

void EventPump::Pass(bool inJsCall) {
  if (shuttingDown_ || paused_ || inPass_) return;
  if (libusb_try_lock_events(ctx_) != 0) {
    // A synchronous libusb call on another thread is handling events (and will run the
    // callbacks there): do not spin on the still-ready fds meanwhile.
    if (!inJsCall) ScheduleRetry();
    return;
  }
  if (!libusb_event_handling_ok(ctx_)) {  // a device is being closed on another thread
    libusb_unlock_events(ctx_);
    if (!inJsCall) ScheduleRetry();
    return;
  }
  inPass_ = true;
  timeval zero{0, 0};
  for (int round = 0; round < kMaxRounds; ++round) {
    const uint64_t before = submittedOnThisThread;
    libusb_handle_events_locked(ctx_, &zero);
    if (submittedOnThisThread == before) break;
  }
  inPass_ = false;
  libusb_unlock_events(ctx_);
  SyncIfDirty();
  DeliverReady(inJsCall);
}

void EventPump::PassNow() { Pass(true); }

void EventPump::SyncIfDirty() {
  bool dirty;
  {
    std::lock_guard<std::mutex> lock(queueMu_);
    dirty = dirty_;
  }
  if (dirty) Sync();
}

bool EventPump::TakeCompletion(Completion* completion) {
  if (!IsJsThread() || !inPass_) return false;
  ready_.push_back(completion);
  return true;
}

// Settles what the pass completed, now that the events lock is released: the promise
// reactions (the next command, usually) run when the callback scope closes.
void EventPump::DeliverReady(bool inJsCall) {
  if (ready_.empty()) return;
  std::vector<Completion*> batch;
  batch.swap(ready_);
  napi_handle_scope handleScope;
  napi_open_handle_scope(env_, &handleScope);
  if (inJsCall) {
    for (Completion* c : batch) deliver_(c);
    napi_close_handle_scope(env_, handleScope);
    return;
  }
  napi_value resource;
  napi_create_object(env_, &resource);
  napi_callback_scope callbackScope;
  const bool scoped = napi_open_callback_scope(env_, resource, asyncContext_, &callbackScope) == napi_ok;
  for (Completion* c : batch) deliver_(c);
  if (scoped) napi_close_callback_scope(env_, callbackScope);
  napi_close_handle_scope(env_, handleScope);
}

void EventPump::CloseDeviceHandle(libusb_device_handle* handle) {
  bool now;
  {
    std::lock_guard<std::mutex> lock(queueMu_);
    now = shuttingDown_;  // nothing polls any more: close on this thread
    if (!now && !(IsJsThread() && !inPass_)) {
      closeQueue_.push_back(handle);
      uv_async_send(wake_);
      return;
    }
  }
  if (now) libusb_close(handle);
  else CloseNow(handle);
}

void EventPump::CloseNow(libusb_device_handle* handle) {
  PauseAll();  // the handle's fd is about to close: libuv must not be watching it then
  libusb_close(handle);
  paused_ = false;
  Sync();
}

void EventPump::CloseQueued() {
  std::vector<libusb_device_handle*> queue;
  {
    std::lock_guard<std::mutex> lock(queueMu_);
    queue.swap(closeQueue_);
  }
  for (libusb_device_handle* h : queue) CloseNow(h);
}

void EventPump::OnPoll(uv_poll_t* handle, int, int) { static_cast<EventPump*>(handle->data)->Pass(false); }

void EventPump::OnTick(uv_timer_t* handle) { static_cast<EventPump*>(handle->data)->Pass(false); }

void EventPump::OnRetry(uv_timer_t* handle) {
  auto* pump = static_cast<EventPump*>(handle->data);
  pump->paused_ = false;
  pump->Sync();
  pump->Pass(false);
}

void EventPump::OnWake(uv_async_t* handle) {
  auto* pump = static_cast<EventPump*>(handle->data);
  pump->CloseQueued();
  pump->SyncIfDirty();
}

void EventPump::OnClosed(uv_handle_t* handle) {
  auto* pump = static_cast<EventPump*>(handle->data);
  std::free(handle);
  if (--pump->openHandles_ == 0 && pump->shuttingDown_) {
    std::function<void()> closed = std::move(pump->closed_);
    delete pump;
    if (closed) closed();
  }
}

void EventPump::Shutdown(std::function<void()> closed) {
  std::vector<libusb_device_handle*> queue;
  {
    std::lock_guard<std::mutex> lock(queueMu_);
    shuttingDown_ = true;
    queue.swap(closeQueue_);
  }
  libusb_set_pollfd_notifiers(ctx_, nullptr, nullptr, nullptr);
  closed_ = std::move(closed);
  for (auto& entry : watches_) {
    StopWatch(entry.second);
    if (entry.second.poll != nullptr) uv_close(reinterpret_cast<uv_handle_t*>(entry.second.poll), &EventPump::OnClosed);
  }
  watches_.clear();
  for (libusb_device_handle* h : queue) libusb_close(h);  // only now that libuv let go of the fds
  uv_timer_stop(retry_);
  uv_close(reinterpret_cast<uv_handle_t*>(retry_), &EventPump::OnClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(wake_), &EventPump::OnClosed);
  if (tick_ != nullptr) {
    uv_timer_stop(tick_);
    uv_close(reinterpret_cast<uv_handle_t*>(tick_), &EventPump::OnClosed);
  }
  if (asyncContext_ != nullptr) napi_async_destroy(env_, asyncContext_);
  asyncContext_ = nullptr;
}

}  // namespace usbscsi
