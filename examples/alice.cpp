// Alice, of the seed's example: listens on 127.0.0.1:61001, greets Bob (127.0.0.1:61002), prints
// his reply. Start alice and bob in either order: sends are retried until the peer is up.
#include <iostream>

#include "tno/mpc/communication/pool.hpp"

namespace mpc = tno::mpc::communication;

int main() {
  mpc::Pool pool;
  pool.add_http_server(61001, "127.0.0.1");
  pool.add_http_client("Bob", "127.0.0.1", 61002);

  pool.send("Bob", std::string("Hello Bob! This is Alice speaking."));
  std::cout << pool.recv<std::string>("Bob") << std::endl;
  pool.shutdown();
}
