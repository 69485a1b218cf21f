// Pool: one HTTP server that receives, and one client per other party, by name — the C++
// counterpart of the Python reference's `Pool`, on the same wire.
//
//   Pool pool;
//   pool.add_http_server(61001, "127.0.0.1");
//   pool.add_http_client("Bob", "127.0.0.1", 61002);
//   pool.send("Bob", std::string("Hello Bob! This is Alice speaking."));
//   std::string reply = pool.recv<std::string>("Bob");
//   pool.shutdown();
//
// Threading: every member may be called from any thread. A thread that waits in a call (send,
// recv, recv_all, broadcast, shutdown, wait, a PendingMessage) runs the pool's network meanwhile;
// the pool's own thread runs it while nobody waits (PoolConfig::callers_run_network). Blocking
// calls must not be made from inside a custom serializer or a completion of awaitable.hpp.
// Errors: errors.hpp (DeliveryError, TimeoutError, ShutdownError, ConfigurationError, and the
// codec's for values that do not decode as asked).
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tno/mpc/communication/codec.hpp"
#include "tno/mpc/communication/config.hpp"
#include "tno/mpc/communication/errors.hpp"
#include "tno/mpc/communication/message.hpp"
#include "tno/mpc/communication/statistics.hpp"

namespace tno::mpc::communication {

class Pool;
namespace detail {
struct PoolAccess;
}  // namespace detail

/// Sets the level of the pools' log ("trace", "debug", "info" (default), "warn", "error", "off").
/// The log is spdlog's logger "tno.mpc.communication.httphandlers" on stderr, in the reference's
/// shape: `time - logger - LEVEL - message`.
void set_log_level(std::string_view level);

/// A message received without copying its payload (Pool::recv_borrowed): `value` may view into
/// `body` — T such as std::string_view, std::span<const std::byte>, or containers of them — and
/// `body`, the message as it arrived, keeps those views valid while this object lives.
template <class T>
struct Borrowed {
  std::shared_ptr<const ReceivedBody> body;
  T value;
};

/// A message being received (from Pool::arecv): wait for it, then get() decodes it as T. Waiting
/// runs the pool's network, as the blocking calls do.
template <Decodable T>
class PendingMessage {
 public:
  using Body = std::shared_ptr<const ReceivedBody>;
  PendingMessage(Pool& pool, std::future<Body> body, std::string peer)
      : pool_(&pool), body_(std::move(body)), peer_(std::move(peer)) {}

  /// Whether the message has arrived (get() will not block).
  bool ready() const;
  void wait() const;
  /// Waits at most `timeout`; true when the message arrived.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) const;
  /// Waits for the message and decodes it; call once. Throws what recv() throws.
  T get();

 private:
  Pool* pool_;
  std::future<Body> body_;
  std::string peer_;
};

class Pool {
 public:
  /// Throws ConfigurationError when config.tls names files that cannot be used.
  explicit Pool(PoolConfig config = {});
  /// Shuts down (see shutdown()) if that was not done.
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// Starts the server: HTTPS when the pool has a TlsConfig, else HTTP; the port defaults to 443
  /// or 80 accordingly. Port 0 binds an ephemeral port. Returns the port bound.
  /// Throws ConfigurationError when the address cannot be bound, or a server exists already.
  std::uint16_t add_http_server(std::optional<std::uint16_t> port = std::nullopt,
                                const std::string& addr = "0.0.0.0");
  /// The port the server listens on (0 before add_http_server).
  std::uint16_t port() const noexcept;
  /// Whether this pool speaks TLS.
  bool uses_tls() const noexcept;
  /// Adds a peer. `addr` is an IP address or a host name, resolved now; the port defaults to 443
  /// with TLS, else 80. With `cert` (the path of the peer's PEM certificate; TLS only) messages
  /// from the peer are recognised by that certificate — its issuer and serial number — wherever
  /// they come from; without it, by the peer's IP address and server port. Throws
  /// ConfigurationError when the name or certificate is taken, the address does not resolve, or
  /// the certificate cannot identify anyone (see CertificateInfo::issuer_starts_with_cn).
  void add_http_client(const std::string& name, const std::string& addr,
                       std::optional<std::uint16_t> port = std::nullopt,
                       std::optional<std::string> cert = std::nullopt);
  /// Names of the peers, in the order they were added.
  std::vector<std::string> peers() const;
  /// The settings the pool was made with.
  const PoolConfig& config() const noexcept { return config_; }

  /// Sends `object` to `peer` and returns once the peer answered 200. Without `id`, the peer's
  /// send counter is the id (each send advances it, explicit ids included). Throws DeliveryError
  /// when the message cannot be delivered and ConfigurationError for an unknown peer.
  template <Encodable T>
  void send(std::string_view peer, const T& object, std::optional<MessageId> id = std::nullopt) {
    if constexpr (detail::ByteContainer<T>) {
      // Large bytes go out from the caller's memory, not a copy: send() waits until they are
      // delivered, so they stay valid (a 1 GiB payload costs no second gigabyte).
      if (object.size() >= kSendInPlaceBytes) {
        std::string name(peer);
        std::span<const std::byte> bytes(object.data(), object.size());
        deliver(name,
                message_around_bytes(bytes, nullptr, next_send_id(name, id), config_.wire_format));
        return;
      }
    }
    std::string name(peer);
    deliver(name, packed(name, object, id));
  }
  /// Queues `object` for `peer` and returns at once (the id is taken now); the future completes
  /// as send() returns or throws.
  template <Encodable T>
  std::future<void> asend(std::string_view peer, const T& object,
                          std::optional<MessageId> id = std::nullopt) {
    std::string name(peer);
    return start_send(name, packed(name, object, id));
  }
  /// Queues bytes that the pool shares instead of copying: they go out from this very buffer
  /// (which must not change until the future completes), so a large payload costs no second
  /// copy, as with send(). asend(peer, std::move(bytes)) hands a buffer over the same way.
  std::future<void> asend(std::string_view peer, std::shared_ptr<const Bytes> bytes,
                          std::optional<MessageId> id = std::nullopt);
  std::future<void> asend(std::string_view peer, Bytes&& bytes,
                          std::optional<MessageId> id = std::nullopt) {
    return asend(peer, std::make_shared<const Bytes>(std::move(bytes)), std::move(id));
  }
  /// Sends one encoding of `object` to every peer (or to `to`), each under its own counter or
  /// `id`, and returns once all answered 200. Throws the first DeliveryError.
  template <Encodable T>
  void broadcast(const T& object, std::optional<MessageId> id = std::nullopt,
                 std::vector<std::string> to = {}) {
    for (auto& f : async_broadcast(object, std::move(id), std::move(to))) wait(std::move(f));
  }
  /// Queues what broadcast() sends; one future per peer, in the order of `to` (or of peers()).
  template <Encodable T>
  std::vector<std::future<void>> async_broadcast(const T& object,
                                                 std::optional<MessageId> id = std::nullopt,
                                                 std::vector<std::string> to = {}) {
    if (to.empty()) to = peers();
    std::vector<std::future<void>> done;
    const ByteBuffer payload = encode(object);  // once; only the envelope differs per peer
    for (const auto& name : to) {
      ByteBuffer body;
      pack_encoded_message(body, payload.view(), next_send_id(name, id), config_.wire_format);
      done.push_back(start_send(name, outgoing(std::move(body))));
    }
    return done;
  }

  /// Waits for the message from `peer` under `id` (or the peer's receive counter, which every
  /// receive advances) and decodes it as T. Throws TimeoutError when `timeout` passes first (the
  /// message, arriving later, stays stored under its id), ShutdownError when the pool shuts down
  /// first, ConfigurationError for an unknown peer or a message waited for twice, and the codec's
  /// errors when the payload does not decode as T.
  template <Decodable T = Value>
  T recv(std::string_view peer, std::optional<MessageId> id = std::nullopt,
         std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    std::string name(peer);
    Body body = receive(name, id, timeout);
    return decode_received<T>(*body, config_.decode_limits, SerializationContext{name, ""},
                              config_.wire_format);
  }
  /// Like recv(), but decodes views into the received message instead of copies: a 1 GiB bytes
  /// payload received as std::span<const std::byte> costs no second gigabyte.
  template <Decodable T>
  Borrowed<T> recv_borrowed(std::string_view peer, std::optional<MessageId> id = std::nullopt,
                            std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    std::string name(peer);
    Body body = receive(name, id, timeout);
    T value = decode_received<T>(*body, config_.decode_limits, SerializationContext{name, ""},
                                 config_.wire_format);
    return Borrowed<T>{std::move(body), std::move(value)};
  }
  /// Returns at once (the receive counter moves now); the handle yields what recv() would.
  template <Decodable T = Value>
  PendingMessage<T> arecv(std::string_view peer, std::optional<MessageId> id = std::nullopt) {
    std::string name(peer);
    auto body = start_receive(name, id);
    return PendingMessage<T>(*this, std::move(body), std::move(name));
  }
  /// recv() from every peer (or from `from`), in that order.
  template <Decodable T = Value>
  std::vector<std::pair<std::string, T>> recv_all(
      std::optional<MessageId> id = std::nullopt, std::vector<std::string> from = {},
      std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    if (from.empty()) from = peers();
    std::vector<std::pair<std::string, T>> out;
    for (const auto& name : from) out.emplace_back(name, recv<T>(name, id, timeout));
    return out;
  }

  /// Sets the prefix put before every id (sent and awaited from now on): prefix + str(id).
  void update_msg_prefix(std::string prefix);
  /// Traffic so far.
  Statistics statistics() const;
  /// Waits up to `deadline` for the sends under way, stops the server and the clients, and
  /// returns the final statistics. Sends not delivered by then fail with DeliveryError, and
  /// receives still waiting with ShutdownError. Calling it again returns the statistics again.
  Statistics shutdown(std::chrono::milliseconds deadline = std::chrono::seconds(5));

  /// Waits for a send started by asend or async_broadcast and rethrows its failure; like the
  /// blocking calls, it runs the network meanwhile (a bare get() waits for the pool's thread).
  void wait(std::future<void>&& sent);

  /// For a program whose event loop drives the network (PoolConfig::network_thread off): a
  /// descriptor that is readable whenever the network has work ready, to watch (poll, epoll,
  /// asyncio's add_reader), and run_network() to call then and after each send. run_network()
  /// runs what is ready and returns without blocking; with `most_steps`, at most that many of
  /// the network's steps (a step is one handler: a read of up to 1 MiB, a write, an answer), for
  /// a program that interleaves the network with long work of its own: steps it leaves ready do
  /// not make the descriptor readable, so such a program ends with a run_network() without it.
  int network_descriptor();
  void run_network(std::optional<std::size_t> most_steps = std::nullopt);

 private:
  friend struct detail::PoolAccess;
  template <Decodable T>
  friend class PendingMessage;
  using Body = std::shared_ptr<const ReceivedBody>;
  using Deadline = std::optional<std::chrono::steady_clock::time_point>;
  using SendCallback = std::function<void(std::exception_ptr)>;
  using ReceiveCallback = std::function<void(std::exception_ptr, Body)>;
  static constexpr std::size_t kSendInPlaceBytes = std::size_t{1} << 20;

  /// The id of the next message to `peer` (see send); throws ConfigurationError for an unknown
  /// peer.
  MessageId next_send_id(const std::string& peer, const std::optional<MessageId>& id);
  /// `object` packed as the next message to `peer` (under `id`, or the peer's counter).
  template <Encodable T>
  OutgoingMessage packed(const std::string& peer, const T& object,
                         const std::optional<MessageId>& id) {
    ByteBuffer body;
    pack_message(body, object, next_send_id(peer, id), SerializationContext{"", peer},
                 config_.wire_format);
    return outgoing(std::move(body));
  }
  /// Starts delivering `message`; the future, or `done`, gets the outcome. `done` runs on the
  /// thread that runs the network, or on the thread that shuts the pool down.
  std::future<void> start_send(const std::string& peer, OutgoingMessage message);
  void start_send(const std::string& peer, OutgoingMessage message, SendCallback done,
                  SendOptions options = {});
  /// Sends `message` and returns once it is delivered, running the network meanwhile when
  /// callers do; throws its failure.
  void deliver(const std::string& peer, OutgoingMessage message);
  void forward_arrivals(std::function<void(const std::string&, Body)> sink);
  /// See PoolAccess::defer_answers.
  bool defer_answers(bool on);
  bool pay_deferred_answers();
  void advertise_port(std::uint16_t port);
  /// Starts receiving the next message (or `id`) from `peer`; `done` runs at once, on this
  /// thread, when the message is stored, else on the thread that runs the network, or on the
  /// thread that shuts the pool down.
  std::future<Body> start_receive(const std::string& peer, const std::optional<MessageId>& id);
  void start_receive(const std::string& peer, const std::optional<MessageId>& id,
                     ReceiveCallback done);
  /// Receives, waiting at most `timeout` (see recv).
  Body receive(const std::string& peer, const std::optional<MessageId>& id,
               std::optional<std::chrono::milliseconds> timeout);
  /// Waits until `result` is ready or `deadline` passes, running the network meanwhile when
  /// callers do; true when ready.
  bool wait_ready(const std::future<void>& result, Deadline deadline);
  bool wait_ready(const std::future<Body>& result, Deadline deadline);

  PoolConfig config_;
  bool advertised_port_ = false;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

namespace detail {
/// What front-ends need of a Pool beyond its public API: the callback forms of sending and
/// receiving (the coroutine interface, awaitable.hpp), and, for front-ends that keep their own ids
/// and buffer of arrivals (the Python package), sends of packed messages with their own options
/// and every arrival handed over as it comes.
struct PoolAccess {
  using Body = Pool::Body;
  using ArrivalSink = std::function<void(const std::string& peer, Body body)>;
  template <Encodable T>
  static OutgoingMessage packed(Pool& pool, const std::string& peer, const T& object,
                                const std::optional<MessageId>& id) {
    return pool.packed(peer, object, id);
  }
  static void send(Pool& pool, const std::string& peer, OutgoingMessage message,
                   Pool::SendCallback done, SendOptions options = {}) {
    pool.start_send(peer, std::move(message), std::move(done), options);
  }
  /// Every valid message goes to `sink` (on the network thread, before its 200) instead of the
  /// mailbox, so recv no longer sees any; call it before add_http_server.
  static void forward_arrivals(Pool& pool, ArrivalSink sink) {
    pool.forward_arrivals(std::move(sink));
  }
  /// With `on`, the 200 of a message that arrives whole on a plain connection waits for
  /// pay_deferred_answers(), or for the next request on that connection, instead of going out at
  /// once: for a front-end whose event loop runs the network and that sends its own next message
  /// in the turn in which one arrived, so that the 200 and that message reach the peer together
  /// and wake it once. The front-end pays them by the end of that turn. Off pays what is
  /// deferred; shutdown does too, and stops deferring. Holds the network's turn: false when
  /// another thread runs the network now.
  static bool defer_answers(Pool& pool, bool on) { return pool.defer_answers(on); }
  /// Writes the deferred 200s, holding the network's turn; false when another thread runs the
  /// network now (which pays them if the pool shuts down).
  static bool pay_deferred_answers(Pool& pool) { return pool.pay_deferred_answers(); }
  /// The port this party names as its own in every request (the reference's `external_port`, for
  /// a server behind port forwarding); by default the port it listens on.
  static void advertise_port(Pool& pool, std::uint16_t port) { pool.advertise_port(port); }
  static void receive(Pool& pool, const std::string& peer, const std::optional<MessageId>& id,
                      Pool::ReceiveCallback done) {
    pool.start_receive(peer, id, std::move(done));
  }
};
}  // namespace detail

template <Decodable T>
bool PendingMessage<T>::ready() const {
  return pool_->wait_ready(body_, std::chrono::steady_clock::now());
}

template <Decodable T>
void PendingMessage<T>::wait() const {
  pool_->wait_ready(body_, std::nullopt);
}

template <Decodable T>
template <class Rep, class Period>
bool PendingMessage<T>::wait_for(std::chrono::duration<Rep, Period> timeout) const {
  return pool_->wait_ready(
      body_, std::chrono::steady_clock::now() +
                 std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout));
}

template <Decodable T>
T PendingMessage<T>::get() {
  pool_->wait_ready(body_, std::nullopt);
  Body body = body_.get();
  const PoolConfig& config = pool_->config();
  return decode_received<T>(*body, config.decode_limits, SerializationContext{peer_, ""},
                            config.wire_format);
}

}  // namespace tno::mpc::communication
