#include "net/fault_ahead.hpp"

#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <system_error>

namespace tno::mpc::communication::net {

namespace {
// What one request to the kernel faults in: a huge page, so that stop() waits for little.
constexpr std::size_t kStep = std::size_t{2} << 20;

#ifdef MADV_POPULATE_WRITE
constexpr int kPopulateWrite = MADV_POPULATE_WRITE;
#else
constexpr int kPopulateWrite = 23;  // Linux 5.14; older C libraries do not name it
#endif

std::size_t small_page() {
  static const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

bool runs_on_more_than_one_cpu() {
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  return sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) > 1;
}

// Whether the kernel populates memory on request (asked once, on an empty range).
bool kernel_populates() {
  static const bool supported = [] {
    errno = 0;
    return madvise(nullptr, 0, kPopulateWrite) == 0 || errno != EINVAL;
  }();
  return supported;
}
}  // namespace

std::unique_ptr<FaultAhead> FaultAhead::start(char* data, std::size_t length) {
  if (!runs_on_more_than_one_cpu() || !kernel_populates()) return nullptr;
  std::unique_ptr<FaultAhead> ahead(new FaultAhead(data, length));
  try {
    ahead->thread_ = std::thread([raw = ahead.get()] { raw->run(); });
  } catch (const std::system_error&) {
    return nullptr;
  }
  return ahead;
}

FaultAhead::FaultAhead(char* data, std::size_t length) : data_(data), length_(length) {}

FaultAhead::~FaultAhead() {
  stop();
}

void FaultAhead::allow(std::size_t end) {
  {
    std::lock_guard lock(mu_);
    if (end <= allowed_) return;
    allowed_ = std::min(end, length_);
  }
  more_.notify_one();
}

std::size_t FaultAhead::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  more_.notify_one();
  if (thread_.joinable()) thread_.join();
  return faulted_;
}

void FaultAhead::run() {
  std::unique_lock lock(mu_);
  while (true) {
    more_.wait(lock, [&] { return stopping_ || faulted_ < allowed_; });
    if (stopping_) return;
    // From a page boundary to the end of the page that holds the last byte allowed.
    const std::size_t from = faulted_;
    const std::size_t to = std::min(from + kStep, allowed_);
    lock.unlock();
    // A failure (no memory left to back the pages) leaves them to the reads, which report it.
    madvise(data_ + from, to - from, kPopulateWrite);
    lock.lock();
    faulted_ = (to + small_page() - 1) / small_page() * small_page();
  }
}

}  // namespace tno::mpc::communication::net
