// The Pool on Boost.Asio/Beast: one io_context runs the server and all deliveries (each a
// coroutine), in a caller that waits for a result or else on the pool's own thread. The mailbox
// (stored messages, waiting receivers, counters, statistics) is shared with user threads under one
// mutex, held only for map operations.
#include "tno/mpc/communication/pool.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <array>
#include <atomic>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cctype>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <functional>
#include <limits>
#include <mutex>
#include <set>
#include <thread>
#include <variant>
#ifdef __GLIBC__
#include <malloc.h>  // mallopt
#endif

#include "tls.hpp"

namespace tno::mpc::communication {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

namespace {

// The level in capitals, as Python's logging prints it ("INFO").
class UpperCaseLevel : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    auto name = spdlog::level::to_string_view(msg.level);
    for (char c : name)
      dest.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<UpperCaseLevel>();
  }
};

std::shared_ptr<spdlog::logger> logger() {
  static auto log = [] {
    auto l = spdlog::get("tno.mpc.communication.httphandlers");
    if (!l) l = spdlog::stderr_color_mt("tno.mpc.communication.httphandlers");
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<UpperCaseLevel>('*').set_pattern("%Y-%m-%d %H:%M:%S,%e - %n - %* - %v");
    l->set_formatter(std::move(formatter));
    return l;
  }();
  return log;
}

// Ints and strs are different ids, as in Python (5 != "5").
std::string id_key(const MessageId& id) {
  return (id.is_str() ? "s:" : "i:") + id.to_string();
}

// The value of the server_port cookie, as text: like the reference, the receiver only compares
// it (in "<ip>:<value>"), so a value that is no port simply matches no peer.
std::optional<std::string> server_port_cookie(std::string_view cookies) {
  // "a=b; server_port=61001; c=d"
  while (!cookies.empty()) {
    auto end = cookies.find(';');
    std::string_view item = cookies.substr(0, end);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.rfind("server_port=", 0) == 0) {
      std::string_view value = item.substr(12);
      // A quoted cookie value is the same value (RFC 6265), as Python's cookie parser reads it.
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return std::string(value);
    }
    if (end == std::string_view::npos) break;
    cookies.remove_prefix(end + 1);
  }
  return std::nullopt;
}

// One message on its way; settled exactly once, by its delivery or by shutdown.
struct Delivery {
  std::string peer;
  std::promise<void> promise;
  std::function<void(std::exception_ptr)> callback;  // instead of the promise, when set
  bool settled = false;
};

// A receive waiting for its message: a promise (blocking users) or a callback (coroutines).
struct Waiter {
  std::promise<std::shared_ptr<const std::string>> promise;
  std::function<void(std::exception_ptr, std::shared_ptr<const std::string>)> callback;
  void complete(std::shared_ptr<const std::string> body) {
    if (callback) {
      callback(nullptr, std::move(body));
    } else {
      promise.set_value(std::move(body));
    }
  }
  void fail(std::exception_ptr error) {
    if (callback) {
      callback(error, nullptr);
    } else {
      promise.set_exception(error);
    }
  }
};

// A client connection to a peer, plain or TLS, kept alive between messages.
struct Connection {
  Connection(asio::io_context& ioc, asio::ssl::context* tls) {
    if (tls != nullptr) {
      secure.emplace(ioc, *tls);
    } else {
      plain.emplace(ioc);
    }
  }
  beast::tcp_stream& tcp() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
  std::optional<beast::tcp_stream> plain;
  std::optional<TlsStream> secure;
  beast::flat_buffer buffer;
};

// Buffers of large received bodies, recycled. A fresh buffer of tens of MiB costs a page fault per
// 4 KiB when it is first written (and glibc serves such sizes from new mappings on threads other
// than the main one, whatever its thresholds), which measured as much as the copy from the
// socket; a recycled one is already mapped. Holds a few buffers; one that is too large, or too
// small to matter, goes back to the allocator.
class BodyCache : public std::enable_shared_from_this<BodyCache> {
 public:
  using Body = std::shared_ptr<const std::string>;

  // A buffer of exactly `length` bytes (contents unspecified: the caller overwrites them).
  std::unique_ptr<std::string> take(std::size_t length) {
    std::unique_ptr<std::string> s;
    {
      std::lock_guard lock(mu_);
      auto best = free_.end();
      for (auto it = free_.begin(); it != free_.end(); ++it) {
        std::size_t cap = (*it)->capacity();
        // Best fit, and never more than twice what is needed.
        if (cap >= length && cap / 2 <= length &&
            (best == free_.end() || cap < (*best)->capacity())) {
          best = it;
        }
      }
      if (best != free_.end()) {
        s = std::move(*best);
        free_.erase(best);
      }
    }
    if (!s) s = std::make_unique<std::string>();
    s->resize(length);  // shrinking a recycled buffer writes nothing
    return s;
  }

  // The shared, immutable body handed to receivers; large ones come back here when released.
  Body wrap(std::unique_ptr<std::string> s) {
    if (s->capacity() < kMinBytes) return Body(s.release());
    std::weak_ptr<BodyCache> cache = weak_from_this();
    return Body(s.release(), [cache](const std::string* body) {
      auto* owned = const_cast<std::string*>(body);
      if (auto c = cache.lock()) {
        c->give(owned);
      } else {
        delete owned;
      }
    });
  }

 private:
  static constexpr std::size_t kMinBytes = std::size_t{1} << 20;
  static constexpr std::size_t kMaxBytes = std::size_t{256} << 20;
  static constexpr std::size_t kMaxBuffers = 4;

  void give(std::string* body) {
    std::unique_ptr<std::string> owned(body);
    if (owned->capacity() > kMaxBytes) return;
    std::lock_guard lock(mu_);
    if (free_.size() < kMaxBuffers) free_.push_back(std::move(owned));
  }

  std::mutex mu_;
  std::vector<std::unique_ptr<std::string>> free_;
};

// The body of one outgoing message: an encoded buffer, or (send_in_place) the encoded envelope
// around bytes that stay in the caller's memory.
struct Outgoing {
  std::shared_ptr<const ByteBuffer> head;  // the whole body, or what precedes `borrowed`
  std::span<const std::byte> borrowed;
  std::shared_ptr<const ByteBuffer> tail;  // what follows `borrowed` (may be null)
  std::shared_ptr<const void> owner;       // keeps `borrowed` alive, when the pool owns it
  std::size_t size() const { return head->size() + borrowed.size() + (tail ? tail->size() : 0); }
};

struct SessionFree {
  void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
};

// One request (header and body as buffers) and its answer on a connection.
template <class Stream, class Buffers>
asio::awaitable<http::response<http::string_body>> exchange(Stream& stream,
                                                            beast::flat_buffer& buffer,
                                                            const Buffers& req) {
  co_await asio::async_write(stream, req, asio::use_awaitable);
  http::response<http::string_body> res;
  co_await http::async_read(stream, buffer, res, asio::use_awaitable);
  co_return res;
}

bool is_ip_address(const std::string& host) {
  beast::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// Client side of a TLS handshake with a peer: SNI for host names, the optional host name check,
// and resumption of the peer's last session when there is one.
void prepare_client_tls(TlsStream& stream, const std::string& host, bool verify_hostname,
                        SSL_SESSION* resume) {
  SSL* ssl = stream.native_handle();
  bool ip = is_ip_address(host);
  if (!ip) SSL_set_tlsext_host_name(ssl, host.c_str());
  if (verify_hostname) {
    // OpenSSL's own check, so that a mismatch is reported as the verification result.
    if (ip) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str());
    } else {
      SSL_set1_host(ssl, host.c_str());
    }
  }
  if (resume != nullptr) SSL_set_session(ssl, resume);
}

// The right to run the network, held by one thread at a time. (A timed mutex would do, but
// ThreadSanitizer does not understand the timed lock of std::timed_mutex.)
class NetworkTurn {
 public:
  using Clock = std::chrono::steady_clock;

  // Holds the turn once it is free, or not if it is not free by `until` (never: wait as needed).
  class Held {
   public:
    Held(NetworkTurn& turn, std::optional<Clock::time_point> until) : turn_(turn) {
      std::unique_lock lock(turn_.mu_);
      auto is_free = [&] { return !turn_.taken_; };
      if (until) {
        held_ = turn_.freed_.wait_until(lock, *until, is_free);
      } else {
        turn_.freed_.wait(lock, is_free);
        held_ = true;
      }
      turn_.taken_ = held_;
    }
    ~Held() {
      if (!held_) return;
      {
        std::lock_guard lock(turn_.mu_);
        turn_.taken_ = false;
      }
      turn_.freed_.notify_one();
    }
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;
    explicit operator bool() const { return held_; }

   private:
    NetworkTurn& turn_;
    bool held_ = false;
  };

 private:
  std::mutex mu_;
  std::condition_variable freed_;
  bool taken_ = false;
};

}  // namespace

struct Pool::Impl {
  struct Peer {
    std::string name;
    std::string host;
    std::uint16_t port = 0;
    tcp::endpoint endpoint;
    std::string certificate_identity;  // set when the peer is known by its certificate
    std::unique_ptr<SSL_SESSION, SessionFree> tls_session;  // io thread only
    std::uint64_t send_counter = 0;
    std::uint64_t recv_counter = 0;
    std::size_t stored_bytes = 0;  // of its messages stored and not yet received
    TrafficStatistics traffic;
    std::vector<std::unique_ptr<Connection>> idle;                      // io thread only
    std::size_t in_flight = 0;                                          // io thread only
    std::deque<std::pair<Outgoing, std::shared_ptr<Delivery>>> queued;  // io thread only
  };
  using Key = std::pair<std::string, std::string>;  // (peer, id key)

  explicit Impl(const PoolConfig& c)
      : config(c),
        tls(c.tls ? detail::make_tls_context(*c.tls) : nullptr),
        work(asio::make_work_guard(ioc)) {
    thread = std::thread([this] { run_network(); });
  }

  using Clock = std::chrono::steady_clock;
  // How long a thread runs the network before it looks again whether another should.
  static constexpr Clock::duration kSlice = std::chrono::milliseconds(20);
  // How long after a caller stopped waiting the network thread leaves the network to callers.
  static constexpr Clock::duration kCallerGrace = std::chrono::milliseconds(1);

  // Who runs the network (see PoolConfig::callers_run_network): a thread that waits in a call
  // (send, recv, ...) runs it itself, so that what it waits for completes in its own thread
  // instead of costing a wake-up and a context switch per hand-off (two per message each way);
  // the pool's thread runs it only while no caller has been waiting for kCallerGrace, so that
  // messages are served and asends go out while the application computes. The thread that runs the
  // network holds `turn`; the data marked "io thread only" is the holder's.
  void run_network() {
    while (!ioc.stopped()) {
      if (config.callers_run_network && callers_active()) {
        std::unique_lock lock(park_mu);
        parked.wait_for(lock, kCallerGrace);  // shutdown notifies
        continue;
      }
      NetworkTurn::Held held(turn, Clock::now() + kSlice);
      if (!held || ioc.stopped()) continue;
      run_network_once();
    }
  }

  // Handles what is ready, or waits up to kSlice for one event. With poll_before_sleep it keeps
  // polling that long before it sleeps in the kernel: waking a sleeping thread (and, on a virtual
  // machine, its idle core) costs tens of microseconds.
  void run_network_once() {
    const auto window = config.poll_before_sleep;
    if (window.count() <= 0) {
      ioc.run_one_for(kSlice);
      return;
    }
    std::size_t handled = ioc.poll();
    const auto until = Clock::now() + window;
    while (handled == 0 && !ioc.stopped() && Clock::now() < until) handled = ioc.poll();
    if (handled == 0 && !ioc.stopped()) ioc.run_one_for(kSlice);
  }

  bool callers_active() const {
    return callers_waiting.load() > 0 ||
           Clock::now() - Clock::time_point(Clock::duration(caller_left.load())) < kCallerGrace;
  }

  // Waits until `done()` or `deadline`; returns done(). The waiting thread runs the network
  // meanwhile (unless callers_run_network is off: then `wait_for_network_thread(deadline)`
  // waits); a deadline already passed still handles what is ready.
  template <class Done, class Wait>
  bool run_network_until(Done done, std::optional<Clock::time_point> deadline,
                         Wait wait_for_network_thread) {
    if (!config.callers_run_network) return wait_for_network_thread(deadline);
    ++callers_waiting;
    struct Leave {
      Impl& impl;
      ~Leave() {
        impl.caller_left.store(Clock::now().time_since_epoch().count());
        --impl.callers_waiting;
      }
    } leave{*this};
    for (;;) {
      if (done()) return true;
      auto now = Clock::now();
      bool last = deadline && now >= *deadline;
      Clock::duration slice = deadline ? std::min(kSlice, *deadline - now) : kSlice;
      // Another thread runs the network now; it lets go after the event at hand (which may be
      // the one this caller waits for).
      if (NetworkTurn::Held held(turn, now + (last ? Clock::duration(0) : slice)); held) {
        if (ioc.stopped()) return wait_for_network_thread(deadline);  // shut down: all settled
        if (last) {
          ioc.poll();
        } else {
          ioc.run_one_for(slice);
        }
      }
      if (last) return done();
    }
  }

  template <class T>
  bool wait_ready(const std::future<T>& result, std::optional<Clock::time_point> deadline) {
    auto ready = [&] {
      return result.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    };
    return run_network_until(ready, deadline, [&](std::optional<Clock::time_point> until) {
      if (!until) {
        result.wait();
        return true;
      }
      return result.wait_until(*until) == std::future_status::ready;
    });
  }

  PoolConfig config;
  std::unique_ptr<asio::ssl::context> tls;  // null for plain HTTP
  std::shared_ptr<BodyCache> bodies = std::make_shared<BodyCache>();
  // Open server connections per source IP (io thread only). Before the io_context: the sessions
  // that count themselves here end when it is destroyed.
  std::map<std::string, std::size_t> connections_from;
  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::thread thread;
  NetworkTurn turn;  // held by the thread running the network (see run_network)
  std::atomic<int> callers_waiting{0};
  std::atomic<Clock::rep> caller_left{0};  // when a waiting caller last returned
  std::mutex park_mu;
  std::condition_variable parked;  // the network thread, while callers run the network
  std::optional<tcp::acceptor> acceptor;
  std::uint16_t port = 0;

  mutable std::mutex mu;
  std::condition_variable sends_done;
  std::vector<std::unique_ptr<Peer>> peers;
  std::map<std::string, Peer*, std::less<>> by_name;
  std::map<std::string, Peer*, std::less<>> by_identity;     // "<ip>:<port>"
  std::map<std::string, Peer*, std::less<>> by_certificate;  // "<issuer first RDN>:<serial>"
  std::string prefix;
  std::map<Key, Body> stored;
  std::map<Key, std::shared_ptr<Waiter>> waiting;
  std::size_t pending_sends = 0;
  std::set<std::shared_ptr<Delivery>> deliveries;  // not yet settled
  bool stopping = false;
  std::optional<Statistics> final_statistics;

  Peer& peer(std::string_view name) {
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      throw ConfigurationError("unknown peer '" + std::string(name) +
                               "': add it with add_http_client first");
    }
    return *it->second;
  }

  Statistics statistics_locked() const {
    Statistics s;
    for (const auto& p : peers) {
      s.peers[p->name] = p->traffic;
      s.total.messages_sent += p->traffic.messages_sent;
      s.total.bytes_sent += p->traffic.bytes_sent;
      s.total.messages_received += p->traffic.messages_received;
      s.total.bytes_received += p->traffic.bytes_received;
      s.total.connections_opened += p->traffic.connections_opened;
      s.total.tls_sessions_resumed += p->traffic.tls_sessions_resumed;
    }
    return s;
  }

  // ---- receiving ----------------------------------------------------------------------------

  using Response = http::response<http::string_body>;

  Response answer(const http::request<http::string_body>& req, http::status status,
                  std::string text) {
    Response res{status, req.version()};
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.keep_alive(req.keep_alive() && status != http::status::internal_server_error);
    res.body() = std::move(text);
    res.prepare_payload();
    return res;
  }

  // Who sent a request: the peer's name, and what identified it (for the log).
  struct Sender {
    std::string name;
    std::string identity;
    // Over max_stored_bytes_per_peer, let in only because the application waits for a message
    // from this peer: accepted if it is that message.
    bool over_limit = false;
  };

  bool awaits_message_from(const std::string& peer) const {  // under mu
    auto it = waiting.lower_bound(Key{peer, ""});
    return it != waiting.end() && it->first.first == peer;
  }

  // 503: no room among the bytes stored for `peer` (under mu).
  Response no_room(const http::request<http::string_body>& req, const Peer& peer,
                   std::uint64_t body_bytes) {
    logger()->warn(
        "Refused (for now) a message of {} bytes from {}: {} bytes from it wait to be received",
        body_bytes, peer.name, peer.stored_bytes);
    Response res = answer(req, http::status::service_unavailable,
                          std::to_string(peer.stored_bytes) + " bytes from " + peer.name +
                              " wait to be received; send this message again later");
    res.set(http::field::retry_after, "1");
    return res;
  }

  // What can be decided on a request's header alone, before its body is read: the answer to a
  // GET or another method, a missing cookie, an unknown sender, no room for the body among the
  // bytes stored for the sender. Otherwise the sender. `certificate` is the identity key of the
  // client's certificate (TLS), else empty.
  std::variant<Sender, Response> screen(const http::request<http::string_body>& req,
                                        const std::string& remote_ip,
                                        const std::string& certificate, std::uint64_t body_bytes) {
    if (req.method() == http::verb::get) {
      return answer(req, http::status::ok, "Connection working (GET)");
    }
    if (req.method() != http::verb::post) {
      return answer(req, http::status::method_not_allowed, "Only GET and POST are served");
    }
    auto cookie_port = server_port_cookie(req[http::field::cookie]);
    if (!cookie_port) {
      return answer(req, http::status::bad_request,
                    "Missing server_port cookie: every message names its sender's server port");
    }
    // The certificate identifies the sender when it names a peer (the cookie is then only
    // required, as by the reference); otherwise the address and the cookie do.
    std::string address = remote_ip + ":" + *cookie_port;
    std::lock_guard lock(mu);
    Peer* peer = nullptr;
    std::string identity;
    auto by_cert = certificate.empty() ? by_certificate.end() : by_certificate.find(certificate);
    if (by_cert != by_certificate.end()) {
      peer = by_cert->second;
      identity = certificate;
    } else if (auto it = by_identity.find(address); it != by_identity.end()) {
      peer = it->second;
      identity = address;
    } else {
      std::string who = certificate.empty() ? address : certificate + " or " + address;
      logger()->warn("Refused message from unknown sender {}", who);
      return answer(req, http::status::unauthorized, "Unknown sender " + who);
    }
    bool over_limit = peer->stored_bytes > 0 &&
                      peer->stored_bytes + body_bytes > config.max_stored_bytes_per_peer;
    if (over_limit && !awaits_message_from(peer->name)) return no_room(req, *peer, body_bytes);
    return Sender{peer->name, identity, over_limit};
  }

  // A request from `from` (screened) with its body: `read_body` when given (read outside the
  // parser), else the request's.
  Response handle(http::request<http::string_body>&& req, const Sender& from,
                  std::unique_ptr<std::string> read_body = nullptr) {
    const std::string& sender = from.name;
    if (!read_body) read_body = std::make_unique<std::string>(std::move(req.body()));
    Body body = bodies->wrap(std::move(read_body));
    std::optional<MessageId> id;
    try {
      // One validating pass over the payload: its structure, not its values (decoded in recv).
      Reader r(as_bytes(*body), config.decode_limits);
      if (config.wire_format == WireFormat::v5) {
        id = detail::read_envelope(
            r,
            [](Reader& reader, void*) {
              Reader inner(detail::read_wrapped_payload(reader), reader.limits());
              inner.skip();
              if (!inner.at_end()) inner.fail("trailing bytes after the wrapped object");
            },
            nullptr);
      } else {
        id = detail::read_envelope(
            r, [](Reader& reader, void*) { reader.skip(); }, nullptr);
      }
      if (!r.at_end()) r.fail("trailing bytes after the message");
    } catch (const SerializationError& e) {
      logger()->warn("Refused undecodable message from {}: {}", sender, e.what());
      return answer(req, http::status::internal_server_error,
                    std::string("Message could not be decoded: ") + e.what());
    }
    Key key{sender, id_key(*id)};
    std::shared_ptr<Waiter> waiter;
    {
      std::lock_guard lock(mu);
      if (auto it = stored.find(key); it != stored.end()) {
        if (*it->second == *body) {
          return answer(req, http::status::ok, "Message received");  // a resend: stored once
        }
        logger()->error("Refused a second, different message from {} with id {}", sender,
                        id->to_string());
        return answer(req, http::status::conflict,
                      "A different message with id " + id->to_string() + " from " + sender +
                          " is waiting to be received");
      }
      Peer& p = *by_name.at(sender);
      if (from.over_limit && !waiting.contains(key)) return no_room(req, p, body->size());
      p.traffic.messages_received += 1;
      p.traffic.bytes_received += body->size();
      if (auto it = waiting.find(key); it != waiting.end()) {
        waiter = std::move(it->second);
        waiting.erase(it);
      } else {
        stored.emplace(key, body);
        p.stored_bytes += body->size();
      }
    }
    if (waiter) waiter->complete(body);
    logger()->info("Received message from {}", from.identity);
    return answer(req, http::status::ok, "Message received");
  }

  http::response<http::string_body> refusal(http::status status, std::string text) {
    http::response<http::string_body> res{status, 11};
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = std::move(text);
    res.keep_alive(false);
    res.prepare_payload();
    return res;
  }

  // Bodies from this size on are read without the parser (see serve).
  static constexpr std::size_t kDirectBodyBytes = 64 * 1024;

  // Fills `body` (sized to the body's length): first what the header read left in `buffer`, then
  // the rest from the stream in one asynchronous read (64 KiB per system call).
  template <class Stream>
  asio::awaitable<std::pair<beast::error_code, bool>> read_body_directly(Stream& stream,
                                                                         beast::flat_buffer& buffer,
                                                                         std::string& body) {
    std::size_t have = std::min<std::size_t>(buffer.size(), body.size());
    asio::buffer_copy(asio::buffer(body.data(), have), buffer.data());
    buffer.consume(have);
    auto [ec, n] =
        co_await asio::async_read(stream, asio::buffer(body.data() + have, body.size() - have),
                                  asio::as_tuple(asio::use_awaitable));
    co_return std::pair{ec, !ec && have + n == body.size()};
  }

  // The answer to a request that could not be read: not HTTP, a header or body over its limit.
  Response unreadable(const beast::error_code& ec) {
    if (ec == http::error::body_limit) {
      return refusal(http::status::payload_too_large,
                     "Message larger than " + std::to_string(config.max_body_bytes) + " bytes");
    }
    if (ec == http::error::header_limit) {
      return refusal(
          http::status::request_header_fields_too_large,
          "Request header larger than " + std::to_string(config.max_header_bytes) + " bytes");
    }
    return refusal(http::status::bad_request, "Bad request (" + ec.message() + ")");
  }

  // Requests on one connection, answered in order, until the client closes it or an error.
  template <class Stream>
  asio::awaitable<void> serve(Stream& stream, beast::flat_buffer& buffer,
                              const std::string& remote_ip, const std::string& certificate) {
    auto& tcp_stream = beast::get_lowest_layer(stream);
    auto reply = [&](Response& res) {
      return http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
    };
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(config.max_body_bytes);
      parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(
          config.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
      tcp_stream.expires_after(config.idle_timeout);
      auto [header_ec, header_bytes] = co_await http::async_read_header(
          stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
      if (header_ec == http::error::end_of_stream || header_ec == http::error::partial_message) {
        break;
      }
      if (header_ec &&
          header_ec.category() == http::make_error_code(http::error::bad_method).category()) {
        // Not HTTP, or too big: say so (a client that is waiting then fails clearly) and close.
        if (buffer.size() > 0 &&
            static_cast<unsigned char>(*static_cast<const char*>(buffer.data().data())) == 0x16) {
          logger()->warn(
              "A TLS client at {} connected to this plain-HTTP server; it cannot be served "
              "unless this pool is made with a TlsConfig",
              remote_ip);
        }
        auto res = unreadable(header_ec);
        co_await reply(res);
        break;
      }
      if (header_ec) break;  // timed out, reset, closed
      auto length = parser.content_length();
      auto verdict = screen(parser.get(), remote_ip, certificate, length.value_or(0));
      if (auto* early = std::get_if<Response>(&verdict)) {
        // Answered on the header alone; a body that was not read ends the connection.
        if (!parser.is_done()) early->keep_alive(false);
        auto [write_ec, m] = co_await reply(*early);
        if (write_ec || !early->keep_alive()) break;
        continue;
      }
      const Sender& sender = std::get<Sender>(verdict);
      tcp_stream.expires_after(config.attempt_timeout);
      Response res;
      if (length && *length >= kDirectBodyBytes) {
        // A large body of known length goes straight from the socket into its final buffer,
        // instead of through the parser's buffer and a copy.
        http::request<http::string_body> req = parser.release();
        req.body() = std::string();  // drop the parser's reservation: a recycled buffer is used
        auto body = bodies->take(static_cast<std::size_t>(*length));
        auto [body_ec, ok] = co_await read_body_directly(stream, buffer, *body);
        if (body_ec || !ok) break;
        res = handle(std::move(req), sender, std::move(body));
      } else {
        auto [body_ec, body_bytes] =
            co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
        if (body_ec == http::error::end_of_stream || body_ec == http::error::partial_message) break;
        if (body_ec &&
            body_ec.category() == http::make_error_code(http::error::bad_method).category()) {
          auto refused = unreadable(body_ec);
          co_await reply(refused);
          break;
        }
        if (body_ec) break;
        res = handle(parser.release(), sender);
      }
      auto [write_ec, m] = co_await reply(res);
      if (write_ec || !res.keep_alive()) break;
    }
  }

  // Counts a server connection against its source address while it lives.
  struct SourceSlot {
    SourceSlot(Impl& owner, std::string address) : impl(owner), ip(std::move(address)) {
      count = ++impl.connections_from[ip];
    }
    ~SourceSlot() {
      if (--impl.connections_from[ip] == 0) impl.connections_from.erase(ip);
    }
    SourceSlot(const SourceSlot&) = delete;
    SourceSlot& operator=(const SourceSlot&) = delete;
    Impl& impl;
    std::string ip;
    std::size_t count;
  };

  asio::awaitable<void> session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::error_code ec;
    std::string remote_ip = stream.socket().remote_endpoint(ec).address().to_string();
    SourceSlot slot(*this, remote_ip);
    if (slot.count > config.max_connections_per_source) {
      logger()->warn("Refused a connection from {}: it has {} open already (the limit)", remote_ip,
                     config.max_connections_per_source);
      if (!tls) {
        // Plain HTTP can be told why; a TLS client is simply closed on (it retries either way).
        auto res = refusal(http::status::service_unavailable,
                           "Too many connections from " + remote_ip + "; try again later");
        res.set(http::field::retry_after, "1");
        stream.expires_after(std::chrono::seconds(2));
        co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
      }
      stream.socket().shutdown(tcp::socket::shutdown_both, ec);
      co_return;
    }
    beast::flat_buffer buffer;
    buffer.reserve(64 * 1024);  // an empty flat_buffer reads 512 bytes at a time
    if (!tls) {
      co_await serve(stream, buffer, remote_ip, "");
      stream.socket().shutdown(tcp::socket::shutdown_both, ec);
      co_return;
    }
    stream.expires_after(config.idle_timeout);  // for the first bytes and the whole handshake
    auto [detect_ec, is_tls] =
        co_await beast::async_detect_ssl(stream, buffer, asio::as_tuple(asio::use_awaitable));
    if (detect_ec) co_return;
    if (!is_tls) {
      // A plain-HTTP client: answer it in its own protocol so that it fails clearly.
      logger()->warn("Refused a plain-HTTP connection from {}: this server speaks HTTPS only",
                     remote_ip);
      http::request_parser<http::string_body> parser;
      parser.body_limit(config.max_body_bytes);
      co_await http::async_read_header(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
      auto res = refusal(http::status::bad_request,
                         "This party serves HTTPS only: give the sending pool a TLS key, "
                         "certificate and CA bundle");
      co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
      stream.socket().shutdown(tcp::socket::shutdown_both, ec);
      co_return;
    }
    TlsStream secure(std::move(stream), *tls);
    auto [handshake_ec, used] = co_await secure.async_handshake(
        asio::ssl::stream_base::server, buffer.data(), asio::as_tuple(asio::use_awaitable));
    if (handshake_ec) {
      logger()->warn("Refused a TLS connection from {}: {}", remote_ip,
                     detail::explain_tls_failure(handshake_ec, secure.native_handle()));
      // OpenSSL has sent its alert. Under TLS 1.3 the client finished its side of the handshake
      // already and is sending its request; closing at once would answer that with a reset that
      // destroys the alert before the client reads it. Half-close and drain briefly instead, so
      // that the client learns why.
      beast::get_lowest_layer(secure).socket().shutdown(tcp::socket::shutdown_send, ec);
      beast::get_lowest_layer(secure).expires_after(std::chrono::seconds(2));
      char sink[4096];
      for (;;) {
        auto [drain_ec, n] = co_await beast::get_lowest_layer(secure).async_read_some(
            asio::buffer(sink), asio::as_tuple(asio::use_awaitable));
        if (drain_ec) break;
      }
      co_return;
    }
    buffer.consume(used);
    co_await serve(secure, buffer, remote_ip, detail::peer_identity(secure.native_handle()));
    beast::get_lowest_layer(secure).socket().shutdown(tcp::socket::shutdown_both, ec);
  }

  asio::awaitable<void> accept_loop() {
    while (acceptor && acceptor->is_open()) {
      auto [ec, socket] = co_await acceptor->async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (ec == asio::error::operation_aborted) break;
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      asio::co_spawn(ioc, session(std::move(socket)), asio::detached);
    }
  }

  // ---- sending ------------------------------------------------------------------------------

  // Registers a delivery and hands it to the network thread.
  std::future<void> start(const std::string& peer_name, Outgoing body,
                          std::function<void(std::exception_ptr)> callback) {
    auto done = std::make_shared<Delivery>();
    done->peer = peer_name;
    done->callback = std::move(callback);
    auto result = done->promise.get_future();
    Peer* p;
    {
      std::lock_guard lock(mu);
      if (stopping) throw DeliveryError("the pool is shut down; nothing can be sent");
      p = &peer(peer_name);
      ++pending_sends;
      deliveries.insert(done);
    }
    asio::post(ioc, [this, p, body = std::move(body), done]() mutable {
      launch(p, std::move(body), std::move(done));
    });
    return result;
  }

  // Starts a delivery, or queues it while the peer has max_connections_per_peer in flight, so
  // that a burst of asends does not open a connection each. Runs on the io thread.
  void launch(Peer* p, Outgoing body, std::shared_ptr<Delivery> done) {
    if (p->in_flight >= config.max_connections_per_peer) {
      p->queued.emplace_back(std::move(body), std::move(done));
      return;
    }
    ++p->in_flight;
    asio::co_spawn(ioc, deliver(p, std::move(body), done), [this, p, done](std::exception_ptr e) {
      if (e) settle(done, e);
      --p->in_flight;
      if (!p->queued.empty()) {
        auto [next_body, next_done] = std::move(p->queued.front());
        p->queued.pop_front();
        launch(p, std::move(next_body), std::move(next_done));
      }
      std::lock_guard lock(mu);
      --pending_sends;
      sends_done.notify_all();
    });
  }

  void settle(const std::shared_ptr<Delivery>& d, std::exception_ptr error) {
    {
      std::lock_guard lock(mu);
      if (d->settled) return;
      d->settled = true;
      deliveries.erase(d);
    }
    if (d->callback) {
      d->callback(error);
    } else if (error) {
      d->promise.set_exception(error);
    } else {
      d->promise.set_value();
    }
  }

  asio::awaitable<void> deliver(Peer* peer, Outgoing body, std::shared_ptr<Delivery> done) {
    // The request as the reference's client sends it: header and body in one gather write.
    const std::string header =
        "POST / HTTP/1.1\r\nHost: " + peer->host + ":" + std::to_string(peer->port) +
        "\r\nContent-Type: application/octet-stream\r\nCookie: "
        "server_port=" +
        std::to_string(port) + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    const std::array<asio::const_buffer, 4> req{
        asio::buffer(header), asio::buffer(body.head->data(), body.head->size()),
        asio::buffer(body.borrowed.data(), body.borrowed.size()),
        body.tail ? asio::buffer(body.tail->data(), body.tail->size()) : asio::const_buffer()};

    int failures = 0;
    std::string last_error;
    for (;;) {
      bool reused = !peer->idle.empty();
      bool fresh_tls = false;  // a new TLS connection whose handshake completed
      bool broken = false;     // the connection failed after connecting
      std::unique_ptr<Connection> conn;
      try {
        if (reused) {
          conn = std::move(peer->idle.back());
          peer->idle.pop_back();
        } else {
          conn = std::make_unique<Connection>(ioc, tls.get());
          conn->tcp().expires_after(config.attempt_timeout);
          co_await conn->tcp().async_connect(peer->endpoint, asio::use_awaitable);
          conn->tcp().socket().set_option(tcp::no_delay(true));
          if (conn->secure) {
            prepare_client_tls(*conn->secure, peer->host, config.tls->verify_hostname,
                               peer->tls_session.get());
            co_await conn->secure->async_handshake(asio::ssl::stream_base::client,
                                                   asio::use_awaitable);
            fresh_tls = true;
          }
          std::lock_guard lock(mu);
          peer->traffic.connections_opened += 1;
          if (conn->secure && SSL_session_reused(conn->secure->native_handle()) == 1) {
            peer->traffic.tls_sessions_resumed += 1;
          }
        }
        conn->tcp().expires_after(config.attempt_timeout);
        http::response<http::string_body> res;
        if (conn->secure) {
          res = co_await exchange(*conn->secure, conn->buffer, req);
          // A TLS 1.3 server sends its session tickets after the handshake, so the session is
          // worth keeping only once an answer has been read.
          if (!reused) remember_session(*peer, conn->secure->native_handle());
        } else {
          res = co_await exchange(*conn->plain, conn->buffer, req);
        }
        if (res.result() == http::status::ok) {
          if (res.keep_alive()) peer->idle.push_back(std::move(conn));
          {
            std::lock_guard lock(mu);
            peer->traffic.messages_sent += 1;
            peer->traffic.bytes_sent += body.size();
          }
          settle(done, nullptr);
          co_return;
        }
        last_error = "peer answered " + std::to_string(res.result_int()) + " " + res.body();
        logger()->warn("Message to {} not received: {}", peer->name, last_error);
        // Retrying cannot change these answers: a malformed request (or a plain request to an
        // HTTPS server), a conflicting id, a body over the peer's limit.
        if (res.result() == http::status::bad_request || res.result() == http::status::conflict ||
            res.result() == http::status::payload_too_large) {
          ++failures;
          break;
        }
      } catch (const boost::system::system_error& e) {
        if (detail::is_final_tls_failure(e.code())) {
          // Certificates and protocol mismatches do not heal by retrying (the reference raises).
          last_error = detail::explain_tls_failure(
              e.code(), conn && conn->secure ? conn->secure->native_handle() : nullptr);
          settle(done, std::make_exception_ptr(DeliveryError(
                           "cannot deliver a message to '" + peer->name + "' (" + peer->host + ":" +
                           std::to_string(peer->port) + ") over TLS: " + last_error)));
          co_return;
        }
        last_error = e.what();
        broken = fresh_tls;
        // A kept-alive connection that the server closed meanwhile: reconnect at once.
        if (reused) continue;
      } catch (const std::exception& e) {
        last_error = e.what();
        if (reused) continue;
      }
      if (broken) {
        // Under TLS 1.3 a server judges our certificate after our side of the handshake is
        // done; one that then closes at once (Python's does) resets the connection before its
        // alert can be read. A TLS 1.2 handshake, where the judgement is part of the handshake,
        // tells a refusal from a connection that merely broke.
        std::string refusal = co_await probe_certificate_refusal(*peer);
        if (!refusal.empty()) {
          settle(done, std::make_exception_ptr(DeliveryError(
                           "cannot deliver a message to '" + peer->name + "' (" + peer->host + ":" +
                           std::to_string(peer->port) + ") over TLS: " + refusal)));
          co_return;
        }
      }
      ++failures;
      logger()->debug("Message to {} not delivered (attempt {}): {}", peer->name, failures,
                      last_error);
      bool stop;
      {
        std::lock_guard lock(mu);
        stop = stopping;
      }
      if (stop || (config.max_retries >= 0 && failures > config.max_retries)) break;
      asio::steady_timer timer(ioc, config.retry_delay);
      co_await timer.async_wait(asio::use_awaitable);
    }
    settle(done, std::make_exception_ptr(
                     DeliveryError("could not deliver a message to '" + peer->name + "' (" +
                                   peer->host + ":" + std::to_string(peer->port) + ") after " +
                                   std::to_string(failures) + " failed attempts: " + last_error)));
  }

  // A TLS 1.2 handshake with the peer: the explanation when the peer refuses our certificate in
  // it, else empty (accepted, unreachable, or no TLS 1.2: nothing learned).
  asio::awaitable<std::string> probe_certificate_refusal(Peer& peer) {
    Connection probe(ioc, tls.get());
    SSL_set_max_proto_version(probe.secure->native_handle(), TLS1_2_VERSION);
    prepare_client_tls(*probe.secure, peer.host, config.tls->verify_hostname, nullptr);
    probe.tcp().expires_after(config.attempt_timeout);
    auto [connect_ec] =
        co_await probe.tcp().async_connect(peer.endpoint, asio::as_tuple(asio::use_awaitable));
    if (connect_ec) co_return "";
    auto [handshake_ec] = co_await probe.secure->async_handshake(
        asio::ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
    if (handshake_ec && detail::is_certificate_refusal(handshake_ec)) {
      co_return detail::explain_tls_failure(handshake_ec, probe.secure->native_handle());
    }
    // Python's asyncio server sends no alert at all: it drops the connection when it distrusts
    // the certificate. Dropped again at the same point of a second handshake, that is a refusal.
    if (handshake_ec == asio::ssl::error::stream_truncated || handshake_ec == asio::error::eof ||
        handshake_ec == asio::error::connection_reset) {
      co_return "it closed the connection on receiving our certificate, twice, without saying "
                "why (a Python party does so when it does not trust a certificate): is our "
                "certificate issued by a CA in its bundle, and valid?";
    }
    co_return "";
  }

  // Keeps the session of a new TLS connection, so that the next connection to the peer resumes
  // it (an abbreviated handshake) instead of a full one.
  static void remember_session(Peer& peer, SSL* ssl) {
    if (SSL_session_reused(ssl) == 1 && peer.tls_session) return;
    SSL_SESSION* session = SSL_get1_session(ssl);
    if (session != nullptr && SSL_SESSION_is_resumable(session) == 1) {
      peer.tls_session.reset(session);
    } else if (session != nullptr) {
      SSL_SESSION_free(session);
    }
  }
};

void set_log_level(std::string_view level) {
  logger()->set_level(spdlog::level::from_str(std::string(level)));
}

namespace {
// See PoolConfig::retain_freed_memory. Process-wide, so done once, and never against the user's
// own settings in the environment.
void retain_freed_memory() {
#ifdef __GLIBC__
  static std::once_flag once;
  std::call_once(once, [] {
    if (std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr ||
        std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr) {
      return;
    }
    // Buffers below 512 MiB come from the heap (not fresh mappings), and up to 1 GiB of freed
    // heap stays mapped for the next message.
    mallopt(M_MMAP_THRESHOLD, 512 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_TOP_PAD, 64 << 20);
  });
#endif
}
}  // namespace

Pool::Pool(PoolConfig config) : config_(config), impl_(std::make_unique<Impl>(config_)) {
  if (config_.retain_freed_memory) retain_freed_memory();
}

Pool::~Pool() {
  try {
    shutdown(std::chrono::seconds(0));
  } catch (...) {
    // A destructor must not throw; shutdown() reports problems to callers that ask.
  }
}

namespace {
std::uint16_t default_port(bool tls) {
  return tls ? 443 : 80;
}

// The id of a message sent or received without one: the peer's counter, as an int (4.x) or as
// its decimal str (5.x).
MessageId default_id(std::int64_t counter, WireFormat format) {
  return format == WireFormat::v5 ? MessageId(std::to_string(counter)) : MessageId(counter);
}
}  // namespace

std::uint16_t Pool::add_http_server(std::optional<std::uint16_t> requested_port,
                                    const std::string& addr) {
  if (impl_->acceptor) throw ConfigurationError("this pool has a server already");
  std::uint16_t port = requested_port.value_or(default_port(impl_->tls != nullptr));
  beast::error_code ec;
  auto address = asio::ip::make_address(addr, ec);
  if (ec) throw ConfigurationError("cannot serve on '" + addr + "': not an IP address");
  tcp::acceptor acceptor(impl_->ioc);
  tcp::endpoint endpoint(address, port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw ConfigurationError("cannot serve on " + addr + ":" + std::to_string(port) + ": " +
                             ec.message());
  }
  impl_->port = acceptor.local_endpoint().port();
  impl_->acceptor.emplace(std::move(acceptor));
  asio::co_spawn(impl_->ioc, impl_->accept_loop(), asio::detached);
  logger()->info("Serving on {}:{}{}", addr, impl_->port, impl_->tls ? " with TLS" : "");
  return impl_->port;
}

std::uint16_t Pool::port() const noexcept {
  return impl_->port;
}

bool Pool::uses_tls() const noexcept {
  return impl_->tls != nullptr;
}

void Pool::add_http_client(const std::string& name, const std::string& addr,
                           std::optional<std::uint16_t> requested_port,
                           std::optional<std::string> cert) {
  std::uint16_t port = requested_port.value_or(default_port(impl_->tls != nullptr));
  std::string certificate_identity;
  if (cert) {
    if (!impl_->tls) {
      throw ConfigurationError("peer '" + name +
                               "' is given a certificate, but this pool has no "
                               "TLS: certificates identify peers only over TLS (PoolConfig::tls)");
    }
    CertificateInfo info = read_certificate(*cert);
    if (!info.issuer_starts_with_cn) {
      // The reference registers such a peer under its issuer's CN but looks arriving messages up
      // under the issuer's first RDN, so it would refuse every message (docs/tls.md).
      throw ConfigurationError(
          "the certificate '" + *cert + "' of peer '" + name + "' has an issuer (" + info.issuer +
          ") whose first RDN is not its common name; peers are identified by '<first RDN of the "
          "issuer>:<serial>', so such a certificate cannot identify a peer: use an issuing CA "
          "whose name starts with CN=");
    }
    certificate_identity = info.identity;
  }
  tcp::resolver resolver(impl_->ioc);
  beast::error_code ec;
  auto results = resolver.resolve(addr, std::to_string(port), ec);
  if (ec || results.empty()) {
    throw ConfigurationError("cannot resolve the address '" + addr + "' of peer '" + name +
                             "': " + ec.message());
  }
  tcp::endpoint endpoint = results.begin()->endpoint();
  for (const auto& r : results) {
    if (r.endpoint().address().is_v4()) {
      endpoint = r.endpoint();
      break;
    }
  }
  auto peer = std::make_unique<Impl::Peer>();
  peer->name = name;
  peer->host = addr;
  peer->port = port;
  peer->endpoint = endpoint;
  peer->certificate_identity = certificate_identity;
  std::string identity = endpoint.address().to_string() + ":" + std::to_string(port);
  std::lock_guard lock(impl_->mu);
  if (impl_->by_name.contains(name)) {
    throw ConfigurationError("a peer named '" + name + "' exists already");
  }
  if (!certificate_identity.empty()) {
    // Known by its certificate only (as the reference 4.8.1): its address no longer matters.
    auto [it, added] = impl_->by_certificate.emplace(certificate_identity, peer.get());
    if (!added) {
      throw ConfigurationError("peer '" + it->second->name + "' has the certificate identity " +
                               certificate_identity + " already; each peer needs its own");
    }
  } else {
    impl_->by_identity.emplace(identity, peer.get());
  }
  impl_->by_name.emplace(name, peer.get());
  impl_->peers.push_back(std::move(peer));
}

std::vector<std::string> Pool::peers() const {
  std::lock_guard lock(impl_->mu);
  std::vector<std::string> names;
  for (const auto& p : impl_->peers) names.push_back(p->name);
  return names;
}

MessageId Pool::next_send_id(const std::string& peer, const std::optional<MessageId>& id) {
  std::lock_guard lock(impl_->mu);
  auto& p = impl_->peer(peer);
  auto counter = static_cast<std::int64_t>(p.send_counter++);
  MessageId out = id ? *id : default_id(counter, config_.wire_format);
  return impl_->prefix.empty() ? out : out.with_prefix(impl_->prefix);
}

std::future<void> Pool::send_bytes(const std::string& peer,
                                   std::shared_ptr<const ByteBuffer> body) {
  return start_delivery(peer, std::move(body), nullptr);
}

void Pool::send_bytes_then(const std::string& peer, std::shared_ptr<const ByteBuffer> body,
                           std::function<void(std::exception_ptr)> done) {
  start_delivery(peer, std::move(body), std::move(done));
}

std::future<void> Pool::start_delivery(const std::string& peer,
                                       std::shared_ptr<const ByteBuffer> body,
                                       std::function<void(std::exception_ptr)> callback) {
  return impl_->start(peer, Outgoing{std::move(body), {}, nullptr, nullptr}, std::move(callback));
}

std::future<void> Pool::send_in_place(const std::string& peer, const MessageId& id,
                                      std::span<const std::byte> bytes,
                                      std::shared_ptr<const void> owner) {
  if (bytes.size() > 0xffffffffu)
    throw SerializationError("bytes longer than 4 GiB cannot be sent");
  auto n = static_cast<std::uint32_t>(bytes.size());
  auto head = std::make_shared<ByteBuffer>();
  Writer w(*head);
  w.write_map_header(2);
  w.write_str("object");
  ByteBuffer bin_header;
  Writer(bin_header).write_bin_header(n);
  if (config_.wire_format == WireFormat::v5) {
    // 5.x: the packed payload (a bin) inside a bin.
    w.write_bin_header(static_cast<std::uint32_t>(bin_header.size() + n));
  }
  w.write_raw(bin_header.view());
  auto tail = std::make_shared<ByteBuffer>();
  Writer t(*tail);
  t.write_str("id");
  encode_to(t, id);
  return impl_->start(peer, Outgoing{std::move(head), bytes, std::move(tail), std::move(owner)},
                      nullptr);
}

std::future<Pool::Body> Pool::receive_bytes_async(const std::string& peer,
                                                  const std::optional<MessageId>& id) {
  return start_receive(peer, id, nullptr, nullptr);
}

void Pool::receive_bytes_then(const std::string& peer, const std::optional<MessageId>& id,
                              std::function<void(std::exception_ptr, Body)> done) {
  start_receive(peer, id, std::move(done), nullptr);
}

std::future<Pool::Body> Pool::start_receive(const std::string& peer,
                                            const std::optional<MessageId>& id,
                                            std::function<void(std::exception_ptr, Body)> callback,
                                            std::string* key_out) {
  auto waiter = std::make_shared<Waiter>();
  waiter->callback = std::move(callback);
  auto result = waiter->promise.get_future();
  Body ready;
  {
    std::lock_guard lock(impl_->mu);
    auto& p = impl_->peer(peer);
    auto counter = static_cast<std::int64_t>(p.recv_counter++);
    MessageId wire_id = id ? *id : default_id(counter, config_.wire_format);
    if (!impl_->prefix.empty()) wire_id = wire_id.with_prefix(impl_->prefix);
    Impl::Key key{peer, id_key(wire_id)};
    if (key_out != nullptr) *key_out = key.second;
    if (auto it = impl_->stored.find(key); it != impl_->stored.end()) {
      ready = std::move(it->second);
      impl_->stored.erase(it);
      p.stored_bytes -= ready->size();
    } else if (impl_->waiting.contains(key)) {
      throw ConfigurationError("already waiting for the message from '" + peer + "' with id " +
                               wire_id.to_string());
    } else {
      impl_->waiting.emplace(key, waiter);
    }
  }
  if (ready) waiter->complete(std::move(ready));  // outside the lock: a callback may run here
  return result;
}

Pool::Body Pool::receive_bytes(const std::string& peer, const std::optional<MessageId>& id,
                               std::optional<std::chrono::milliseconds> timeout) {
  // The key is needed to withdraw the waiter on a timeout.
  std::string key_text;
  auto future = start_receive(peer, id, nullptr, &key_text);
  Deadline deadline;
  if (timeout) deadline = std::chrono::steady_clock::now() + *timeout;
  if (!impl_->wait_ready(future, deadline)) {
    std::lock_guard lock(impl_->mu);
    if (impl_->waiting.erase(Impl::Key{peer, key_text}) > 0) {
      throw TimeoutError("no message from '" + peer + "' with id " + key_text.substr(2) +
                         " within " + std::to_string(timeout->count()) + " ms");
    }
  }
  return future.get();
}

void Pool::update_msg_prefix(std::string prefix) {
  std::lock_guard lock(impl_->mu);
  impl_->prefix = std::move(prefix);
}

Statistics Pool::statistics() const {
  std::lock_guard lock(impl_->mu);
  return impl_->statistics_locked();
}

Statistics Pool::shutdown(std::chrono::milliseconds deadline) {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->final_statistics) return *impl_->final_statistics;
  }
  auto sent = [&] {
    std::lock_guard lock(impl_->mu);
    return impl_->pending_sends == 0;
  };
  impl_->run_network_until(sent, std::chrono::steady_clock::now() + deadline, [&](auto) {
    std::unique_lock lock(impl_->mu);
    return impl_->sends_done.wait_for(lock, deadline, [&] { return impl_->pending_sends == 0; });
  });
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  {
    NetworkTurn::Held held(impl_->turn, std::nullopt);  // nobody runs the network while it stops
    beast::error_code ec;
    if (impl_->acceptor) impl_->acceptor->close(ec);
    impl_->work.reset();
    impl_->ioc.stop();
  }
  impl_->parked.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
  // Deliveries cut short by the deadline fail loudly rather than with a broken promise.
  std::set<std::shared_ptr<Delivery>> unsettled;
  {
    std::lock_guard lock(impl_->mu);
    unsettled = impl_->deliveries;
  }
  for (const auto& d : unsettled) {
    impl_->settle(d, std::make_exception_ptr(
                         DeliveryError("the pool shut down before the message to '" + d->peer +
                                       "' was delivered (the shutdown deadline passed)")));
  }
  std::lock_guard lock(impl_->mu);
  for (auto& [key, waiter] : impl_->waiting) {
    waiter->fail(std::make_exception_ptr(
        TimeoutError("the pool shut down before the message from '" + key.first + "' arrived")));
  }
  impl_->waiting.clear();
  impl_->final_statistics = impl_->statistics_locked();
  const auto& t = impl_->final_statistics->total;
  if (impl_->port != 0) {
    logger()->info(
        "Server on port {} shutdown: sent {} messages ({} bytes), received {} ({} bytes)",
        impl_->port, t.messages_sent, t.bytes_sent, t.messages_received, t.bytes_received);
  }
  return *impl_->final_statistics;
}

void Pool::wait(std::future<void>&& sent) {
  impl_->wait_ready(sent, std::nullopt);
  sent.get();
}

bool Pool::wait_ready(const std::future<void>& result, Deadline deadline) {
  return impl_->wait_ready(result, deadline);
}

bool Pool::wait_ready(const std::future<Body>& result, Deadline deadline) {
  return impl_->wait_ready(result, deadline);
}

PingResult ping(const std::string& host, std::uint16_t port, const std::optional<TlsConfig>& tls,
                std::chrono::milliseconds timeout) {
  auto target = host + ":" + std::to_string(port);
  std::unique_ptr<asio::ssl::context> context = tls ? detail::make_tls_context(*tls) : nullptr;
  asio::io_context ioc;
  Connection conn(ioc, context.get());
  PingResult result;
  http::request<http::empty_body> req{http::verb::get, "/", 11};
  req.set(http::field::host, target);
  req.keep_alive(false);
  auto start = std::chrono::steady_clock::now();
  try {
    tcp::resolver resolver(ioc);
    conn.tcp().expires_after(timeout);
    conn.tcp().connect(resolver.resolve(host, std::to_string(port)));
    http::response<http::string_body> res;
    if (conn.secure) {
      prepare_client_tls(*conn.secure, host, tls->verify_hostname, nullptr);
      conn.secure->handshake(asio::ssl::stream_base::client);
      SSL* ssl = conn.secure->native_handle();
      result.tls_version = SSL_get_version(ssl);
      if (X509* cert = SSL_get0_peer_certificate(ssl)) {
        result.peer_certificate = detail::describe_certificate(cert);
      }
      http::write(*conn.secure, req);
      http::read(*conn.secure, conn.buffer, res);
    } else {
      http::write(*conn.plain, req);
      http::read(*conn.plain, conn.buffer, res);
    }
    result.status = res.result_int();
    result.body = std::move(res.body());
  } catch (const boost::system::system_error& e) {
    if (detail::is_final_tls_failure(e.code())) {
      throw DeliveryError("TLS with " + target + " failed: " +
                          detail::explain_tls_failure(
                              e.code(), conn.secure ? conn.secure->native_handle() : nullptr));
    }
    throw DeliveryError("cannot reach " + target + ": " + e.code().message());
  }
  result.round_trip = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  return result;
}

}  // namespace tno::mpc::communication
