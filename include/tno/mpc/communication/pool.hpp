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
// Threading: the pool's network I/O runs in a thread that waits in a blocking call, or else on a
// background thread of the pool's own (PoolConfig::callers_run_network). Every public member may
// be called from any thread; blocking calls (send, recv, recv_all, shutdown) must not be called
// from inside a pool callback.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tno/mpc/communication/codec.hpp"
#include "tno/mpc/communication/tls.hpp"

namespace tno::mpc::communication {

namespace detail {
struct PoolAccess;
}  // namespace detail

/// Settings of a Pool; every field has the reference's default unless said otherwise.
struct PoolConfig {
  /// Wait between two delivery attempts of a message.
  std::chrono::milliseconds retry_delay{1000};
  /// Attempts after the first before a send fails; -1 retries without limit (the reference).
  int max_retries = -1;
  /// Bound on one delivery attempt (connect, write, answer).
  std::chrono::milliseconds attempt_timeout{std::chrono::seconds(300)};
  /// Deliveries to one peer in flight at once, each on its own kept-alive connection; more
  /// sends wait in order. (The reference's HTTP client allows 100.)
  std::size_t max_connections_per_peer = 32;
  /// Largest request body the server accepts (larger ones get 413). Not limited by the reference.
  /// The default lets a 1 GiB payload and its envelope in.
  std::size_t max_body_bytes = (std::size_t{1} << 30) + (std::size_t{1} << 16);
  /// Largest request header (request line and fields) the server reads; larger gets 431.
  std::size_t max_header_bytes = 16 * 1024;
  /// A server connection that brings no complete request header (or, with TLS, no finished
  /// handshake) within this long is closed: it ends idle keep-alive connections and clients that
  /// trickle a header (slowloris). A body must then arrive within attempt_timeout.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  /// Open server connections from one IP address; the next gets 503 and is closed.
  std::size_t max_connections_per_source = 256;
  /// Bytes stored for one peer and not yet received by the application. A message that would
  /// go beyond it while others are stored gets 503 (its sender retries later, as the reference
  /// does on any non-200); one larger than the limit is accepted when nothing else is stored.
  std::size_t max_stored_bytes_per_peer = std::size_t{1} << 30;
  /// Bounds on decoding received payloads.
  DecodeLimits decode_limits = {};
  /// The message format of the Python package the other parties run: 4.x (the seed's, default)
  /// or 5.x, whose envelope wraps the payload in a bin and whose default ids are strs. Every
  /// party of a pool must use the same one; see docs/python-5.md.
  WireFormat wire_format = WireFormat::v4;
  /// Let the process keep freed large buffers for reuse (glibc: raises malloc's mmap and trim
  /// thresholds once, unless MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ are set). Every
  /// large message needs fresh buffers, and memory that malloc hands back to the kernel on free
  /// must be page-faulted in again on the next message: measured, that tripled the round trip of
  /// 1 MiB messages. The price is resident memory that stays at the high-water mark.
  bool retain_freed_memory = true;
  /// While the pool's thread runs the network, it keeps polling this long before it sleeps,
  /// so that the next message of a conversation does not wait for a thread (and an idle core)
  /// to wake up. Off by default: on an idle 2-core machine 30 us took 64 B round trips from
  /// 69-83 us to 42-51 us, but on a busy one the polling thread took the core its own caller
  /// needed (127 us against 70 us without), and 16 pools on 2 cores got 30% slower. Worth it
  /// with a spare core per party.
  std::chrono::microseconds poll_before_sleep{0};
  /// A thread that waits in a call (send, recv, recv_all, broadcast, shutdown, Pool::wait, a
  /// PendingMessage) runs the network itself meanwhile, as Python's asyncio loop runs inside an
  /// `await`; the pool's own thread takes over 1 ms after no caller waits, so that messages are
  /// served and asends go out while the application computes. A round trip then costs no
  /// hand-off between threads (a wake-up and a context switch each, four per round trip):
  /// 64 B round trips took 85-89 us with this off and 57-73 us with it on, against raw TCP's
  /// 52-68 us in the same runs, each party on its own core (docs/benchmarks.md). Off: only the
  /// pool's thread runs the network.
  bool callers_run_network = true;
  /// Mutual TLS (HTTPS) with these key, certificate and CA files; plain HTTP when empty (the
  /// reference's default, not for production). The pool's constructor checks the files and
  /// throws ConfigurationError naming the one that is missing, unreadable, expired or mismatched.
  std::optional<TlsConfig> tls = std::nullopt;
};

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

struct Statistics {
  std::map<std::string, TrafficStatistics> peers;
  TrafficStatistics total;
};

/// A send did not reach its peer (retries exhausted, or the peer refused the message).
class DeliveryError : public Error {
 public:
  using Error::Error;
};

/// A receive did not complete in the time allowed.
class TimeoutError : public Error {
 public:
  using Error::Error;
};

/// Sets the level of the pool's log ("trace", "debug", "info" (default), "warn", "error",
/// "off"). The log is spdlog's logger "tno.mpc.communication.httphandlers" on stderr, in the
/// reference's shape: `time - logger - level - message`.
void set_log_level(std::string_view level);

/// A message received without copying its payload (Pool::recv_borrowed): `value` may view into
/// `body` — T such as std::string_view, std::span<const std::byte>, or containers of them — and
/// `body`, the message as it arrived, keeps those views valid while this object lives.
template <class T>
struct Borrowed {
  std::shared_ptr<const std::string> body;
  T value;
};

/// What `ping` found at a party's server.
struct PingResult {
  int status = 0;    // the HTTP status of the answer to GET (200 from a live party)
  std::string body;  // "Connection working (GET)" from a live party
  std::chrono::microseconds round_trip{0};          // connect, handshake, GET and answer
  std::string tls_version;                          // "TLSv1.3"; empty without TLS
  std::optional<CertificateInfo> peer_certificate;  // the server's certificate, with TLS
};

/// The liveness check of a party's server: a GET on HOST:PORT, over TLS with `tls` (the
/// certificate checks of a pool apply, so a deployment's certificates can be tried before a run).
/// Throws DeliveryError when the server cannot be reached or the TLS handshake fails.
PingResult ping(const std::string& host, std::uint16_t port,
                const std::optional<TlsConfig>& tls = std::nullopt,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

class Pool;

/// A message being received (from Pool::arecv): wait for it, then get() decodes it as T.
template <Decodable T>
class PendingMessage {
 public:
  using Body = std::shared_ptr<const std::string>;
  PendingMessage(Pool& pool, std::future<Body> body, std::string peer, DecodeLimits limits,
                 WireFormat format = WireFormat::v4)
      : pool_(&pool),
        body_(std::move(body)),
        peer_(std::move(peer)),
        limits_(limits),
        format_(format) {}

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
  DecodeLimits limits_;
  WireFormat format_;
};

class Pool {
 public:
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

  /// Sends `object` to `peer` and returns once the peer answered 200. Without `id`, the peer's
  /// send counter is the id. Throws DeliveryError when retries are exhausted, and
  /// ConfigurationError for an unknown peer.
  template <Encodable T>
  void send(std::string_view peer, const T& object, std::optional<MessageId> id = std::nullopt) {
    if constexpr (detail::ByteContainer<T>) {
      // Large bytes go out from the caller's memory, not a copy: send() waits until they are
      // delivered, so they stay valid (a 1 GiB payload costs no second gigabyte).
      if (object.size() >= kSendInPlaceBytes) {
        std::string name(peer);
        wait(send_in_place(name, next_send_id(name, id),
                           std::span<const std::byte>(object.data(), object.size())));
        return;
      }
    }
    wait(asend(peer, object, std::move(id)));
  }
  /// Queues `object` for `peer` and returns at once; the future completes like send().
  template <Encodable T>
  std::future<void> asend(std::string_view peer, const T& object,
                          std::optional<MessageId> id = std::nullopt) {
    std::string name(peer);
    MessageId wire_id = next_send_id(name, id);
    auto body = std::make_shared<ByteBuffer>();
    pack_message(*body, object, wire_id, SerializationContext{"", name}, config_.wire_format);
    return send_bytes(name, std::move(body));
  }
  /// Queues bytes that the pool may share instead of copy: they go out from this very buffer
  /// (which must not change until the future completes), so a large payload costs no second
  /// copy, as with send(). asend(peer, std::move(bytes)) hands a buffer over the same way.
  std::future<void> asend(std::string_view peer, std::shared_ptr<const Bytes> bytes,
                          std::optional<MessageId> id = std::nullopt) {
    std::string name(peer);
    std::span<const std::byte> view(bytes->data(), bytes->size());
    return send_in_place(name, next_send_id(name, id), view, std::move(bytes));
  }
  std::future<void> asend(std::string_view peer, Bytes&& bytes,
                          std::optional<MessageId> id = std::nullopt) {
    return asend(peer, std::make_shared<const Bytes>(std::move(bytes)), std::move(id));
  }
  /// Sends one encoding of `object` to every peer (or to `to`), each under its own counter or `id`.
  template <Encodable T>
  void broadcast(const T& object, std::optional<MessageId> id = std::nullopt,
                 std::vector<std::string> to = {}) {
    for (auto& f : async_broadcast(object, std::move(id), std::move(to))) wait(std::move(f));
  }
  template <Encodable T>
  std::vector<std::future<void>> async_broadcast(const T& object,
                                                 std::optional<MessageId> id = std::nullopt,
                                                 std::vector<std::string> to = {}) {
    if (to.empty()) to = peers();
    std::vector<std::future<void>> done;
    // The payload is encoded once; only the envelope differs per peer.
    ByteBuffer payload = encode(object);
    for (const auto& name : to) {
      MessageId wire_id = next_send_id(name, id);
      auto body = std::make_shared<ByteBuffer>();
      Writer w(*body);
      w.write_map_header(2);
      w.write_str("object");
      if (config_.wire_format == WireFormat::v5) {
        w.write_bin(payload.view());  // 5.x: the packed payload, as a bin
      } else {
        w.write_raw(payload.view());
      }
      w.write_str("id");
      encode_to(w, wire_id);
      done.push_back(send_bytes(name, std::move(body)));
    }
    return done;
  }

  /// Waits for the message from `peer` under `id` (or the peer's receive counter) and decodes
  /// it as T. Throws TimeoutError when `timeout` passes first.
  template <Decodable T = Value>
  T recv(std::string_view peer, std::optional<MessageId> id = std::nullopt,
         std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    std::string name(peer);
    auto raw = receive_bytes(name, id, timeout);
    return unpack_message<T>(as_bytes(*raw), config_.decode_limits, SerializationContext{name, ""},
                             config_.wire_format)
        .object;
  }
  /// Like recv(), but decodes views into the received message instead of copies: a 1 GiB bytes
  /// payload received as std::span<const std::byte> costs no second gigabyte.
  template <Decodable T>
  Borrowed<T> recv_borrowed(std::string_view peer, std::optional<MessageId> id = std::nullopt,
                            std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    std::string name(peer);
    auto raw = receive_bytes(name, id, timeout);
    T value = unpack_message<T>(as_bytes(*raw), config_.decode_limits,
                                SerializationContext{name, ""}, config_.wire_format)
                  .object;
    return Borrowed<T>{std::move(raw), std::move(value)};
  }
  /// Returns at once (the receive counter moves now); the handle yields what recv() would.
  template <Decodable T = Value>
  PendingMessage<T> arecv(std::string_view peer, std::optional<MessageId> id = std::nullopt) {
    std::string name(peer);
    auto raw = receive_bytes_async(name, id);
    return PendingMessage<T>(*this, std::move(raw), std::move(name), config_.decode_limits,
                             config_.wire_format);
  }
  /// recv() from every peer (or from `from`), in peer order.
  template <Decodable T = Value>
  std::vector<std::pair<std::string, T>> recv_all(
      std::optional<MessageId> id = std::nullopt, std::vector<std::string> from = {},
      std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    if (from.empty()) from = peers();
    std::vector<std::pair<std::string, T>> out;
    for (const auto& name : from) out.emplace_back(name, recv<T>(name, id, timeout));
    return out;
  }

  /// Sets the prefix put before every id (sent and awaited): prefix + str(id).
  void update_msg_prefix(std::string prefix);
  /// Traffic so far.
  Statistics statistics() const;
  /// Waits up to `deadline` for queued sends, stops the server and the clients, and returns the
  /// final statistics. Calling it again returns them again.
  Statistics shutdown(std::chrono::milliseconds deadline = std::chrono::seconds(5));

  /// Waits for a send started by asend or async_broadcast and rethrows its failure; like the
  /// blocking calls, it runs the network meanwhile (a bare get() waits for the pool's thread).
  void wait(std::future<void>&& sent);

 private:
  template <Decodable T>
  friend class PendingMessage;
  using Deadline = std::optional<std::chrono::steady_clock::time_point>;
  /// Waits until `result` is ready or `deadline` passes (running the network meanwhile when it
  /// is the caller's); true when ready.
  bool wait_ready(const std::future<void>& result, Deadline deadline);
  bool wait_ready(const std::future<std::shared_ptr<const std::string>>& result, Deadline deadline);
  static constexpr std::size_t kSendInPlaceBytes = std::size_t{1} << 20;
  MessageId next_send_id(const std::string& peer, const std::optional<MessageId>& id);
  // `owner`, when given, keeps `bytes` alive until the send is settled (else the caller does).
  std::future<void> send_in_place(const std::string& peer, const MessageId& id,
                                  std::span<const std::byte> bytes,
                                  std::shared_ptr<const void> owner = nullptr);
  std::future<void> send_bytes(const std::string& peer, std::shared_ptr<const ByteBuffer> body);
  /// A received body, kept as the server read it (one buffer, no copy).
  using Body = std::shared_ptr<const std::string>;
  Body receive_bytes(const std::string& peer, const std::optional<MessageId>& id,
                     std::optional<std::chrono::milliseconds> timeout);
  std::future<Body> receive_bytes_async(const std::string& peer,
                                        const std::optional<MessageId>& id);

  // Callback forms, for the coroutine interface (awaitable.hpp): `done` runs on the pool's
  // thread (or at once, when the message is already there).
  void send_bytes_then(const std::string& peer, std::shared_ptr<const ByteBuffer> body,
                       std::function<void(std::exception_ptr)> done);
  void receive_bytes_then(const std::string& peer, const std::optional<MessageId>& id,
                          std::function<void(std::exception_ptr, Body)> done);
  std::future<void> start_delivery(const std::string& peer, std::shared_ptr<const ByteBuffer> body,
                                   std::function<void(std::exception_ptr)> callback);
  std::future<Body> start_receive(const std::string& peer, const std::optional<MessageId>& id,
                                  std::function<void(std::exception_ptr, Body)> callback,
                                  std::string* key_out);
  friend struct detail::PoolAccess;

  struct Impl;
  PoolConfig config_;
  std::unique_ptr<Impl> impl_;
};

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
  return unpack_message<T>(as_bytes(*body), limits_, SerializationContext{peer_, ""}, format_)
      .object;
}

}  // namespace tno::mpc::communication
