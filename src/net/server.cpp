#include "net/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <limits>
#include <map>
#include <variant>

#include "net/body_buffers.hpp"
#include "net/log.hpp"
#include "tls.hpp"
#include "tno/mpc/communication/errors.hpp"

namespace tno::mpc::communication::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

struct Server::State {
  State(const PoolConfig& c, asio::ssl::context* t, PeerRegistry& p, Mailbox& m)
      : config(c), tls(t), peers(p), mailbox(m) {}
  const PoolConfig& config;
  asio::ssl::context* tls;
  PeerRegistry& peers;
  Mailbox& mailbox;
  std::shared_ptr<BodyBuffers> bodies = std::make_shared<BodyBuffers>();
  std::map<std::string, std::size_t> connections_from;  // open connections per source IP
};

namespace {

using State = Server::State;

// Bodies from this size on are read without the parser (see serve).
constexpr std::size_t kDirectBodyBytes = 64 * 1024;

// The value of the server_port cookie, as text: like the reference, the receiver only compares it
// (in "<ip>:<value>"), so a value that is no port simply matches no peer.
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

Response answer(const Request& req, http::status status, std::string text) {
  Response res{status, req.version()};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.keep_alive(req.keep_alive() && status != http::status::internal_server_error);
  res.body() = std::move(text);
  res.prepare_payload();
  return res;
}

// An answer after which the connection is closed.
Response refusal(http::status status, std::string text) {
  Response res{status, 11};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.body() = std::move(text);
  res.keep_alive(false);
  res.prepare_payload();
  return res;
}

// 503: no room among the bytes stored for `peer`.
Response no_room(const State& s, const Request& req, const Peer& peer, std::uint64_t body_bytes) {
  const std::size_t stored = s.mailbox.stored_bytes(peer.name);
  log().warn(
      "Refused (for now) a message of {} bytes from {}: {} bytes from it wait to be received",
      body_bytes, peer.name, stored);
  Response res = answer(req, http::status::service_unavailable,
                        std::to_string(stored) + " bytes from " + peer.name +
                            " wait to be received; send this message again later");
  res.set(http::field::retry_after, "1");
  return res;
}

// The answer to a request that could not be read: not HTTP, a header or body over its limit.
Response unreadable(const State& s, const beast::error_code& ec) {
  if (ec == http::error::body_limit) {
    return refusal(http::status::payload_too_large,
                   "Message larger than " + std::to_string(s.config.max_body_bytes) + " bytes");
  }
  if (ec == http::error::header_limit) {
    return refusal(
        http::status::request_header_fields_too_large,
        "Request header larger than " + std::to_string(s.config.max_header_bytes) + " bytes");
  }
  return refusal(http::status::bad_request, "Bad request (" + ec.message() + ")");
}

// What can be decided on a request's header alone, before its body is read: the answer to a GET
// or another method, a missing cookie, an unknown sender, no room for the body among the bytes
// stored for the sender. Otherwise the sender. `certificate` is the identity key of the client's
// certificate (TLS), else empty.
std::variant<PeerRegistry::Sender, Response> screen(const State& s, const Request& req,
                                                    const std::string& remote_ip,
                                                    const std::string& certificate,
                                                    std::uint64_t body_bytes) {
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
  // The certificate identifies the sender when it names a peer (the cookie is then only required,
  // as by the reference); otherwise the address and the cookie do.
  std::string address = remote_ip + ":" + *cookie_port;
  auto sender = s.peers.identify(certificate, address);
  if (!sender) {
    std::string who = certificate.empty() ? address : certificate + " or " + address;
    log().warn("Refused message from unknown sender {}", who);
    return answer(req, http::status::unauthorized, "Unknown sender " + who);
  }
  if (s.mailbox.room_for(sender->peer->name, body_bytes) == Mailbox::Room::none) {
    return no_room(s, req, *sender->peer, body_bytes);
  }
  return *sender;
}

// A screened request with its whole body: validated, then offered to the mailbox.
Response handle(State& s, const Request& req, const PeerRegistry::Sender& from, Body body) {
  const Peer& peer = *from.peer;
  std::optional<MessageId> id;
  try {
    // One validating pass over the payload: its structure, not its values (decoded in recv).
    id = validate_message(as_bytes(*body), s.config.decode_limits, s.config.wire_format);
  } catch (const SerializationError& e) {
    log().warn("Refused undecodable message from {}: {}", peer.name, e.what());
    return answer(req, http::status::internal_server_error,
                  std::string("Message could not be decoded: ") + e.what());
  }
  const std::size_t size = body->size();
  auto count = [&] { s.peers.count_received(peer, size); };
  switch (s.mailbox.offer(peer.name, *id, std::move(body), count)) {
    case Mailbox::Outcome::duplicate:
      return answer(req, http::status::ok, "Message received");  // a resend: stored once
    case Mailbox::Outcome::conflict:
      log().error("Refused a second, different message from {} with id {}", peer.name,
                  id->to_string());
      return answer(req, http::status::conflict,
                    "A different message with id " + id->to_string() + " from " + peer.name +
                        " is waiting to be received");
    case Mailbox::Outcome::no_room:
      return no_room(s, req, peer, size);
    case Mailbox::Outcome::closed:
      return refusal(http::status::service_unavailable, "This party is shutting down");
    case Mailbox::Outcome::delivered:
    case Mailbox::Outcome::stored:
      break;
  }
  log().info("Received message from {}", from.identity);
  return answer(req, http::status::ok, "Message received");
}

// Fills `body` (sized to the body's length): first what the header read left in `buffer`, then
// the rest from the stream in one asynchronous read (64 KiB per system call).
template <class Stream>
asio::awaitable<bool> read_body_directly(Stream& stream, beast::flat_buffer& buffer,
                                         std::string& body) {
  std::size_t have = std::min<std::size_t>(buffer.size(), body.size());
  asio::buffer_copy(asio::buffer(body.data(), have), buffer.data());
  buffer.consume(have);
  auto [ec, n] =
      co_await asio::async_read(stream, asio::buffer(body.data() + have, body.size() - have),
                                asio::as_tuple(asio::use_awaitable));
  co_return !ec && have + n == body.size();
}

bool is_http_error(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_method).category();
}

// Requests on one connection, answered in order, until the client closes it or an error.
template <class Stream>
asio::awaitable<void> serve(State& s, Stream& stream, beast::flat_buffer& buffer,
                            const std::string& remote_ip, const std::string& certificate) {
  auto& tcp_stream = beast::get_lowest_layer(stream);
  auto reply = [&](Response& res) {
    return http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
  };
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(s.config.max_body_bytes);
    parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(
        s.config.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    tcp_stream.expires_after(s.config.idle_timeout);
    auto [header_ec, header_bytes] = co_await http::async_read_header(
        stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (header_ec == http::error::end_of_stream || header_ec == http::error::partial_message) {
      break;
    }
    if (header_ec && is_http_error(header_ec)) {
      // Not HTTP, or too big: say so (a client that is waiting then fails clearly) and close.
      if (buffer.size() > 0 &&
          static_cast<unsigned char>(*static_cast<const char*>(buffer.data().data())) == 0x16) {
        log().warn(
            "A TLS client at {} connected to this plain-HTTP server; it cannot be served unless "
            "this pool is made with a TlsConfig",
            remote_ip);
      }
      auto res = unreadable(s, header_ec);
      co_await reply(res);
      break;
    }
    if (header_ec) break;  // timed out, reset, closed
    auto length = parser.content_length();
    auto verdict = screen(s, parser.get(), remote_ip, certificate, length.value_or(0));
    if (auto* early = std::get_if<Response>(&verdict)) {
      // Answered on the header alone; a body that was not read ends the connection.
      if (!parser.is_done()) early->keep_alive(false);
      auto [write_ec, m] = co_await reply(*early);
      if (write_ec || !early->keep_alive()) break;
      continue;
    }
    const auto& sender = std::get<PeerRegistry::Sender>(verdict);
    tcp_stream.expires_after(s.config.attempt_timeout);
    Response res;
    if (length && *length >= kDirectBodyBytes) {
      // A large body of known length goes straight from the socket into its final buffer,
      // instead of through the parser's buffer and a copy.
      Request req = parser.release();
      req.body() = std::string();  // drop the parser's reservation: a recycled buffer is used
      auto body = s.bodies->take(static_cast<std::size_t>(*length));
      if (!co_await read_body_directly(stream, buffer, *body)) break;
      res = handle(s, req, sender, s.bodies->wrap(std::move(body)));
    } else {
      auto [body_ec, body_bytes] =
          co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
      if (body_ec == http::error::end_of_stream || body_ec == http::error::partial_message) break;
      if (body_ec && is_http_error(body_ec)) {
        auto refused = unreadable(s, body_ec);
        co_await reply(refused);
        break;
      }
      if (body_ec) break;
      Request req = parser.release();
      auto body = std::make_unique<std::string>(std::move(req.body()));
      res = handle(s, req, sender, s.bodies->wrap(std::move(body)));
    }
    auto [write_ec, m] = co_await reply(res);
    if (write_ec || !res.keep_alive()) break;
  }
}

// Counts a server connection against its source address while it lives.
class SourceSlot {
 public:
  SourceSlot(std::shared_ptr<State> state, std::string ip)
      : state_(std::move(state)), ip_(std::move(ip)), count_(++state_->connections_from[ip_]) {}
  ~SourceSlot() {
    if (--state_->connections_from[ip_] == 0) state_->connections_from.erase(ip_);
  }
  SourceSlot(const SourceSlot&) = delete;
  SourceSlot& operator=(const SourceSlot&) = delete;
  std::size_t count() const { return count_; }

 private:
  std::shared_ptr<State> state_;
  std::string ip_;
  std::size_t count_;
};

// A TLS handshake that failed: OpenSSL has sent its alert. Under TLS 1.3 the client finished its
// side of the handshake already and is sending its request; closing at once would answer that with
// a reset that destroys the alert before the client reads it. Half-close and drain briefly
// instead, so that the client learns why.
asio::awaitable<void> drain_after_refusal(beast::tcp_stream& tcp_stream) {
  beast::error_code ec;
  tcp_stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  tcp_stream.expires_after(std::chrono::seconds(2));
  char sink[4096];
  for (;;) {
    auto [drain_ec, n] = co_await tcp_stream.async_read_some(asio::buffer(sink),
                                                             asio::as_tuple(asio::use_awaitable));
    if (drain_ec) break;
  }
}

// One accepted connection, from its first byte to its end.
asio::awaitable<void> session(std::shared_ptr<State> state, tcp::socket socket) {
  State& s = *state;
  beast::tcp_stream stream(std::move(socket));
  beast::error_code ec;
  std::string remote_ip = stream.socket().remote_endpoint(ec).address().to_string();
  SourceSlot slot(state, remote_ip);
  if (slot.count() > s.config.max_connections_per_source) {
    log().warn("Refused a connection from {}: it has {} open already (the limit)", remote_ip,
               s.config.max_connections_per_source);
    if (s.tls == nullptr) {
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
  if (s.tls == nullptr) {
    co_await serve(s, stream, buffer, remote_ip, "");
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    co_return;
  }
  stream.expires_after(s.config.idle_timeout);  // for the first bytes and the whole handshake
  auto [detect_ec, is_tls] =
      co_await beast::async_detect_ssl(stream, buffer, asio::as_tuple(asio::use_awaitable));
  if (detect_ec) co_return;
  if (!is_tls) {
    // A plain-HTTP client: answer it in its own protocol so that it fails clearly.
    log().warn("Refused a plain-HTTP connection from {}: this server speaks HTTPS only", remote_ip);
    http::request_parser<http::string_body> parser;
    parser.body_limit(s.config.max_body_bytes);
    co_await http::async_read_header(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    auto res = refusal(http::status::bad_request,
                       "This party serves HTTPS only: give the sending pool a TLS key, "
                       "certificate and CA bundle");
    co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> secure(std::move(stream), *s.tls);
  auto [handshake_ec, used] = co_await secure.async_handshake(
      asio::ssl::stream_base::server, buffer.data(), asio::as_tuple(asio::use_awaitable));
  if (handshake_ec) {
    log().warn("Refused a TLS connection from {}: {}", remote_ip,
               detail::explain_tls_failure(handshake_ec, secure.native_handle()));
    co_await drain_after_refusal(beast::get_lowest_layer(secure));
    co_return;
  }
  buffer.consume(used);
  co_await serve(s, secure, buffer, remote_ip, detail::peer_identity(secure.native_handle()));
  beast::get_lowest_layer(secure).socket().shutdown(tcp::socket::shutdown_both, ec);
}

asio::awaitable<void> accept_loop(std::shared_ptr<State> state, tcp::acceptor& acceptor) {
  while (acceptor.is_open()) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted) break;
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(acceptor.get_executor(), session(state, std::move(socket)), asio::detached);
  }
}

}  // namespace

Server::Server(asio::io_context& ioc, const PoolConfig& config, asio::ssl::context* tls,
               PeerRegistry& peers, Mailbox& mailbox)
    : ioc_(ioc), state_(std::make_shared<State>(config, tls, peers, mailbox)) {}

Server::~Server() = default;

std::uint16_t Server::listen(const std::string& addr, std::uint16_t port) {
  if (acceptor_) throw ConfigurationError("this pool has a server already");
  beast::error_code ec;
  auto address = asio::ip::make_address(addr, ec);
  if (ec) throw ConfigurationError("cannot serve on '" + addr + "': not an IP address");
  tcp::acceptor acceptor(ioc_);
  tcp::endpoint endpoint(address, port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw ConfigurationError("cannot serve on " + addr + ":" + std::to_string(port) + ": " +
                             ec.message());
  }
  port_ = acceptor.local_endpoint().port();
  acceptor_.emplace(std::move(acceptor));
  asio::co_spawn(ioc_, accept_loop(state_, *acceptor_), asio::detached);
  log().info("Serving on {}:{}{}", addr, port_, state_->tls ? " with TLS" : "");
  return port_;
}

void Server::close() {
  beast::error_code ec;
  if (acceptor_) acceptor_->close(ec);
}

}  // namespace tno::mpc::communication::net
