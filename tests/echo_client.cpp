// Talks to `mpc-comm echo` in another process: sends values with default ids and checks that
// each comes back unchanged under the same id.
// Usage: echo_client LISTEN_PORT ECHO_PORT COUNT [ATTEMPT_TIMEOUT_MS [PAUSE_MS]]
// (PAUSE_MS: idle time between messages, so that kept-alive connections sit idle.)
#include <iostream>
#include <string>
#include <thread>

#include "tno/mpc/communication/pool.hpp"

namespace mpc = tno::mpc::communication;

int main(int argc, char** argv) {
  if (argc < 4 || argc > 6) return 2;
  auto listen = static_cast<std::uint16_t>(std::stoi(argv[1]));
  auto echo = static_cast<std::uint16_t>(std::stoi(argv[2]));
  int count = std::stoi(argv[3]);
  mpc::set_log_level("warn");
  mpc::PoolConfig config;
  config.retry_delay = std::chrono::milliseconds(100);
  if (argc >= 5) config.attempt_timeout = std::chrono::milliseconds(std::stoi(argv[4]));
  auto pause = std::chrono::milliseconds(argc >= 6 ? std::stoi(argv[5]) : 0);
  mpc::Pool pool(config);
  pool.add_http_server(listen, "127.0.0.1");
  pool.add_http_client("echo", "127.0.0.1", echo);
  for (int i = 0; i < count; ++i) {
    mpc::Value sent =
        mpc::Value::list({i, std::string(i * 100, 'x'), mpc::Value::tuple({1.5, nullptr})});
    std::this_thread::sleep_for(pause);
    pool.send("echo", sent);
    mpc::Value back = pool.recv("echo");
    if (!(back == sent)) {
      std::cerr << "message " << i << " came back as " << back << '\n';
      return 1;
    }
  }
  std::cout << "echo_client: " << count << " messages came back unchanged\n";
  return 0;
}
