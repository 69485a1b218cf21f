// The mailbox of a pool: messages that arrived and wait to be received, and receives that wait
// for their message, per (peer, id). It decides what becomes of an arriving message — handed to
// its receive, stored, refused as a conflicting duplicate or for lack of room — and keeps the
// room accounting: per peer and for the whole party, bodies still arriving and messages stored,
// each stored message at what it really costs. Thread-safe; no I/O, so it is tested without
// sockets.
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
#include <unordered_map>

#include "tno/mpc/communication/buffer.hpp"
#include "tno/mpc/communication/message.hpp"

namespace tno::mpc::communication::net {

/// A received message body as the server read it: shared between the mailbox and the receiver,
/// never copied.
using Body = std::shared_ptr<const ReceivedBody>;
/// A body the server has just read, before its check notes where its payload lies.
using UncheckedBody = std::shared_ptr<ReceivedBody>;

/// How a receive ends: called exactly once, with the body, or with the error that ended the wait
/// (the body is then null).
using ReceiveCompletion = std::function<void(std::exception_ptr, Body)>;

class Mailbox {
 public:
  struct Limits {
    /// PoolConfig::max_stored_bytes_per_peer, max_stored_messages_per_peer, max_received_bytes.
    std::size_t bytes_per_peer = std::size_t{1} << 30;
    std::size_t messages_per_peer = std::size_t{1} << 18;
    std::size_t bytes = std::size_t{2} << 30;
  };
  /// What a stored message is counted at beyond its body's memory: its map entry, key and shared
  /// handle, which cost 220-240 B with glibc's malloc for ids of up to 15 characters; the margin
  /// covers longer ids (tests/mailbox_test.cpp checks the bound against resident memory).
  static constexpr std::size_t kStoredMessageOverhead = 512;

  explicit Mailbox(Limits limits);
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  /// Whether a message of `bytes` from `peer` fits, judged on a request's header before its body
  /// is read: among what is stored and arriving for that peer, and for the whole party. Room runs
  /// short only while something is held (one message over a limit is let in when nothing else
  /// is); `only_if_awaited` when it does not fit but a receive waits for some message from `peer`,
  /// which this may be.
  enum class Room { available, only_if_awaited, none };
  Room room_for(std::string_view peer, std::uint64_t bytes) const;

  /// The bytes of one body while they arrive, counted against its peer's room and the party's
  /// budget as they come (memory follows the bytes, and so does the accounting). Released when
  /// destroyed, or when its message is offered.
  class Arrival {
   public:
    Arrival(Arrival&& other) noexcept;
    Arrival& operator=(Arrival&&) = delete;
    ~Arrival();
    /// Counts `n` more bytes; false (nothing counted) when they do not fit — unless a receive
    /// waits for a message from the peer, which this may be (the offer decides).
    bool add(std::size_t n);
    std::size_t bytes() const noexcept { return bytes_; }

   private:
    friend class Mailbox;
    Arrival(Mailbox& mailbox, std::string peer) : mailbox_(&mailbox), peer_(std::move(peer)) {}
    Mailbox* mailbox_;
    std::string peer_;
    std::size_t bytes_ = 0;
  };
  Arrival arrive(std::string peer);

  enum class Outcome {
    delivered,  ///< a receive waited for it and got it
    stored,     ///< kept until a receive takes it
    duplicate,  ///< the same bytes are stored under its id already: a resend, kept once
    conflict,   ///< different bytes are stored under its id: refused, the first one kept
    no_room,    ///< over its peer's room, the party's budget or message cap, and not awaited
    closed,     ///< the mailbox is closed (the pool shut down): refused
  };

  /// A message from `peer` under `id` arrived (validated, whole; its arrival, when given, ends
  /// here): what becomes of it. When a receive waits for it, that receive's completion runs here,
  /// on this thread, after the mailbox's lock is released. `accepted`, when given, runs under
  /// that lock as soon as the message is stored or handed over, so that no receiver can see the
  /// message before, say, the statistics count it (it must not call back into the mailbox).
  Outcome offer(const std::string& peer, const MessageId& id, Body body,
                const std::function<void()>& accepted = nullptr, Arrival* arrival = nullptr);

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

  /// What is held for `peer`: the cost of its stored messages (bodies' memory and overhead), how
  /// many, and the bytes of its bodies still arriving; and for the whole party.
  struct Held {
    std::size_t stored_bytes = 0;
    std::size_t stored_messages = 0;
    std::size_t arriving_bytes = 0;
  };
  Held held(std::string_view peer) const;
  Held held() const;
  std::size_t stored_bytes(std::string_view peer) const { return held(peer).stored_bytes; }
  std::size_t stored_messages(std::string_view peer) const { return held(peer).stored_messages; }

 private:
  // Ints and strs are different ids (5 != "5"); ordered by peer first, so that the waits for one
  // peer are one range. An int id that fits int64_t (a counter, mostly) is kept as that number,
  // any other id as its text (a str, or an int beyond int64_t in decimal): a Value holds every
  // int that fits as int64_t, so one id has one key. Its hash is computed once, by key_of(), as
  // the table asks for it often.
  struct Key {
    std::string peer;
    bool is_str = false;
    std::int64_t number = 0;
    std::string text;
    std::size_t hash = 0;  // of the others
    auto operator<=>(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& key) const noexcept { return key.hash; }
  };
  struct Waiting {
    MessageId id;
    ReceiveCompletion done;
  };
  static Key key_of(const std::string& peer, const MessageId& id);
  static std::size_t cost(const ReceivedBody& body) {
    return body.footprint() + kStoredMessageOverhead;
  }
  // Under mu_:
  bool awaits_message_from(std::string_view peer) const;
  // Whether `more` bytes fit beside what is held for `peer` and for the party; `own` of what is
  // held are the asker's own (an arrival), which does not make the room short for itself.
  bool fits(const Held& peer, std::size_t more, std::size_t own = 0) const;
  void end_arrival(Arrival& arrival);

  const Limits limits_;
  mutable std::mutex mu_;
  std::unordered_map<Key, Body, KeyHash> stored_;  // found by key only: hashed
  std::map<Key, Waiting> waiting_;
  std::map<std::string, Held, std::less<>> held_;
  Held total_;
  bool closed_ = false;
};

}  // namespace tno::mpc::communication::net
