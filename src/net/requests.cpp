#include "net/requests.hpp"

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>

#include <functional>
#include <optional>
#include <string_view>

#include "tno/mpc/communication/errors.hpp"

namespace tno::mpc::communication::net {

namespace http = boost::beast::http;

namespace {
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
}  // namespace

Response no_room(ServerState& s, const RequestHead& req, const Peer& peer,
                 std::uint64_t body_bytes) {
  const Mailbox::Held held = s.mailbox.held(peer.name);
  if (auto held_back = s.refused_messages.allow()) {
    log().warn(
        "Refused (for now) a message of {} bytes from {}: {} bytes of {} messages from it wait to "
        "be received, {} bytes arrive{}",
        body_bytes, peer.name, held.stored_bytes, held.stored_messages, held.arriving_bytes,
        held_back_note(*held_back));
  }
  Response res = answer(req, http::status::service_unavailable,
                        "No room now for this message from " + peer.name +
                            ": earlier ones wait to be received; send it again later");
  res.set(http::field::retry_after, "1");
  return res;
}

Response unreadable(const ServerState& s, const boost::beast::error_code& ec) {
  if (ec == http::error::body_limit) {
    return refusal(http::status::payload_too_large,
                   "Message larger than " + std::to_string(s.config.max_body_bytes) + " bytes");
  }
  if (ec == http::error::header_limit) {
    return refusal(
        http::status::request_header_fields_too_large,
        "Request header larger than " + std::to_string(s.config.max_header_bytes) + " bytes");
  }
  if (ec == http::error::buffer_overflow) {
    return refusal(http::status::request_header_fields_too_large,
                   "A chunk line or trailer section larger than " +
                       std::to_string(s.config.max_header_bytes) + " bytes");
  }
  return refusal(http::status::bad_request, "Bad request (" + ec.message() + ")");
}

std::variant<PeerRegistry::Sender, Response> screen(ServerState& s, const RequestHead& req,
                                                    const std::string& remote_ip,
                                                    const std::string& certificate,
                                                    std::uint64_t body_bytes) {
  if (req.method == http::verb::get || req.method == http::verb::head) {
    return answer(req, http::status::ok, "Connection working (GET)");
  }
  if (req.method != http::verb::post) {
    Response res = answer(req, http::status::method_not_allowed, "Only GET and POST are served");
    res.set(http::field::allow, "GET, HEAD, POST");
    return res;
  }
  auto cookie_port = server_port_cookie(req.cookie);
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
    if (auto held_back = s.refused_messages.allow()) {
      log().warn("Refused message from unknown sender {}{}", who, held_back_note(*held_back));
    }
    return answer(req, http::status::unauthorized, "Unknown sender " + who);
  }
  if (s.mailbox.room_for(sender->peer->name, body_bytes) == Mailbox::Room::none) {
    return no_room(s, req, *sender->peer, body_bytes);
  }
  return *sender;
}

std::optional<Response> handle(ServerState& s, const RequestHead& req,
                               const PeerRegistry::Sender& from, UncheckedBody body,
                               Mailbox::Arrival& arrival) {
  const Peer& peer = *from.peer;
  std::optional<MessageId> id;
  try {
    // One validating pass over the payload: its structure, not its values, which recv decodes
    // from where this pass found them.
    CheckedMessage checked =
        check_message(body->bytes(), s.config.decode_limits, s.config.wire_format);
    id = std::move(checked.id);
    body->note_payload(checked.payload);
  } catch (const SerializationError& e) {
    // A peer that sends garbage in a loop must not fill the log: one line per few seconds.
    if (auto held_back = s.refused_messages.allow()) {
      log().warn("Refused undecodable message from {}: {}{}", peer.name, e.what(),
                 held_back_note(*held_back));
    }
    return answer(req, http::status::internal_server_error,
                  std::string("Message could not be decoded: ") + e.what());
  }
  const std::size_t size = body->size();
  if (s.forward) {
    s.peers.count_received(peer, size);
    s.forward(peer, std::move(body));
    log().info("Received message from {}", from.identity);
    return std::nullopt;
  }
  auto count = [&] { s.peers.count_received(peer, size); };
  // By reference: a std::function holding the lambda itself (three references) would allocate.
  switch (s.mailbox.offer(peer.name, *id, std::move(body), std::cref(count), &arrival)) {
    case Mailbox::Outcome::duplicate:
      return std::nullopt;  // a resend: stored once
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
  return std::nullopt;
}

}  // namespace tno::mpc::communication::net
