#include "net/body_buffers.hpp"

#include <cstdlib>
#ifdef __GLIBC__
#include <malloc.h>  // mallopt
#endif

namespace tno::mpc::communication::net {

namespace {
constexpr std::size_t kMinBytes = std::size_t{1} << 20;
constexpr std::size_t kMaxBytes = std::size_t{256} << 20;
constexpr std::size_t kMaxBuffers = 4;
}  // namespace

std::unique_ptr<std::string> BodyBuffers::take(std::size_t length) {
  std::unique_ptr<std::string> s;
  {
    std::lock_guard lock(mu_);
    auto best = free_.end();
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      std::size_t cap = (*it)->capacity();
      if (cap >= length && cap / 2 <= length &&
          (best == free_.end() || cap < (*best)->capacity())) {
        best = it;
      }
    }
    if (best != free_.end()) {
      s = std::move(*best);
      free_.erase(best);
    }
  }
  if (!s) s = std::make_unique<std::string>();
  s->resize(length);  // shrinking a recycled buffer writes nothing
  return s;
}

Body BodyBuffers::wrap(std::unique_ptr<std::string> buffer) {
  if (buffer->capacity() < kMinBytes) return Body(buffer.release());
  std::weak_ptr<BodyBuffers> self = weak_from_this();
  return Body(buffer.release(), [self](const std::string* body) {
    auto* owned = const_cast<std::string*>(body);
    if (auto buffers = self.lock()) {
      buffers->give_back(owned);
    } else {
      delete owned;
    }
  });
}

void BodyBuffers::give_back(std::string* buffer) {
  std::unique_ptr<std::string> owned(buffer);
  if (owned->capacity() > kMaxBytes) return;
  std::lock_guard lock(mu_);
  if (free_.size() < kMaxBuffers) free_.push_back(std::move(owned));
}

void retain_freed_memory() {
#ifdef __GLIBC__
  static std::once_flag once;
  std::call_once(once, [] {
    if (std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr ||
        std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr) {
      return;
    }
    // Buffers below 512 MiB come from the heap (not fresh mappings), and up to 1 GiB of freed
    // heap stays mapped for the next message.
    mallopt(M_MMAP_THRESHOLD, 512 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_TOP_PAD, 64 << 20);
  });
#endif
}

}  // namespace tno::mpc::communication::net
