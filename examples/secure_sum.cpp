// Three parties sum their private inputs without revealing them: additive secret sharing over
// the pool, modulo 2^64.
//
//   secure_sum INDEX INPUT      (INDEX 0, 1 or 2; parties listen on 127.0.0.1:61011..61013)
//
// Each party splits its input into three random shares that add up to it, keeps one and sends
// one to each other party; adds the shares it holds (its own and the two it received) into a
// partial sum; broadcasts the partial sum; and adds the three partial sums. Any one share, and
// any one partial sum, is uniformly random: no party learns another's input, only the total.
#include <cstdint>
#include <iostream>
#include <random>
#include <string>

#include "tno/mpc/communication/pool.hpp"

namespace mpc = tno::mpc::communication;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: secure_sum INDEX INPUT  (INDEX 0..2)\n";
    return 2;
  }
  const int parties = 3;
  const int me = std::stoi(argv[1]);
  const std::uint64_t input = std::stoull(argv[2]);
  auto name = [](int i) { return "party" + std::to_string(i); };
  auto port = [](int i) { return static_cast<std::uint16_t>(61011 + i); };

  mpc::set_log_level("warn");
  mpc::Pool pool;
  pool.add_http_server(port(me), "127.0.0.1");
  for (int i = 0; i < parties; ++i) {
    if (i != me) pool.add_http_client(name(i), "127.0.0.1", port(i));
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
