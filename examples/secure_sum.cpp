// Three parties sum their private inputs without revealing them: additive secret sharing over
// the pool, modulo 2^64.
//
//   secure_sum INDEX INPUT [HOSTS]   (INDEX 0, 1 or 2; party i listens on port 61011 + i of the
//                                     i-th of HOSTS, "h0,h1,h2", by default all 127.0.0.1)
//
// Each party splits its input into three random shares that add up to it, keeps one and sends
// one to each other party; adds the shares it holds (its own and the two it received) into a
// partial sum; broadcasts the partial sum; and adds the three partial sums. Any one share, and
// any one partial sum, is uniformly random: no party learns another's input, only the total.
#include <cstdint>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tno/mpc/communication/pool.hpp"

namespace mpc = tno::mpc::communication;

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::cerr << "usage: secure_sum INDEX INPUT [HOST0,HOST1,HOST2]  (INDEX 0..2)\n";
    return 2;
  }
  const int parties = 3;
  const int me = std::stoi(argv[1]);
  const std::uint64_t input = std::stoull(argv[2]);
  auto name = [](int i) { return "party" + std::to_string(i); };
  auto port = [](int i) { return static_cast<std::uint16_t>(61011 + i); };
  std::vector<std::string> hosts(parties, "127.0.0.1");
  if (argc == 4) {
    std::istringstream list(argv[3]);
    for (auto& host : hosts) std::getline(list, host, ',');
  }

  mpc::set_log_level("warn");
  mpc::Pool pool;
  pool.add_http_server(port(me), hosts[me]);
  for (int i = 0; i < parties; ++i) {
    if (i != me) pool.add_http_client(name(i), hosts[i], port(i));
  }

  // Shares: random values for the others, and what is left for me. Arithmetic wraps mod 2^64.
  std::random_device entropy;
  std::mt19937_64 rng((static_cast<std::uint64_t>(entropy()) << 32) | entropy());
  std::uint64_t partial = input;
  for (int i = 0; i < parties; ++i) {
    if (i == me) continue;
    std::uint64_t share = rng();
    partial -= share;
    pool.send(name(i), share, mpc::MessageId("share"));
  }
  for (const auto& [from, share] : pool.recv_all<std::uint64_t>(mpc::MessageId("share"))) {
    partial += share;
  }

  pool.broadcast(partial, mpc::MessageId("partial"));
  std::uint64_t total = partial;
  for (const auto& [from, p] : pool.recv_all<std::uint64_t>(mpc::MessageId("partial"))) total += p;

  std::cout << name(me) << ": the sum is " << total << std::endl;
  pool.shutdown();
  return 0;
}
