// What every connection of a server shares (network thread only, but for the thread-safe parts
// named): the settings, the parties and the mailbox, the body memory, the open connections and the
// TLS handshakes under way. Sessions hold it by shared_ptr, so it outlives the last of them.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/body_buffers.hpp"
#include "net/connections.hpp"
#include "net/log.hpp"
#include "net/mailbox.hpp"
#include "net/peers.hpp"
#include "tno/mpc/communication/config.hpp"

namespace tno::mpc::communication::net {

/// The answers a plain connection owes and its socket, while its session waits for the next
/// request with answers deferred (see ServerState::defer_answers). Owned by the session; written
/// by Server::pay_deferred_answers only while `reading`.
struct DeferredAnswers {
  std::string* owed;
  boost::asio::ip::tcp::socket* socket;
  bool reading = false;     // the session waits for the next request (and does nothing else)
  bool registered = false;  // in ServerState::deferred
};

struct ServerState {
  ServerState(const PoolConfig& c, boost::asio::ssl::context* t, PeerRegistry& p, Mailbox& m)
      : config(c),
        tls(t),
        peers(p),
        mailbox(m),
        connections(c.max_connections, c.max_connections_per_source),
        handshakes(c.max_tls_handshakes, c.max_tls_handshakes_per_source) {}
  const PoolConfig& config;
  boost::asio::ssl::context* tls;                                         // null for plain HTTP
  PeerRegistry& peers;                                                    // thread-safe
  Mailbox& mailbox;                                                       // thread-safe
  std::shared_ptr<BodyBuffers> bodies = std::make_shared<BodyBuffers>();  // thread-safe
  Connections connections;
  HandshakeGate handshakes;
  // One line per kind of refusal per few seconds, whatever the flood.
  LogLimiter refused_connections;
  LogLimiter refused_messages;
  LogLimiter accept_failures_log;
  // When set, every valid message goes here instead of to the mailbox (see Server::forward).
  std::function<void(const Peer&, Body)> forward;
  // When set, the 200 of a message that was read whole on a plain connection is not written at
  // once: it waits in `deferred` for Server::pay_deferred_answers (see Server::defer_answers).
  bool defer_answers = false;
  bool answers_deferred_no_more = false;  // the pool shuts down
  std::vector<std::weak_ptr<DeferredAnswers>> deferred;
  std::atomic<std::uint64_t> accept_failures{0};
};

}  // namespace tno::mpc::communication::net
