// The receiving side of a pool: the HTTP(S) server. It accepts connections (at most
// PoolConfig::max_connections_per_source per address), tells TLS from plain clients, screens each
// request on its header (method, sender, room) before it reads the body, validates the message
// and hands it to the mailbox, and answers as the reference does:
//
//   200 "Message received"   stored or handed to its receive (also for an identical resend)
//   200 on GET               "Connection working (GET)"
//   400  no server_port cookie, or not HTTP      401  unknown sender
//   405  another method                          409  a different message under an id whose
//   413  body over max_body_bytes                     message is stored and not yet received
//   431  header over max_header_bytes            500  a body that is no valid message
//   503  no room for the sender now (Retry-After), too many connections from one address, or
//        the party is shutting down
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "net/mailbox.hpp"
#include "net/peers.hpp"
#include "tno/mpc/communication/config.hpp"

namespace tno::mpc::communication::net {

class Server {
 public:
  /// Everything given must outlive the io_context's handlers (the sessions keep their own state).
  Server(boost::asio::io_context& ioc, const PoolConfig& config, boost::asio::ssl::context* tls,
         PeerRegistry& peers, Mailbox& mailbox);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds `addr`:`port` (port 0: an ephemeral one) and starts accepting; returns the port bound.
  /// Throws ConfigurationError when the address cannot be bound or the server listens already.
  std::uint16_t listen(const std::string& addr, std::uint16_t port);
  /// The port bound, 0 before listen().
  std::uint16_t port() const noexcept { return port_; }
  /// Stops accepting. Call it while no thread runs the network (NetworkLoop::stop).
  void close();

  struct State;  // what every connection's session shares (server.cpp)

 private:
  boost::asio::io_context& ioc_;
  std::shared_ptr<State> state_;
  std::optional<boost::asio::ip::tcp::acceptor> acceptor_;
  std::uint16_t port_ = 0;
};

}  // namespace tno::mpc::communication::net
