// One side of the crash-and-restart test (tests/faults/restart_test.sh):
//   restart_party send LISTEN_PORT PEER_PORT COUNT PAUSE_MS
//     sends messages m0..m{COUNT-1} one at a time (each returns at the peer's 200), PAUSE_MS
//     apart, and prints "acked i" after each: from then on the message is the receiver's.
//   restart_party recv LISTEN_PORT PEER_PORT FIRST COUNT
//     receives m{FIRST}..m{COUNT-1} in order and prints "got i" for each. A message that does not
//     come within 3 s is printed as "missing i" and skipped: the test checks that only a message
//     acknowledged by a receiver that was then killed can be missing.
#include <iostream>
#include <string>
#include <thread>

#include "tno/mpc/communication/pool.hpp"

namespace mpc = tno::mpc::communication;

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (!((mode == "send" && argc == 6) || (mode == "recv" && argc == 6))) {
    std::cerr << "usage: restart_party send LISTEN PEER COUNT PAUSE_MS | recv LISTEN PEER FIRST "
                 "COUNT\n";
    return 2;
  }
  mpc::set_log_level("error");
  mpc::PoolConfig config;
  config.retry_delay = std::chrono::milliseconds(50);
  mpc::Pool pool(config);
  pool.add_http_server(static_cast<std::uint16_t>(std::stoi(argv[2])), "127.0.0.1");
  pool.add_http_client("peer", "127.0.0.1", static_cast<std::uint16_t>(std::stoi(argv[3])));
  if (mode == "send") {
    int count = std::stoi(argv[4]);
    auto pause = std::chrono::milliseconds(std::stoi(argv[5]));
    for (int i = 0; i < count; ++i) {
      std::this_thread::sleep_for(pause);
      pool.send("peer", std::string(1000 + i, 'a' + i % 26),
                mpc::MessageId("m" + std::to_string(i)));
      std::cout << "acked " << i << std::endl;
    }
  } else {
    int first = std::stoi(argv[4]);
    int count = std::stoi(argv[5]);
    for (int i = first; i < count; ++i) {
      try {
        auto text = pool.recv<std::string>("peer", mpc::MessageId("m" + std::to_string(i)),
                                           std::chrono::seconds(3));
        if (text != std::string(1000 + i, 'a' + i % 26)) {
          std::cout << "wrong " << i << std::endl;
          return 1;
        }
        std::cout << "got " << i << std::endl;
      } catch (const mpc::TimeoutError&) {
        std::cout << "missing " << i << std::endl;
      }
    }
  }
  pool.shutdown();
  return 0;
}
