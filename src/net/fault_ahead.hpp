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
/// own (named mpc-comm-faults), never beyond the end the owner allows (what it has counted against
/// the memory budget) rounded up to the page. Few run at once: at most one fewer than the CPUs
/// the process may use, in all.
class FaultAhead {
 public:
  /// A thread faulting in [data, data + length), or none (nullptr) where it would not run beside
  /// the reads: the calling thread may run on one CPU only, as many run already as there are
  /// other CPUs, the kernel cannot populate memory on request (before Linux 5.14, or a sandbox
  /// that refuses it), or no thread can be started. Throws std::bad_alloc.
  static std::unique_ptr<FaultAhead> start(char* data, std::size_t length);
  /// Stops (see stop()).
  ~FaultAhead();
  FaultAhead(const FaultAhead&) = delete;
  FaultAhead& operator=(const FaultAhead&) = delete;

  /// The bytes up to `end` (at most `length`) may be faulted in; an end below an earlier one
  /// changes nothing. Any thread.
  void allow(std::size_t end);
  /// Stops the thread, waiting for the step under way (at most a huge page's fault), and returns
  /// the end of what was faulted in or tried: rounded up to a page, so possibly beyond `length`
  /// within its last page. Again, it returns at once. (Failing to lock or join here would be a
  /// broken invariant: the process ends.)
  std::size_t stop() noexcept;

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
