#include "net/peers.hpp"

namespace tno::mpc::communication::net {

ConfigurationError unknown_peer(std::string_view name) {
  return ConfigurationError("unknown peer '" + std::string(name) +
                            "': add it with add_http_client first");
}

const Peer& PeerRegistry::add(Peer peer) {
  std::lock_guard lock(mu_);
  if (by_name_.contains(peer.name)) {
    throw ConfigurationError("a peer named '" + peer.name + "' exists already");
  }
  if (!peer.certificate_key.empty()) {
    if (auto it = by_certificate_.find(peer.certificate_key); it != by_certificate_.end()) {
      throw ConfigurationError("peer '" + it->second->peer.name +
                               "' has the certificate identity " + peer.certificate_key +
                               " already; each peer needs its own");
    }
  }
  peer.index = entries_.size();
  auto& e = *entries_.emplace_back(std::make_unique<Entry>(std::move(peer)));
  by_name_.emplace(e.peer.name, &e);
  if (!e.peer.certificate_key.empty()) {
    // Known by its certificate only (as the reference 4.8.1): its address no longer matters.
    by_certificate_.emplace(e.peer.certificate_key, &e);
  } else {
    by_address_.emplace(e.peer.ip + ":" + std::to_string(e.peer.port), &e);
  }
  return e.peer;
}

PeerRegistry::Entry& PeerRegistry::entry(std::string_view name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) throw unknown_peer(name);
  return *it->second;
}

const Peer& PeerRegistry::find(std::string_view name) const {
  std::lock_guard lock(mu_);
  return entry(name).peer;
}

std::vector<std::string> PeerRegistry::names() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) out.push_back(e->peer.name);
  return out;
}

std::optional<PeerRegistry::Sender> PeerRegistry::identify(const std::string& certificate,
                                                           const std::string& address) const {
  std::lock_guard lock(mu_);
  if (!certificate.empty()) {
    if (auto it = by_certificate_.find(certificate); it != by_certificate_.end()) {
      return Sender{&it->second->peer, certificate};
    }
  }
  if (auto it = by_address_.find(address); it != by_address_.end()) {
    return Sender{&it->second->peer, address};
  }
  return std::nullopt;
}

MessageId PeerRegistry::next_id(std::uint64_t& counter, const std::optional<MessageId>& id) const {
  auto n = static_cast<std::int64_t>(counter++);
  // A default id is the counter: an int in 4.x, its decimal str in 5.x.
  MessageId out =
      id ? *id : (format_ == WireFormat::v5 ? MessageId(std::to_string(n)) : MessageId(n));
  return prefix_.empty() ? out : out.with_prefix(prefix_);
}

MessageId PeerRegistry::next_send_id(std::string_view name, const std::optional<MessageId>& id) {
  std::lock_guard lock(mu_);
  return next_id(entry(name).send_counter, id);
}

MessageId PeerRegistry::next_receive_id(std::string_view name, const std::optional<MessageId>& id) {
  std::lock_guard lock(mu_);
  return next_id(entry(name).receive_counter, id);
}

void PeerRegistry::set_prefix(std::string prefix) {
  std::lock_guard lock(mu_);
  prefix_ = std::move(prefix);
}

void PeerRegistry::count_sent(const Peer& peer, std::uint64_t bytes) {
  std::lock_guard lock(mu_);
  auto& t = entries_[peer.index]->traffic;
  t.messages_sent += 1;
  t.bytes_sent += bytes;
}

void PeerRegistry::count_received(const Peer& peer, std::uint64_t bytes) {
  std::lock_guard lock(mu_);
  auto& t = entries_[peer.index]->traffic;
  t.messages_received += 1;
  t.bytes_received += bytes;
}

void PeerRegistry::count_connection(const Peer& peer, bool tls_session_resumed) {
  std::lock_guard lock(mu_);
  auto& t = entries_[peer.index]->traffic;
  t.connections_opened += 1;
  if (tls_session_resumed) t.tls_sessions_resumed += 1;
}

Statistics PeerRegistry::statistics() const {
  std::lock_guard lock(mu_);
  Statistics s;
  for (const auto& e : entries_) {
    const TrafficStatistics& t = e->traffic;
    s.peers[e->peer.name] = t;
    s.total.messages_sent += t.messages_sent;
    s.total.bytes_sent += t.bytes_sent;
    s.total.messages_received += t.messages_received;
    s.total.bytes_received += t.bytes_received;
    s.total.connections_opened += t.connections_opened;
    s.total.tls_sessions_resumed += t.tls_sessions_resumed;
  }
  return s;
}

}  // namespace tno::mpc::communication::net
