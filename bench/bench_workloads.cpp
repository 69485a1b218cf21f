// The workloads of the performance goals that are about messages rather than bytes, each between
// pools on 127.0.0.1 (two pools in this process, each with its own network thread; sixteen for
// the all-to-all). Prints one JSON object per workload; bench/run_benchmarks.py collects them.
//
//   bench_workloads [asend_ints|bigint_lists|float_vectors|all_to_all|idle_shutdown] [--scale F]
//
// --scale multiplies the message counts (CI runs a small fraction).
#include <gmpxx.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tno/mpc/communication/gmp.hpp"
#include "tno/mpc/communication/testing.hpp"

namespace mpc = tno::mpc::communication;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Sends `count` messages with asend from one pool (message i is make(i)) and receives them all,
// decoded as T, in the other (each goes to `check`); prints the rate as one JSON object.
template <class T, class Make, class Check>
void pipelined(const char* workload, int count, Make make, Check check) {
  mpc::testing::PoolGroup duo(2);
  duo[0].send("local1", make(0));  // the connection is set up outside the timing
  duo[1].recv<T>("local0");
  auto start = Clock::now();
  std::vector<std::future<void>> sent;
  sent.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) sent.push_back(duo[0].asend("local1", make(i)));
  for (int i = 0; i < count; ++i) check(duo[1].recv<T>("local0"));
  for (auto& f : sent) f.get();
  double s = seconds_since(start);
  std::printf(
      "{\"workload\": \"%s\", \"messages\": %d, \"seconds\": %.4f, \"messages_per_s\": %.0f}\n",
      workload, count, s, count / s);
}

// asend of N small ints from one pool, all received by the other (goal: >= 50,000 messages/s).
void asend_ints(int count) {
  long long sum = 0;
  pipelined<int>(
      "asend_ints", count, [](int i) { return i; }, [&](int v) { sum += v; });
  if (sum != static_cast<long long>(count) * (count - 1) / 2) std::fprintf(stderr, "wrong sum\n");
}

// Messages of 1,000 random 2048-bit integers, sent and decoded into mpz_class (goal: >= 3,000
// messages/s end to end).
void bigint_lists(int count) {
  gmp_randclass rng(gmp_randinit_default);
  rng.seed(2048);
  std::vector<mpz_class> list(1000);
  for (auto& x : list) x = rng.get_z_bits(2048);
  std::size_t received = 0;
  pipelined<std::vector<mpz_class>>(
      "bigint_lists", count, [&](int) -> const std::vector<mpz_class>& { return list; },
      [&](const std::vector<mpz_class>& v) { received += v.size(); });
  if (received != list.size() * static_cast<std::size_t>(count)) std::fprintf(stderr, "lost\n");
}

// One 1,000,000-element float64 vector at a time: send, receive and decode, one message after
// the other (goal: <= 10 ms per message).
void float_vectors(int count) {
  mpc::testing::PoolGroup duo(2);
  std::vector<double> v(1'000'000);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i) * 0.5;
  duo[0].send("local1", v);
  duo[1].recv<std::vector<double>>("local0");
  std::vector<double> times_ms;
  for (int i = 0; i < count; ++i) {
    auto start = Clock::now();
    duo[0].send("local1", v);
    auto back = duo[1].recv<std::vector<double>>("local0");
    times_ms.push_back(seconds_since(start) * 1e3);
    if (back.size() != v.size() || back.back() != v.back()) std::fprintf(stderr, "corrupt\n");
  }
  std::sort(times_ms.begin(), times_ms.end());
  std::printf(
      "{\"workload\": \"float_vectors\", \"messages\": %d, \"ms_per_message_median\": "
      "%.2f, \"ms_per_message_max\": %.2f}\n",
      count, times_ms[times_ms.size() / 2], times_ms.back());
}

// Sixteen parties, every one broadcasting to and receiving from all others, round after round.
void all_to_all(int rounds) {
  const std::size_t n = 16;
  mpc::testing::PoolGroup group(n);
  std::vector<std::thread> parties;
  auto start = Clock::now();
  std::atomic<bool> ok{true};
  for (std::size_t p = 0; p < n; ++p) {
    parties.emplace_back([&, p] {
      for (int r = 0; r < rounds; ++r) {
        group[p].broadcast(r);
        for (auto& [from, value] : group[p].recv_all<int>()) {
          if (value != r) ok = false;
        }
      }
    });
  }
  for (auto& t : parties) t.join();
  double s = seconds_since(start);
  if (!ok) std::fprintf(stderr, "a round mixed up\n");
  std::printf(
      "{\"workload\": \"all_to_all\", \"parties\": %zu, \"rounds\": %d, \"seconds\": %.3f, "
      "\"ms_per_round\": %.2f}\n",
      n, rounds, s, s * 1e3 / rounds);
}

// 64 parties do one all-to-all round, sit idle for half a second, and are shut down one after
// the other: how long each shutdown takes (an idle pool has nothing to wait for).
void idle_shutdown() {
  const std::size_t n = 64;
  mpc::testing::PoolGroup group(n);
  std::vector<std::thread> parties;
  for (std::size_t p = 0; p < n; ++p) {
    parties.emplace_back([&, p] {
      group[p].broadcast(1);
      group[p].recv_all<int>();
    });
  }
  for (auto& t : parties) t.join();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::vector<double> ms;
  for (std::size_t p = 0; p < n; ++p) {
    auto start = Clock::now();
    group[p].shutdown();
    ms.push_back(seconds_since(start) * 1e3);
  }
  std::sort(ms.begin(), ms.end());
  double total = 0;
  for (double m : ms) total += m;
  std::printf(
      "{\"workload\": \"idle_shutdown\", \"parties\": %zu, \"total_ms\": %.2f, "
      "\"median_ms\": %.3f, \"max_ms\": %.3f}\n",
      n, total, ms[n / 2], ms.back());
}

}  // namespace

int main(int argc, char** argv) {
  mpc::set_log_level("off");
  std::string only = argc > 1 && std::strncmp(argv[1], "--", 2) != 0 ? argv[1] : "";
  double scale = 1.0;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--scale") scale = std::stod(argv[i + 1]);
  }
  auto n = [&](int full) { return std::max(1, static_cast<int>(full * scale)); };
  if (only.empty() || only == "asend_ints") asend_ints(n(100'000));
  if (only.empty() || only == "bigint_lists") bigint_lists(n(1'000));
  if (only.empty() || only == "float_vectors") float_vectors(n(30));
  if (only.empty() || only == "all_to_all") all_to_all(n(100));
  if (only.empty() || only == "idle_shutdown") idle_shutdown();
  return 0;
}
