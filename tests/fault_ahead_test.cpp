#include "net/fault_ahead.hpp"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "net/body_buffers.hpp"
#include "net/pages.hpp"
#include "scheduling.hpp"

namespace tno::mpc::communication::net {
namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;

// Bytes of [data, data + length) in memory now (data on a page boundary).
std::size_t resident_bytes(const char* data, std::size_t length) {
  const std::size_t page = small_page();
  std::vector<unsigned char> in(round_up(length, page) / page);
  if (mincore(const_cast<char*>(data), length, in.data()) != 0) return 0;
  std::size_t n = 0;
  for (unsigned char c : in) n += c & 1;
  return n * page;
}

// A fresh anonymous mapping in small pages (so that residence is exact to the page).
struct Mapping {
  explicit Mapping(std::size_t n) : length(n) {
    void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    data = static_cast<char*>(p);
    madvise(data, n, MADV_NOHUGEPAGE);
  }
  ~Mapping() { munmap(data, length); }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  // Pages of [from, to) in memory now.
  std::size_t resident_pages(std::size_t from, std::size_t to) const {
    return resident_bytes(data + from, to - from) / small_page();
  }
  std::size_t pages(std::size_t from, std::size_t to) const {
    return round_up(to - from, small_page()) / small_page();
  }

  char* data;
  std::size_t length;
};

// Polls `done` for up to 20 s (a bound against a hang, not a time the test expects).
bool eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST(FaultAhead, FaultsInWhatIsAllowedAndNothingBeyond) {
  Mapping m(64 * kMiB);
  auto ahead = FaultAhead::start(m.data, m.length);
  if (!ahead) GTEST_SKIP() << "this thread runs on one CPU, or the kernel cannot populate memory";
  const std::size_t first = 10 * kMiB + 100;  // not on a page boundary
  ahead->allow(first);
  EXPECT_TRUE(eventually([&] { return m.resident_pages(0, first) == m.pages(0, first); }));
  ahead->allow(20 * kMiB);
  EXPECT_TRUE(eventually([&] { return m.resident_pages(0, 20 * kMiB) == m.pages(0, 20 * kMiB); }));
  EXPECT_EQ(ahead->stop(), 20 * kMiB);
  EXPECT_EQ(m.resident_pages(20 * kMiB, m.length), 0u);
  ahead.reset();  // a second stop (the destructor's) returns at once
  EXPECT_EQ(m.resident_pages(20 * kMiB, m.length), 0u);
}

TEST(FaultAhead, StopsAtOnceWithNothingAllowed) {
  Mapping m(8 * kMiB);
  auto ahead = FaultAhead::start(m.data, m.length);
  if (!ahead) GTEST_SKIP() << "this thread runs on one CPU, or the kernel cannot populate memory";
  EXPECT_EQ(ahead->stop(), 0u);
  EXPECT_EQ(m.resident_pages(0, m.length), 0u);
}

TEST(FaultAhead, AtMostOneFewerThanTheCpusRunAtOnce) {
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  ASSERT_EQ(sched_getaffinity(0, sizeof cpus, &cpus), 0);
  const int usable = CPU_COUNT(&cpus);
  if (usable < 2) GTEST_SKIP() << "this thread runs on one CPU";
  Mapping m(8 * kMiB);
  std::vector<std::unique_ptr<FaultAhead>> running;
  for (int i = 0; i <= usable; ++i) {
    if (auto ahead = FaultAhead::start(m.data, m.length)) running.push_back(std::move(ahead));
  }
  if (running.empty()) GTEST_SKIP() << "the kernel cannot populate memory here";
  EXPECT_EQ(running.size(), static_cast<std::size_t>(usable - 1));
  running.pop_back();  // stopped: another may start
  running.push_back(FaultAhead::start(m.data, m.length));
  EXPECT_NE(running.back(), nullptr);
}

TEST(FaultAhead, NoneForAThreadThatRunsOnOneCpu) {
  test::OnOneCore pinned;
  if (!pinned.ok()) GTEST_SKIP() << "this thread cannot be pinned";
  Mapping m(8 * kMiB);
  EXPECT_EQ(FaultAhead::start(m.data, m.length), nullptr);
}

// A large fresh region: the bytes written arrive whole while its memory is faulted in beside them,
// at most as far ahead as the bytes that came, up to kFaultAheadLead.
TEST(BodyBuffers, AFreshLargeRegionIsFaultedInAheadOfTheBytesWithinTheLead) {
  auto buffers = std::make_shared<BodyBuffers>();
  const std::size_t length = BodyBuffers::kFaultAheadBytes + 16 * kMiB + 5;
  auto filling = buffers->fill(length, /*known_length=*/true);
  EXPECT_EQ(filling.lead(), 0u);  // nothing came yet
  auto small = buffers->fill(BodyBuffers::kFaultAheadBytes - 1, /*known_length=*/true);
  std::memset(small.space(kMiB).data(), 1, kMiB);
  small.commit(kMiB);
  EXPECT_EQ(small.lead(), 0u);  // under kFaultAheadBytes: no thread

  // Every byte 0x5a, but every 4093rd, which says where it lies: what the thread faults in must
  // leave what was written as it was.
  constexpr std::size_t kMark = 4093;
  auto write = [&](std::size_t n) {
    auto space = filling.space(n);
    const std::size_t at = filling.size();
    std::memset(space.data(), 0x5a, space.size());
    for (std::size_t i = (at + kMark - 1) / kMark * kMark; i < at + space.size(); i += kMark) {
      space[i - at] = static_cast<char>(i % 251);
    }
    filling.commit(space.size());
    const std::size_t allowed = std::min(length, filling.size() + filling.lead());
    filling.allow(allowed);
    const char* region = filling.space(0).data() - filling.size();
    const std::size_t resident = resident_bytes(region, length);
    EXPECT_LE(resident, round_up(allowed, kHugePage));  // never beyond what was allowed
  };
  write(3 * kMiB + 17);
  if (filling.lead() == 0) GTEST_SKIP() << "no thread faults memory in here (one CPU, old kernel)";
  EXPECT_EQ(filling.lead(), 3 * kMiB + 17);
  while (filling.size() < length) write(std::min(length - filling.size(), 7 * kMiB + 3));
  EXPECT_EQ(filling.lead(), BodyBuffers::kFaultAheadLead);
  UncheckedBody body = std::move(filling).finish();
  ASSERT_EQ(body->view().size(), length);
  for (std::size_t i = 0; i < length; i += kMark) {
    ASSERT_EQ(body->view()[i], static_cast<char>(i % 251)) << i;
    if (i + 1 < length) {
      ASSERT_EQ(body->view()[i + 1], 0x5a) << i + 1;
    }
  }
}

// A body abandoned while its memory is being faulted in stops the thread (joined, not left
// running) and hands the region back with what the thread faulted in counted.
TEST(BodyBuffers, AnAbandonedBodyStopsItsFaultingIn) {
  auto buffers = std::make_shared<BodyBuffers>();
  bool faulted_ahead = false;
  for (int i = 0; i < 20; ++i) {
    std::size_t resident = 0;
    {
      auto filling = buffers->fill(BodyBuffers::kFaultAheadBytes * 2, /*known_length=*/true);
      std::memset(filling.space(kMiB).data(), 2, kMiB);
      filling.commit(kMiB);
      filling.allow(BodyBuffers::kFaultAheadBytes * 2);
      faulted_ahead = faulted_ahead || filling.lead() > 0;
      resident = resident_bytes(filling.space(0).data() - filling.size(),
                                BodyBuffers::kFaultAheadBytes * 2);
    }
    EXPECT_TRUE(
        eventually([&] { return test::threads_of_this_process("mpc-comm-faults").threads == 0; }));
    // Given back with what was faulted in counted (at least what was in memory before the end).
    EXPECT_GE(buffers->kept_bytes(), std::max(resident, kMiB));
    // Handed back, so that the next body's region is a fresh one again.
    buffers->sweep(BodyBuffers::Clock::now() + BodyBuffers::kMaxIdle);
    EXPECT_EQ(buffers->kept_bytes(), 0u);
  }
  if (!faulted_ahead) GTEST_SKIP() << "no thread faults memory in here (one CPU, old kernel)";
}

}  // namespace
}  // namespace tno::mpc::communication::net
