// Bob, of the seed's example: listens on 127.0.0.1:61002, prints Alice's greeting and replies.
#include <iostream>

#include "tno/mpc/communication/pool.hpp"

namespace mpc = tno::mpc::communication;

int main() {
  mpc::Pool pool;
  pool.add_http_server(61002, "127.0.0.1");
  pool.add_http_client("Alice", "127.0.0.1", 61001);

  std::cout << pool.recv<std::string>("Alice") << std::endl;
  pool.send("Alice", std::string("Hello back to you, Alice!"));
  pool.shutdown();
}
