// Memory for received bodies, which follows the bytes that arrived. A body is read into memory
// that is reserved for its whole declared length but committed only as its bytes are written
// (large bodies: an anonymous mapping without a commitment; the kernel backs each page when it is
// first written, or a little ahead of the bytes: fault_ahead.hpp), so a header that declares a
// gigabyte costs nothing until the gigabyte comes. No byte is zeroed or copied on the way.
// Mappings of released bodies are kept a short while for the next large message (which then does
// not page-fault its memory again), within a bound, and handed back to the system once idle.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "net/mailbox.hpp"

namespace tno::mpc::communication::net {

class FaultAhead;

/// Reserved address space for one large body (see the file comment). Not thread-safe.
class Region {
 public:
  /// Reserves `capacity` bytes, in huge pages when `huge_pages` (fewer page faults while a large
  /// body arrives; the memory grows 2 MiB at a time). Throws std::bad_alloc when the address space
  /// cannot be had.
  Region(std::size_t capacity, bool huge_pages);
  ~Region();
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

  char* data() const noexcept { return data_; }
  std::size_t capacity() const noexcept { return capacity_; }
  /// Bytes the region may hold in memory: everything up to the furthest byte written, in whole
  /// pages (huge pages for large regions).
  std::size_t footprint() const noexcept;
  /// Records that the bytes up to `end` were written (or their pages faulted in).
  void written(std::size_t end) noexcept;
  /// Hands the memory beyond the first `keep` bytes back to the system.
  void trim(std::size_t keep) noexcept;

 private:
  char* data_;
  std::size_t capacity_;
  std::size_t page_;
  std::size_t written_ = 0;
};

/// Recycled regions of bodies of known length, bounded in bytes and in idle time. Thread-safe:
/// bodies are released on any thread.
class BodyBuffers : public std::enable_shared_from_this<BodyBuffers> {
 public:
  using Clock = std::chrono::steady_clock;
  /// Bodies from this size on get a region; smaller ones are read into a string.
  static constexpr std::size_t kRegionBytes = 64 * 1024;
  /// At most this many bytes of released regions are kept, none over kMaxKeptRegion: room for
  /// the region of one 1 GiB message with its envelope, so that a stream of such messages faults
  /// its memory in once...
  static constexpr std::size_t kMaxKeptBytes = std::size_t{1280} << 20;
  static constexpr std::size_t kMaxKeptRegion = kMaxKeptBytes;
  /// ...and each for at most this long.
  static constexpr Clock::duration kMaxIdle = std::chrono::seconds(2);
  /// Fresh regions from this size on are faulted in beside the reads (see FaultAhead), at most
  /// kFaultAheadLead bytes ahead of them.
  static constexpr std::size_t kFaultAheadBytes = std::size_t{64} << 20;
  static constexpr std::size_t kFaultAheadLead = std::size_t{32} << 20;

  /// A body being filled: `length` bytes are expected (or, for chunked bodies, up to `length`).
  class Filling {
   public:
    /// With `owner`, the region goes back to it when the body is let go (or never completes);
    /// without, it is unmapped. With `fault_ahead` (a fresh region), a FaultAhead faults its
    /// memory in ahead of the bytes once some have come.
    Filling(std::shared_ptr<BodyBuffers> owner, std::unique_ptr<Region> region,
            bool fault_ahead = false);
    Filling(Filling&&) noexcept;
    Filling& operator=(Filling&&) = delete;
    ~Filling();
    /// Where the next bytes go: up to `most` of them (fewer at the end of the region).
    std::span<char> space(std::size_t most) noexcept;
    /// How far ahead of the bytes that arrived their memory may be faulted in: as far as the
    /// bytes that arrived, up to kFaultAheadLead, when a thread does so (else 0), so that memory
    /// still follows the bytes (at most twice theirs). The owner counts that much ahead against
    /// its budget...
    std::size_t lead() const noexcept { return ahead_ ? std::min(size_, kFaultAheadLead) : 0; }
    /// ...and allows the memory up to `end` to be faulted in (the first time after bytes came,
    /// this starts the thread that does so, if it may run).
    void allow(std::size_t end);
    /// `n` bytes were written at space().
    void commit(std::size_t n) noexcept;
    std::size_t size() const noexcept { return size_; }
    /// Bytes of the region in memory already (a recycled region's pages): what the body holds
    /// before its first byte, to be counted like bytes that arrived.
    std::size_t resident() const noexcept { return region_->footprint(); }
    /// The finished body; the region goes back to the buffers when its last holder lets go.
    UncheckedBody finish() &&;

   private:
    // Stops the faulting thread, if any, and records what it faulted in.
    void settle() noexcept;

    std::shared_ptr<BodyBuffers> owner_;
    std::unique_ptr<Region> region_;
    bool may_fault_ahead_;
    std::unique_ptr<FaultAhead> ahead_;
    std::size_t size_ = 0;
  };

  /// Memory for a body of `capacity` bytes (`known_length`: a recycled region when one fits, else
  /// a fresh one, faulted in ahead of the reads from kFaultAheadBytes on), or of up to `capacity`
  /// bytes (a chunked body, whose length is known only at its end: a fresh region, in small
  /// pages, not recycled).
  Filling fill(std::size_t capacity, bool known_length);

  /// Hands back the regions idle for longer than kMaxIdle; returns whether any are still kept.
  bool sweep(Clock::time_point now = Clock::now());
  /// Bytes of released regions kept now.
  std::size_t kept_bytes() const;
  /// Called (on the releasing thread) when a released region is kept while none was, so that
  /// the owner can arrange a sweep.
  void on_first_kept(std::function<void()> callback);

 private:
  struct Kept {
    std::unique_ptr<Region> region;
    Clock::time_point since;
  };
  void give_back(std::unique_ptr<Region> region);

  mutable std::mutex mu_;
  std::vector<Kept> kept_;
  std::size_t kept_bytes_ = 0;
  std::function<void()> on_first_kept_;
};

/// See PoolConfig::retain_freed_memory: process-wide, so done once, and never against settings the
/// user made in the environment.
void retain_freed_memory();

}  // namespace tno::mpc::communication::net
