#include "net/fault_ahead.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <system_error>

#include "net/pages.hpp"

namespace tno::mpc::communication::net {

namespace {
// What one request to the kernel faults in: a huge page, so that stop() waits for little.
constexpr std::size_t kStep = kHugePage;

#ifdef MADV_POPULATE_WRITE
constexpr int kPopulateWrite = MADV_POPULATE_WRITE;
#else
constexpr int kPopulateWrite = 23;  // Linux 5.14; older C libraries do not name it
#endif

// The CPUs the calling thread may run on (more than CPU_SETSIZE when the set does not fit).
int usable_cpus() {
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  if (sched_getaffinity(0, sizeof cpus, &cpus) != 0) return errno == EINVAL ? CPU_SETSIZE + 1 : 1;
  return CPU_COUNT(&cpus);
}

// Whether the kernel populates memory on request: tried once, on a page of its own.
bool kernel_populates() {
  static const bool populates = [] {
    const std::size_t page = small_page();
    void* p = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return false;
    const bool done = madvise(p, page, kPopulateWrite) == 0;
    munmap(p, page);
    return done;
  }();
  return populates;
}

// Threads faulting memory in now, in the process.
std::atomic<int> running{0};
}  // namespace

std::unique_ptr<FaultAhead> FaultAhead::start(char* data, std::size_t length) {
  const int cpus = usable_cpus();
  if (cpus < 2 || !kernel_populates()) return nullptr;
  if (running.fetch_add(1) >= cpus - 1) {
    running.fetch_sub(1);
    return nullptr;
  }
  std::unique_ptr<FaultAhead> ahead(new FaultAhead(data, length));
  try {
    ahead->thread_ = std::thread([raw = ahead.get()] { raw->run(); });
  } catch (const std::system_error&) {
    running.fetch_sub(1);
    return nullptr;
  }
  pthread_setname_np(ahead->thread_.native_handle(), "mpc-comm-faults");
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

std::size_t FaultAhead::stop() noexcept {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  more_.notify_one();
  if (thread_.joinable()) {
    thread_.join();
    running.fetch_sub(1);
  }
  return faulted_;
}

void FaultAhead::run() {
  std::unique_lock lock(mu_);
  while (true) {
    more_.wait(lock, [&] { return stopping_ || faulted_ < allowed_; });
    if (stopping_) return;
    const std::size_t from = faulted_;  // on a page boundary
    const std::size_t to = std::min(from + kStep, allowed_);
    lock.unlock();
    const bool done = madvise(data_ + from, to - from, kPopulateWrite) == 0;
    lock.lock();
    // The next step starts on a page boundary: the page that holds the last byte allowed is
    // faulted in whole.
    faulted_ = round_up(to, small_page());
    // A step that failed (no memory to back the pages, a signal, a range the kernel refuses) may
    // have faulted part of its pages in: counted whole, and the rest left to the reads, which
    // report what they meet.
    if (!done) return;
  }
}

}  // namespace tno::mpc::communication::net
