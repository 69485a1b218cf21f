#include "net/mailbox.hpp"

#include <utility>

#include "tno/mpc/communication/errors.hpp"

namespace tno::mpc::communication::net {

Mailbox::Mailbox(std::size_t max_stored_bytes_per_peer)
    : max_stored_bytes_per_peer_(max_stored_bytes_per_peer) {}

Mailbox::Key Mailbox::key_of(const std::string& peer, const MessageId& id) {
  return Key{peer, id.is_str(), id.to_string()};
}

bool Mailbox::awaits_message_from(std::string_view peer) const {
  auto it = waiting_.lower_bound(Key{std::string(peer), false, ""});
  return it != waiting_.end() && it->first.peer == peer;
}

Mailbox::Room Mailbox::room_for(std::string_view peer, std::uint64_t bytes) const {
  std::lock_guard lock(mu_);
  auto it = room_.find(peer);
  const std::size_t stored = it == room_.end() ? 0 : it->second.bytes;
  if (stored == 0 || stored + bytes <= max_stored_bytes_per_peer_) return Room::available;
  return awaits_message_from(peer) ? Room::only_if_awaited : Room::none;
}

Mailbox::Outcome Mailbox::offer(const std::string& peer, const MessageId& id, Body body,
                                const std::function<void()>& accepted) {
  Key key = key_of(peer, id);
  ReceiveCompletion receiver;
  {
    std::lock_guard lock(mu_);
    if (closed_) return Outcome::closed;
    if (auto it = stored_.find(key); it != stored_.end()) {
      return *it->second == *body ? Outcome::duplicate : Outcome::conflict;
    }
    if (auto waiting = waiting_.find(key); waiting != waiting_.end()) {
      receiver = std::move(waiting->second.done);
      waiting_.erase(waiting);
    } else {
      PeerRoom& room = room_[peer];
      if (room.bytes > 0 && room.bytes + body->size() > max_stored_bytes_per_peer_) {
        return Outcome::no_room;
      }
      room.bytes += body->size();
      room.messages += 1;
      stored_.emplace(std::move(key), body);
    }
    if (accepted) accepted();
  }
  if (!receiver) return Outcome::stored;
  receiver(nullptr, std::move(body));  // outside the lock: it may run user code
  return Outcome::delivered;
}

void Mailbox::take_or_wait(const std::string& peer, const MessageId& id, ReceiveCompletion done) {
  Key key = key_of(peer, id);
  Body ready;
  {
    std::lock_guard lock(mu_);
    if (auto it = stored_.find(key); it != stored_.end()) {
      ready = std::move(it->second);
      stored_.erase(it);
      PeerRoom& room = room_[peer];
      room.bytes -= ready->size();
      room.messages -= 1;
    } else if (closed_) {
      throw ShutdownError("the pool is shut down: no message from '" + peer + "' with id " +
                          id.to_string() + " can arrive any more");
    } else if (!waiting_.emplace(std::move(key), Waiting{id, std::move(done)}).second) {
      throw ConfigurationError("already waiting for the message from '" + peer + "' with id " +
                               id.to_string());
    }
  }
  if (ready) done(nullptr, std::move(ready));  // outside the lock: it may run user code
}

bool Mailbox::withdraw(const std::string& peer, const MessageId& id) {
  std::lock_guard lock(mu_);
  return waiting_.erase(key_of(peer, id)) > 0;
}

void Mailbox::close(const CloseError& error) {
  std::map<Key, Waiting> ended;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    ended.swap(waiting_);
  }
  for (auto& [key, waiting] : ended) waiting.done(error(key.peer, waiting.id), nullptr);
}

std::size_t Mailbox::stored_bytes(std::string_view peer) const {
  std::lock_guard lock(mu_);
  auto it = room_.find(peer);
  return it == room_.end() ? 0 : it->second.bytes;
}

std::size_t Mailbox::stored_messages(std::string_view peer) const {
  std::lock_guard lock(mu_);
  auto it = room_.find(peer);
  return it == room_.end() ? 0 : it->second.messages;
}

}  // namespace tno::mpc::communication::net
