// The settings of a Pool, in one plain struct. Every field states its meaning, default and unit;
// a field without a counterpart in the Python reference says so. How the defaults were chosen is
// in docs/benchmarks.md and docs/security.md.
//
//   PoolConfig config;
//   config.max_retries = 5;
//   config.tls = TlsConfig{"party.pem", "party.crt", "ca.crt"};
//   Pool pool(config);
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>

#include "tno/mpc/communication/message.hpp"
#include "tno/mpc/communication/tls.hpp"
#include "tno/mpc/communication/wire.hpp"

namespace tno::mpc::communication {

struct PoolConfig {
  // ---- sending ----------------------------------------------------------------------------------

  /// Wait between two delivery attempts of one message. Default 1 s (the reference's).
  std::chrono::milliseconds retry_delay{1000};
  /// Attempts after the first before a send fails with DeliveryError; -1 (the default, the
  /// reference's) retries without limit. A 400, 409 or 413 answer and a TLS certificate failure
  /// end a send at once whatever this says.
  int max_retries = -1;
  /// Bound on one delivery attempt: connecting, the TLS handshake, writing the request and reading
  /// the answer. Default 300 s (the reference's aiohttp client timeout).
  std::chrono::milliseconds attempt_timeout{std::chrono::seconds(300)};
  /// Within an attempt, the bound on connecting (and, with TLS, the handshake): a peer that is
  /// down or unreachable fails the attempt after this, not after attempt_timeout. Default 10 s.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  /// Within an attempt, how long the peer may take to answer once the whole request is written (a
  /// live party answers as soon as it has stored the message): a peer that accepts messages and
  /// stalls fails the attempt after this, which is then retried. Default 30 s.
  std::chrono::milliseconds answer_timeout{std::chrono::seconds(30)};
  /// Connections to one peer in use at once. Small messages sent while another is under way go
  /// out together, pipelined on one connection and answered in order (one such batch at a time,
  /// so that they arrive in the order they were sent); large messages (256 KiB and more) take a
  /// connection each. Sends beyond this wait in the order they were made. Default 32 (the
  /// reference: 100 connections).
  std::size_t max_connections_per_peer = 32;

  // ---- receiving (limits the reference does not have; see docs/security.md) -------------------

  /// Largest request body the server reads, in bytes; a larger one is answered 413 (final for its
  /// sender). Default 1 GiB + 64 KiB: a 1 GiB payload with its envelope.
  std::size_t max_body_bytes = (std::size_t{1} << 30) + (std::size_t{1} << 16);
  /// Largest request header (request line and fields), in bytes; a larger one is answered 431 and
  /// the connection closed. Default 16 KiB.
  std::size_t max_header_bytes = 16 * 1024;
  /// A server connection that brings no complete request header (or, over TLS, no finished
  /// handshake) within this long is closed: idle kept-alive connections and clients that trickle a
  /// header. A body, once its header is in, must arrive within attempt_timeout. Default 60 s.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  /// Open server connections from one IP address; the next one is answered 503 (plain HTTP) or
  /// closed (TLS). Default 256.
  std::size_t max_connections_per_source = 256;
  /// Open server connections in all. At the cap, a new connection makes the server close an
  /// unidentified one (no request from a known peer yet; the oldest first), else an idle one of a
  /// known peer, else the new one itself. 0 (the default): half of the process's descriptor limit
  /// (the soft RLIMIT_NOFILE when the pool is made), the rest left to clients and the application.
  std::size_t max_connections = 0;
  /// TLS handshakes under way at once, in all and from one IP address; further connections wait
  /// for their turn (within idle_timeout). Each costs about 100 KiB while it lasts.
  /// Defaults 64 and 32.
  std::size_t max_tls_handshakes = 64;
  std::size_t max_tls_handshakes_per_source = 32;
  /// Memory of one peer's messages held and not yet received by the application: stored messages
  /// at their real cost (body and bookkeeping) and bodies still arriving (with the memory made
  /// ready ahead of a large body's bytes: as much again as came, up to 32 MiB more). A message
  /// that would go beyond it while others are held is answered 503 with Retry-After (its sender
  /// retries later) unless the application waits for a message from that peer; one message larger
  /// than this is let in when nothing else from that peer is held. Default 1 GiB.
  std::size_t max_stored_bytes_per_peer = std::size_t{1} << 30;
  /// Messages of one peer stored and not yet received; the next is answered 503 unless awaited.
  /// Default 262,144.
  std::size_t max_stored_messages_per_peer = std::size_t{1} << 18;
  /// The same as max_stored_bytes_per_peer for all peers together: the memory the party lends
  /// to received messages. 0 (the default): a quarter of the machine's physical memory, and never
  /// less than max_body_bytes.
  std::size_t max_received_bytes = 0;
  /// Sets SO_REUSEPORT on the server's socket, so that several servers may bind one port (the
  /// reference's test fixtures ask for it). Default off.
  bool reuse_port = false;
  /// Bounds on decoding received payloads (nesting depth, container sizes); see DecodeLimits.
  DecodeLimits decode_limits = {};

  // ---- protocol ---------------------------------------------------------------------------------

  /// The message format of the Python package the other parties run: v4 (4.x, the seed's, the
  /// default) or v5 (5.x: the payload wrapped in a bin, default ids are strs). Every party of a
  /// protocol must use the same one; see docs/python-versions.md.
  WireFormat wire_format = WireFormat::v4;
  /// Mutual TLS (HTTPS) with these key, certificate and CA files; plain HTTP when empty (the
  /// reference's default, not for production). Pool's constructor checks the files and throws
  /// ConfigurationError naming the one that is missing, unreadable, expired or mismatched.
  std::optional<TlsConfig> tls = std::nullopt;

  // ---- threads and memory (no counterpart in the reference) -------------------------------------

  /// A thread that waits in a call (send, recv, recv_all, broadcast, shutdown, Pool::wait, a
  /// PendingMessage) runs the pool's network itself meanwhile, as Python's event loop runs inside
  /// an `await`, so that what it waits for completes without a hand-off between threads. The
  /// pool's own thread runs the network once no caller has waited for 1–2 ms, so messages are
  /// served and asends go out while the application computes. Whoever runs the network sleeps in
  /// the kernel until there is work: an idle pool costs no CPU. Default on. Off: only the pool's
  /// thread runs the network, and callers sleep until it hands them their result.
  bool callers_run_network = true;
  /// Whether the pool has a thread of its own that runs the network while no caller does.
  /// Default on. Off, the program's event loop drives it instead: it watches
  /// Pool::network_descriptor() and calls Pool::run_network() when that is readable, so that no
  /// thread of the pool's runs at all (the Python package runs the engine so, inside asyncio's
  /// loop). Off requires callers_run_network (blocking calls then run the network themselves).
  bool network_thread = true;
  /// While the pool's own thread runs the network, it polls for this long before it sleeps in
  /// the kernel, so that the next message of a conversation does not wait for a thread to wake.
  /// It costs a core's time while it polls: worth it only with a spare core per party. Default 0
  /// (no polling).
  std::chrono::microseconds poll_before_sleep{0};
  /// Let the process keep some freed memory for reuse: with glibc, sets malloc's mmap threshold to
  /// 32 MiB and its trim threshold to 64 MiB, once per process and only when the environment does
  /// not set MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_, so that encoding messages of up to
  /// 32 MiB reuses memory already mapped instead of page-faulting fresh memory each time; at most
  /// 64 MiB of freed heap stays mapped. (Received bodies have memory of their own, kept at most
  /// 1.25 GiB and 2 s: docs/security.md.) Default on.
  bool retain_freed_memory = true;
};

/// What one send may set differently from the pool's settings (the reference's per-send
/// `max_retries` and `timeout`); unset fields take PoolConfig's.
struct SendOptions {
  std::optional<int> max_retries;
  std::optional<std::chrono::milliseconds> attempt_timeout;
};

}  // namespace tno::mpc::communication
