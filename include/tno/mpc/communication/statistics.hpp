// What a Pool counts: messages, bytes and connections per peer and in total (Pool::statistics,
// Pool::shutdown).
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace tno::mpc::communication {

/// Traffic with one peer, or in total. Bytes are message bodies (the packed messages).
struct TrafficStatistics {
  std::uint64_t messages_sent = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t messages_received = 0;
  std::uint64_t bytes_received = 0;
  /// Connections this pool opened to the peer (a kept-alive connection carries many messages).
  std::uint64_t connections_opened = 0;
  /// Of those, TLS connections that resumed an earlier session instead of a full handshake.
  std::uint64_t tls_sessions_resumed = 0;
};

/// What the party's server saw and what it holds now (docs/security.md).
struct ServerStatistics {
  std::uint64_t connections_accepted = 0;
  /// Refused at once: over max_connections_per_source, or over max_connections with none to shed.
  std::uint64_t connections_refused = 0;
  /// Closed to make room for a newer connection at max_connections.
  std::uint64_t connections_shed = 0;
  /// accept() failures, e.g. the process out of descriptors (the server backs off).
  std::uint64_t accept_failures = 0;
  std::uint64_t connections_open = 0;
  std::uint64_t connections_peak = 0;
  /// TLS handshakes under way now (max_tls_handshakes bounds them).
  std::uint64_t tls_handshakes = 0;
  /// Received messages held, at their cost: stored and not yet received, and bodies arriving.
  std::uint64_t received_bytes_held = 0;
  std::uint64_t messages_stored = 0;
  /// Memory of released large bodies kept for the next ones (bounded; handed back when idle).
  std::uint64_t body_memory_kept = 0;
};

/// Traffic per peer (by name) and the sum over all peers, and the server's view.
struct Statistics {
  std::map<std::string, TrafficStatistics> peers;
  TrafficStatistics total;
  ServerStatistics server;
};

}  // namespace tno::mpc::communication
