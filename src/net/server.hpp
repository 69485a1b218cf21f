// The receiving side of a pool: the HTTP(S) server. It accepts connections (within the party-wide
// and per-source caps, backing off when the process is out of descriptors), tells TLS from plain
// clients, holds TLS handshakes to their caps, checks each request's framing and screens it on its
// header (method, sender, room) before it reads the body, reads the body into memory that follows
// the bytes as they arrive (counted against the sender's room and the party's budget), validates
// the message and hands it to the mailbox, and answers as the reference does:
//
//   200 "Message received"   stored or handed to its receive (also for an identical resend)
//   200 on GET and HEAD      "Connection working (GET)" (the header alone for HEAD)
//   100 Continue             before the body, to a request that expects it and passed screening
//   400  no server_port cookie, not HTTP, or a body whose end is uncertain (RFC 9112 §6)
//   401  unknown sender                          405  another method
//   409  a different message under an id whose message is stored and not yet received
//   413  body over max_body_bytes                417  an Expect other than 100-continue
//   431  header section, chunk line or trailer over max_header_bytes
//   500  a body that is no valid message         501  a transfer coding other than chunked
//   503  no room for the sender now (Retry-After), too many connections from one address, or
//        the party is shutting down
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "net/mailbox.hpp"
#include "net/peers.hpp"
#include "tno/mpc/communication/config.hpp"

namespace tno::mpc::communication::net {

struct ServerState;

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
  /// Hands every valid message to `sink` (on the network thread, before the 200 is written)
  /// instead of the mailbox, for a front-end that keeps its own buffer of arrivals. Call it before
  /// listen().
  void forward(std::function<void(const Peer&, Body)> sink);
  /// With `on`, the 200 of a message read whole on a plain connection is not written at once but
  /// at pay_deferred_answers() (or with the connection's next answer, when its next request comes
  /// first): for a front-end that sends its own next message in the same turn, so that the 200
  /// and that message reach the peer together and wake it once. Off pays what is deferred.
  /// Network thread (or its turn) only, as pay_deferred_answers() and answers_deferred().
  void defer_answers(bool on);
  /// Writes the deferred 200s.
  void pay_deferred_answers();
  /// Pays what is deferred and defers no more, whatever defer_answers() is told later (shutdown).
  void stop_deferring_answers();

  /// What the server saw of connections so far (read while no other thread runs the network,
  /// or for a glance: the counts are the network thread's).
  struct Counts {
    std::uint64_t accepted = 0;
    std::uint64_t refused = 0;
    std::uint64_t shed = 0;
    std::uint64_t accept_failures = 0;
    std::size_t open = 0;
    std::size_t peak = 0;
    std::size_t tls_handshakes = 0;
    std::size_t kept_body_bytes = 0;
  };
  Counts counts() const;

 private:
  boost::asio::io_context& ioc_;
  std::shared_ptr<ServerState> state_;
  struct Sweeper;  // starts the sweep of kept body memory (server.cpp)
  std::shared_ptr<Sweeper> sweeper_;
  std::optional<boost::asio::ip::tcp::acceptor> acceptor_;
  std::uint16_t port_ = 0;
};

}  // namespace tno::mpc::communication::net
