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

/// Traffic per peer (by name) and the sum over all peers.
struct Statistics {
  std::map<std::string, TrafficStatistics> peers;
  TrafficStatistics total;
};

}  // namespace tno::mpc::communication
