// Helpers for tests about threads and the scheduler: pinning to one core, counting context
// switches, and the waits of a conversation between two parties.
#pragma once

#include <gtest/gtest.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "tno/mpc/communication/testing.hpp"

namespace tno::mpc::communication::test {

// Pins this thread to the core it runs on until the end of the scope; threads it starts meanwhile
// stay on that core.
class OnOneCore {
 public:
  OnOneCore() {
    const int cpu = sched_getcpu();
    if (cpu < 0 || sched_getaffinity(0, sizeof all_, &all_) != 0) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    ok_ = sched_setaffinity(0, sizeof one, &one) == 0;
  }
  ~OnOneCore() {
    if (ok_) sched_setaffinity(0, sizeof all_, &all_);
  }
  OnOneCore(const OnOneCore&) = delete;
  OnOneCore& operator=(const OnOneCore&) = delete;
  bool ok() const { return ok_; }

 private:
  cpu_set_t all_{};
  bool ok_ = false;
};

// Threads of this process (those named `name`, or all), and their context switches so far, from
// /proc.
struct Threads {
  int threads = 0;
  std::uint64_t switches = 0;
  std::uint64_t waits = 0;  // the voluntary switches among them: waits in the kernel
};
inline Threads threads_of_this_process(std::string_view name = {}) {
  Threads found;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    if (!name.empty()) {
      std::ifstream comm(task.path() / "comm");
      std::string its_name;
      std::getline(comm, its_name);
      if (its_name != name) continue;
    }
    ++found.threads;
    std::ifstream status(task.path() / "status");
    for (std::string line; std::getline(status, line);) {
      if (line.find("ctxt_switches:") != std::string::npos) {
        const std::uint64_t n = std::stoull(line.substr(line.find(':') + 1));
        found.switches += n;
        if (line.starts_with("voluntary_")) found.waits += n;
      }
    }
  }
  return found;
}

// The fewest waits in the kernel of this process's threads in `round_trips` blocking round trips
// of ints between the two parties of a group made by `make_duo` (party 0 on this thread, party 1
// on a thread of its own), over up to `attempts` conversations, each with a new group (another
// process that takes the core now and then adds waits); it stops at one with fewer than `enough`.
// A wrong answer, an error or a conversation that stalls fails the calling test.
inline std::uint64_t fewest_waits_in_conversations(
    const std::function<std::unique_ptr<testing::PoolGroup>()>& make_duo, int round_trips,
    int attempts, std::uint64_t enough) {
  using namespace std::chrono_literals;
  std::uint64_t fewest = std::numeric_limits<std::uint64_t>::max();
  for (int attempt = 0; attempt < attempts && fewest >= enough; ++attempt) {
    const std::unique_ptr<testing::PoolGroup> duo = make_duo();
    (*duo)[0].send("local1", -1);
    EXPECT_EQ((*duo)[1].recv<int>("local0"), -1);
    std::thread echo([&] {
      try {
        for (int i = 0; i < round_trips; ++i) {
          (*duo)[1].send("local0", (*duo)[1].recv<int>("local0", std::nullopt, 10s));
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << "the echoing party failed: " << e.what();
      }
    });
    const Threads before = threads_of_this_process();
    try {
      for (int i = 0; i < round_trips; ++i) {
        (*duo)[0].send("local1", i);
        const int back = (*duo)[0].recv<int>("local1", std::nullopt, 10s);
        if (back != i) {
          ADD_FAILURE() << "got " << back << " for " << i;
          break;
        }
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "the sending party failed: " << e.what();
    }
    fewest = std::min(fewest, threads_of_this_process().waits - before.waits);
    echo.join();  // returns: the echo's recv gives up after 10 s at most
  }
  return fewest;
}

}  // namespace tno::mpc::communication::test
