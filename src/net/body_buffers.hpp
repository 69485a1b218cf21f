// Memory for large received bodies. A fresh buffer of tens of MiB costs a page fault per 4 KiB when
// it is first written (and glibc serves such sizes from fresh mappings on threads other than the
// main one, whatever its thresholds), which costs as much as the copy from the socket; a recycled
// buffer is mapped already. Also the process-wide malloc setting of
// PoolConfig::retain_freed_memory.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "net/mailbox.hpp"

namespace tno::mpc::communication::net {

/// A few recycled buffers for large bodies. Buffers from 1 MiB to 256 MiB come back when the last
/// holder of their body releases it; at most 4 are kept; others go back to the allocator.
/// Thread-safe.
class BodyBuffers : public std::enable_shared_from_this<BodyBuffers> {
 public:
  /// A buffer of exactly `length` bytes, contents unspecified (the caller overwrites them): the
  /// smallest kept one that fits without wasting more than half, else a new one.
  std::unique_ptr<std::string> take(std::size_t length);
  /// The shared, immutable body handed to receivers; a large one comes back here when released.
  Body wrap(std::unique_ptr<std::string> buffer);

 private:
  void give_back(std::string* buffer);

  std::mutex mu_;
  std::vector<std::unique_ptr<std::string>> free_;
};

/// See PoolConfig::retain_freed_memory: process-wide, so done once, and never against settings the
/// user made in the environment.
void retain_freed_memory();

}  // namespace tno::mpc::communication::net
