#include "net/body_buffers.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <new>
#ifdef __GLIBC__
#include <malloc.h>  // mallopt
#endif

#include "net/fault_ahead.hpp"
#include "net/pages.hpp"

namespace tno::mpc::communication::net {

namespace {
// Regions for bodies of known length from this size on ask for transparent huge pages: a 2 MiB
// page per fault instead of a 4 KiB one, 512 times fewer faults while a large body arrives.
constexpr std::size_t kHugeRegion = std::size_t{8} << 20;
}  // namespace

Region::Region(std::size_t capacity, bool huge_pages)
    : capacity_(capacity), page_(huge_pages ? kHugePage : small_page()) {
  const std::size_t length = round_up(std::max<std::size_t>(capacity, 1), page_);
  void* p = mmap(nullptr, length, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  data_ = static_cast<char*>(p);
  if (page_ == kHugePage) madvise(data_, length, MADV_HUGEPAGE);
}

Region::~Region() {
  munmap(data_, round_up(std::max<std::size_t>(capacity_, 1), page_));
}

std::size_t Region::footprint() const noexcept {
  return round_up(written_, page_);
}

void Region::written(std::size_t end) noexcept {
  written_ = std::max(written_, end);
}

void Region::trim(std::size_t keep) noexcept {
  const std::size_t from = round_up(keep, page_);
  const std::size_t to = round_up(written_, page_);
  if (to > from) madvise(data_ + from, to - from, MADV_DONTNEED);
  written_ = std::min(written_, keep);
}

BodyBuffers::Filling::Filling(std::shared_ptr<BodyBuffers> owner, std::unique_ptr<Region> region,
                              bool fault_ahead)
    : owner_(std::move(owner)), region_(std::move(region)), may_fault_ahead_(fault_ahead) {}

BodyBuffers::Filling::Filling(Filling&&) noexcept = default;

BodyBuffers::Filling::~Filling() {
  settle();
  if (region_ && owner_) owner_->give_back(std::move(region_));  // a body that never completed
}

std::span<char> BodyBuffers::Filling::space(std::size_t most) noexcept {
  const std::size_t left = region_->capacity() - size_;
  return {region_->data() + size_, std::min(most, left)};
}

void BodyBuffers::Filling::allow(std::size_t end) {
  if (may_fault_ahead_ && size_ > 0) {
    may_fault_ahead_ = false;
    ahead_ = FaultAhead::start(region_->data(), region_->capacity());
  }
  if (ahead_) ahead_->allow(end);
}

void BodyBuffers::Filling::settle() noexcept {
  if (!ahead_) return;
  region_->written(ahead_->stop());
  ahead_.reset();
}

void BodyBuffers::Filling::commit(std::size_t n) noexcept {
  size_ += n;
  region_->written(size_);
}

UncheckedBody BodyBuffers::Filling::finish() && {
  settle();
  Region* region = region_.release();
  std::weak_ptr<BodyBuffers> buffers = owner_;
  std::shared_ptr<const void> holder(region, [buffers](Region* r) {
    std::unique_ptr<Region> owned(r);
    if (auto b = buffers.lock()) b->give_back(std::move(owned));
  });  // (without an owner, the weak pointer is empty and the region is unmapped)
  return std::make_shared<ReceivedBody>(std::string_view(region->data(), size_), std::move(holder),
                                        region->footprint());
}

BodyBuffers::Filling BodyBuffers::fill(std::size_t capacity, bool known_length) {
  if (!known_length) return Filling(nullptr, std::make_unique<Region>(capacity, false));
  std::unique_ptr<Region> region;
  {
    std::lock_guard lock(mu_);
    auto best = kept_.end();
    for (auto it = kept_.begin(); it != kept_.end(); ++it) {
      const std::size_t c = it->region->capacity();
      // The smallest that fits, and never more than twice what is needed.
      if (c >= capacity && c / 2 <= capacity &&
          (best == kept_.end() || c < best->region->capacity())) {
        best = it;
      }
    }
    if (best != kept_.end()) {
      region = std::move(best->region);
      kept_bytes_ -= region->footprint();
      kept_.erase(best);
    }
  }
  if (region) {
    region->trim(capacity);  // what lies beyond this body is not kept for it
    return Filling(shared_from_this(), std::move(region));
  }
  return Filling(shared_from_this(), std::make_unique<Region>(capacity, capacity >= kHugeRegion),
                 /*fault_ahead=*/capacity >= kFaultAheadBytes);
}

void BodyBuffers::give_back(std::unique_ptr<Region> region) {
  if (region->capacity() > kMaxKeptRegion || region->footprint() > kMaxKeptBytes) return;
  std::function<void()> notify;
  std::vector<Kept> evicted;  // unmapped outside the lock
  {
    std::lock_guard lock(mu_);
    if (kept_.empty()) notify = on_first_kept_;
    kept_bytes_ += region->footprint();
    kept_.push_back(Kept{std::move(region), Clock::now()});
    // Over the bound: the longest kept go first.
    while (kept_bytes_ > kMaxKeptBytes) {
      kept_bytes_ -= kept_.front().region->footprint();
      evicted.push_back(std::move(kept_.front()));
      kept_.erase(kept_.begin());
    }
  }
  if (notify) notify();
}

bool BodyBuffers::sweep(Clock::time_point now) {
  std::vector<Kept> released;  // unmapped outside the lock
  std::lock_guard lock(mu_);
  auto idle = [&](const Kept& k) { return now - k.since >= kMaxIdle; };
  for (auto& k : kept_) {
    if (idle(k)) {
      kept_bytes_ -= k.region->footprint();
      released.push_back(std::move(k));
    }
  }
  std::erase_if(kept_, [](const Kept& k) { return !k.region; });
  return !kept_.empty();
}

std::size_t BodyBuffers::kept_bytes() const {
  std::lock_guard lock(mu_);
  return kept_bytes_;
}

void BodyBuffers::on_first_kept(std::function<void()> callback) {
  std::lock_guard lock(mu_);
  on_first_kept_ = std::move(callback);
}

void retain_freed_memory() {
#ifdef __GLIBC__
  static std::once_flag once;
  std::call_once(once, [] {
    if (std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr ||
        std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr) {
      return;
    }
    // Allocations below 32 MiB come from the heap (not fresh mappings, which fault in again each
    // time), and up to 64 MiB of freed heap stays mapped for the next message; no more.
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
  });
#endif
}

}  // namespace tno::mpc::communication::net
