// The peers of a pool: who they are (name, address, certificate identity), how a request is
// matched to one of them, their message counters and the message prefix (one rule for the ids
// of sends and receives), and the traffic statistics. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tno/mpc/communication/errors.hpp"
#include "tno/mpc/communication/message.hpp"
#include "tno/mpc/communication/statistics.hpp"

namespace tno::mpc::communication::net {

/// One peer as it was added; never changes afterwards, so it is read without a lock.
struct Peer {
  std::string name;
  std::string host;        // as given to add_http_client: an IP address or a host name
  std::uint16_t port = 0;  // its server's port
  std::string ip;          // the address `host` resolved to
  std::string
      certificate_key;    // its certificate identity key when known by certificate, else empty
  std::size_t index = 0;  // its place among the peers, in the order they were added
};

/// The error for a peer name that was never added.
ConfigurationError unknown_peer(std::string_view name);

class PeerRegistry {
 public:
  explicit PeerRegistry(WireFormat format) : format_(format) {}
  PeerRegistry(const PeerRegistry&) = delete;
  PeerRegistry& operator=(const PeerRegistry&) = delete;

  /// Adds a peer (its `index` is set here); it lives as long as the registry. Throws
  /// ConfigurationError when the name or the certificate identity is taken.
  const Peer& add(Peer peer);
  /// Throws ConfigurationError for a name that was never added.
  const Peer& find(std::string_view name) const;
  /// Names in the order they were added.
  std::vector<std::string> names() const;

  /// Who sent a request that carries the client certificate identity key `certificate` (empty
  /// without TLS or certificate) from `address` ("<ip>:<server_port cookie>"): a peer known by
  /// that certificate, else the peer at that address; `identity` is the one that matched.
  struct Sender {
    const Peer* peer = nullptr;
    std::string identity;
  };
  std::optional<Sender> identify(const std::string& certificate, const std::string& address) const;

  /// The id of the next message to or from `name`: `id`, or else the peer's send (receive)
  /// counter as the wire format writes default ids, with the prefix applied. Each call advances
  /// the counter, explicit ids included, as the reference does.
  MessageId next_send_id(std::string_view name, const std::optional<MessageId>& id);
  MessageId next_receive_id(std::string_view name, const std::optional<MessageId>& id);
  void set_prefix(std::string prefix);

  void count_sent(const Peer& peer, std::uint64_t bytes);
  void count_received(const Peer& peer, std::uint64_t bytes);
  void count_connection(const Peer& peer, bool tls_session_resumed);
  /// Per peer and in total.
  Statistics statistics() const;

 private:
  struct Entry {
    explicit Entry(Peer p) : peer(std::move(p)) {}
    const Peer peer;
    std::uint64_t send_counter = 0;
    std::uint64_t receive_counter = 0;
    TrafficStatistics traffic;
  };
  Entry& entry(std::string_view name) const;  // under mu_; throws for an unknown name
  MessageId next_id(std::uint64_t& counter, const std::optional<MessageId>& id) const;

  const WireFormat format_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;
  std::map<std::string, Entry*, std::less<>> by_name_;
  std::map<std::string, Entry*, std::less<>> by_address_;      // "<ip>:<port>"
  std::map<std::string, Entry*, std::less<>> by_certificate_;  // "<issuer's first RDN>:<serial>"
  std::string prefix_;
};

}  // namespace tno::mpc::communication::net
