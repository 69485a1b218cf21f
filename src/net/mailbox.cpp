#include "net/mailbox.hpp"

#include <limits>
#include <optional>
#include <utility>

#include "tno/mpc/communication/errors.hpp"

namespace tno::mpc::communication::net {

Mailbox::Mailbox(Limits limits) : limits_(limits) {}

Mailbox::Key Mailbox::key_of(const std::string& peer, const MessageId& id) {
  const std::hash<std::string> hash;
  Key key{peer, id.is_str(), 0, {}, 0};
  std::size_t id_hash = 0;
  if (const auto number = id.is_str() ? std::nullopt : id.value().to_int64()) {
    key.number = *number;
    id_hash = static_cast<std::size_t>(*number) * 0x9e3779b97f4a7c15u;  // spreads counters
  } else {
    key.text = id.to_string();
    id_hash = hash(key.text);
  }
  key.hash = (hash(key.peer) * 31 + key.is_str) ^ id_hash;
  return key;
}

bool Mailbox::awaits_message_from(std::string_view peer) const {
  // The least key of `peer`: ints before strs, the least number, no text.
  auto it = waiting_.lower_bound(
      Key{std::string(peer), false, std::numeric_limits<std::int64_t>::min(), "", 0});
  return it != waiting_.end() && it->first.peer == peer;
}

bool Mailbox::fits(const Held& peer, std::size_t more, std::size_t own) const {
  const std::size_t for_peer = peer.stored_bytes + peer.arriving_bytes;
  const std::size_t for_party = total_.stored_bytes + total_.arriving_bytes;
  return (for_peer == own || for_peer + more <= limits_.bytes_per_peer) &&
         (for_party == own || for_party + more <= limits_.bytes);
}

Mailbox::Room Mailbox::room_for(std::string_view peer, std::uint64_t bytes) const {
  std::lock_guard lock(mu_);
  auto it = held_.find(peer);
  const Held none;
  const Held& p = it == held_.end() ? none : it->second;
  if (fits(p, bytes) && p.stored_messages < limits_.messages_per_peer) return Room::available;
  return awaits_message_from(peer) ? Room::only_if_awaited : Room::none;
}

Mailbox::Arrival Mailbox::arrive(std::string peer) {
  return Arrival(*this, std::move(peer));
}

Mailbox::Arrival::Arrival(Arrival&& other) noexcept
    : mailbox_(std::exchange(other.mailbox_, nullptr)),
      peer_(std::move(other.peer_)),
      bytes_(std::exchange(other.bytes_, 0)) {}

Mailbox::Arrival::~Arrival() {
  if (mailbox_ == nullptr || bytes_ == 0) return;
  std::lock_guard lock(mailbox_->mu_);
  mailbox_->end_arrival(*this);
}

bool Mailbox::Arrival::add(std::size_t n) {
  std::lock_guard lock(mailbox_->mu_);
  Held& p = mailbox_->held_[peer_];
  if (!mailbox_->fits(p, n, bytes_) && !mailbox_->awaits_message_from(peer_)) return false;
  p.arriving_bytes += n;
  mailbox_->total_.arriving_bytes += n;
  bytes_ += n;
  return true;
}

void Mailbox::end_arrival(Arrival& arrival) {
  Held& p = held_[arrival.peer_];
  p.arriving_bytes -= arrival.bytes_;
  total_.arriving_bytes -= arrival.bytes_;
  arrival.bytes_ = 0;
}

Mailbox::Outcome Mailbox::offer(const std::string& peer, const MessageId& id, Body body,
                                const std::function<void()>& accepted, Arrival* arrival) {
  Key key = key_of(peer, id);
  ReceiveCompletion receiver;
  {
    std::lock_guard lock(mu_);
    if (arrival != nullptr) end_arrival(*arrival);
    if (closed_) return Outcome::closed;
    if (auto it = stored_.find(key); it != stored_.end()) {
      return *it->second == *body ? Outcome::duplicate : Outcome::conflict;
    }
    if (auto waiting = waiting_.find(key); waiting != waiting_.end()) {
      receiver = std::move(waiting->second.done);
      waiting_.erase(waiting);
    } else {
      // Stored: within the peer's room and the party's budget (each let in one message over it
      // while it holds nothing else), and under the peer's message cap.
      Held& p = held_[peer];
      const std::size_t c = cost(*body);
      if ((p.stored_bytes > 0 && p.stored_bytes + c > limits_.bytes_per_peer) ||
          (total_.stored_bytes > 0 && total_.stored_bytes + c > limits_.bytes) ||
          p.stored_messages >= limits_.messages_per_peer) {
        return Outcome::no_room;
      }
      p.stored_bytes += c;
      p.stored_messages += 1;
      total_.stored_bytes += c;
      total_.stored_messages += 1;
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
      const std::size_t c = cost(*ready);
      Held& p = held_[peer];
      p.stored_bytes -= c;
      p.stored_messages -= 1;
      total_.stored_bytes -= c;
      total_.stored_messages -= 1;
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

Mailbox::Held Mailbox::held(std::string_view peer) const {
  std::lock_guard lock(mu_);
  auto it = held_.find(peer);
  return it == held_.end() ? Held{} : it->second;
}

Mailbox::Held Mailbox::held() const {
  std::lock_guard lock(mu_);
  return total_;
}

}  // namespace tno::mpc::communication::net
