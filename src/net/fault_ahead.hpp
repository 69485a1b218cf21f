// Faulting a large body's fresh memory in beside the reads that fill it. The first write to a
// fresh page makes the kernel back it (clear it; on a virtual machine whose host has taken the
// memory back, the host backs it too, which on the VM this was measured on costs ~1 s per GiB);
// inside a socket read that work stalls the copy. A thread of its own makes the pages resident
// ahead of the reads, on another CPU, so the two run side by side.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <thread>

namespace tno::mpc::communication::net {

/// Makes the pages of [data, data + length) resident from the start, in order, on a thread of its
/// own, never beyond the end the owner allows (what it has counted against the memory budget).
/// Stops and joins its thread when destroyed, having at most one step (one huge page) under way:
/// the memory must stay mapped until then.
class FaultAhead {
 public:
  /// A thread faulting in [data, data + length), or none (nullptr) where it would not run beside
  /// the reads: the calling thread may run on one CPU only, the kernel cannot populate memory on
  /// request (before Linux 5.14), or no thread can be started.
  static std::unique_ptr<FaultAhead> start(char* data, std::size_t length);
  ~FaultAhead();
  FaultAhead(const FaultAhead&) = delete;
  FaultAhead& operator=(const FaultAhead&) = delete;

  /// The bytes up to `end` may be faulted in.
  void allow(std::size_t end);
  /// Stops; returns the end of what was faulted in.
  std::size_t stop();

 private:
  FaultAhead(char* data, std::size_t length);
  void run();

  char* const data_;
  const std::size_t length_;
  std::mutex mu_;
  std::condition_variable more_;
  std::size_t allowed_ = 0;
  std::size_t faulted_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tno::mpc::communication::net
