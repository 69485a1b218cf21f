// What the server answers to a request, apart from moving its bytes: the screening of its header
// (method, sender, room) and the handling of its whole body (validation, the mailbox).
#pragma once

#include <boost/beast/core/error.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "net/framing.hpp"
#include "net/server_state.hpp"

namespace tno::mpc::communication::net {

/// What can be decided on a request's header alone, before its body is read: the answer to GET,
/// HEAD or another method, a missing cookie, an unknown sender, no room for a body of
/// `body_bytes`. Otherwise the sender. `certificate` is the identity key of the client's
/// certificate (TLS), else empty.
std::variant<PeerRegistry::Sender, Response> screen(ServerState& s, const RequestHead& req,
                                                    const std::string& remote_ip,
                                                    const std::string& certificate,
                                                    std::uint64_t body_bytes);

/// A screened request with its whole body: validated, then offered to the mailbox (which ends
/// `arrival`). The answer: none when the message was taken (then 200 "Message received", see
/// received()), else 409, 500 or 503.
std::optional<Response> handle(ServerState& s, const RequestHead& req,
                               const PeerRegistry::Sender& from, UncheckedBody body,
                               Mailbox::Arrival& arrival);

/// 503: no room now for a message of `body_bytes` from `peer` (the sender retries).
Response no_room(ServerState& s, const RequestHead& req, const Peer& peer,
                 std::uint64_t body_bytes);

/// The answer to a request that could not be read: not HTTP, a header, chunk line or trailer, or
/// a body over its limit.
Response unreadable(const ServerState& s, const boost::beast::error_code& ec);

}  // namespace tno::mpc::communication::net
