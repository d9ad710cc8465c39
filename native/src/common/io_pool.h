// A small pool of threads for the disk side of fd-streamed phases (pread / pwrite), so that
// event handling never waits for a disk and a command does not start a thread of its own.
// Owned by the Addon; Stop() runs what is queued and joins the threads at teardown.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace usbscsi {

class IoPool {
 public:
  explicit IoPool(size_t threads) : size_(threads) {}
  ~IoPool() { Stop(); }
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  // Any thread. False once stopped (the task is not run).
  bool Post(std::function<void()> task);
  // Runs every queued task, then joins. Idempotent.
  void Stop();

 private:
  void Run();

  const size_t size_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  std::vector<std::thread> threads_;  // started on the first Post
  bool stopped_ = false;
};

}  // namespace usbscsi
