// The mailbox of a pool: messages that arrived and wait to be received, and receives that wait
// for their message, per (peer, id). It decides what becomes of an arriving message — handed to
// its receiver, stored, refused as a conflicting duplicate or for lack of room — and keeps the
// per-peer room accounting. Thread-safe; no I/O, so it is tested without sockets.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "tno/mpc/communication/message.hpp"

namespace tno::mpc::communication::net {

/// A received message body as the server read it: shared between the mailbox and the receiver,
/// never copied.
using Body = std::shared_ptr<const std::string>;

/// How a receive ends: called exactly once, with the body, or with the error that ended the wait
/// (the body is then null).
using ReceiveCompletion = std::function<void(std::exception_ptr, Body)>;

class Mailbox {
 public:
  /// `max_stored_bytes_per_peer`: see PoolConfig::max_stored_bytes_per_peer.
  explicit Mailbox(std::size_t max_stored_bytes_per_peer);
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  /// Whether a message of `bytes` from `peer` fits among the bytes stored for that peer, judged on
  /// a request's header before its body is read. Room runs short only while something is stored
  /// (a message larger than the limit is let in when nothing else is); `only_if_awaited` when it
  /// does not fit but a receive waits for some message from `peer`, which this may be.
  enum class Room { available, only_if_awaited, none };
  Room room_for(std::string_view peer, std::uint64_t bytes) const;

  enum class Outcome {
    delivered,  ///< a receive waited for it and got it
    stored,     ///< kept until a receive takes it
    duplicate,  ///< the same bytes are stored under its id already: a resend, kept once
    conflict,   ///< different bytes are stored under its id: refused, the first one kept
    no_room,    ///< over the per-peer room and not awaited: refused for now
    closed,     ///< the mailbox is closed (the pool shut down): refused
  };

  /// A message from `peer` under `id` arrived (validated, whole): what becomes of it. When a
  /// receive waits for it, that receive's completion runs here, on this thread, after the
  /// mailbox's lock is released. `accepted`, when given, runs under that lock as soon as the
  /// message is stored or handed over, so that no receiver can see the message before, say, the
  /// statistics count it (it must not call back into the mailbox).
  Outcome offer(const std::string& peer, const MessageId& id, Body body,
                const std::function<void()>& accepted = nullptr);

  /// The message from `peer` under `id`: when it is stored, it is taken and `done` runs now, on
  /// this thread; otherwise `done` runs when it arrives (on the thread that offers it) or when the
  /// wait ends. Throws ConfigurationError when a receive waits for that message already, and
  /// ShutdownError when the mailbox is closed and the message is not stored.
  void take_or_wait(const std::string& peer, const MessageId& id, ReceiveCompletion done);

  /// Ends the wait for the message from `peer` under `id` without completing it (a receive that
  /// timed out). True when a receive was waiting; false when none was, or its message arrived
  /// meanwhile (then its completion runs or has run).
  bool withdraw(const std::string& peer, const MessageId& id);

  /// Closes the mailbox: every waiting receive ends with `error(peer, id)`, later offers are
  /// refused (`closed`), later receives get what is stored and ShutdownError otherwise.
  using CloseError = std::function<std::exception_ptr(const std::string& peer, const MessageId&)>;
  void close(const CloseError& error);

  /// Bytes and messages from `peer` stored and not yet received.
  std::size_t stored_bytes(std::string_view peer) const;
  std::size_t stored_messages(std::string_view peer) const;

 private:
  // Ints and strs are different ids (5 != "5"); ordered by peer first, so that the waits for one
  // peer are one range.
  struct Key {
    std::string peer;
    bool is_str = false;
    std::string id;
    auto operator<=>(const Key&) const = default;
  };
  struct Waiting {
    MessageId id;
    ReceiveCompletion done;
  };
  struct PeerRoom {
    std::size_t bytes = 0;
    std::size_t messages = 0;
  };
  static Key key_of(const std::string& peer, const MessageId& id);
  bool awaits_message_from(std::string_view peer) const;  // under mu_

  const std::size_t max_stored_bytes_per_peer_;
  mutable std::mutex mu_;
  std::map<Key, Body> stored_;
  std::map<Key, Waiting> waiting_;
  std::map<std::string, PeerRoom, std::less<>> room_;
  bool closed_ = false;
};

}  // namespace tno::mpc::communication::net
