// What the server decides on a request's header alone, before screening the sender: whether the
// request is framed so that its end is certain (RFC 9112 §6: Transfer-Encoding and
// Content-Length), whether its Expect field can be met (RFC 9110 §10.1.1), and whether the whole
// header section is within its limit; and the answers the server writes.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tno::mpc::communication::net {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

/// What the server's decisions and answers depend on of a request's header, however it was read.
struct RequestHead {
  boost::beast::http::verb method = boost::beast::http::verb::post;
  unsigned version = 11;
  bool keep_alive = true;
  std::string_view cookie;  // the Cookie field's value, valid while the header is

  static RequestHead of(const Request& req);
};

/// An answer that keeps the connection open when the request allows (never after a 500).
Response answer(const RequestHead& req, boost::beast::http::status status, std::string text);
/// 200 "Message received": a message was taken.
Response received(const RequestHead& req);
/// The bytes of received() for a keep-alive HTTP/1.1 request, serialised once: what nearly
/// every answer is.
std::string_view received_bytes();
/// An answer after which the connection is closed.
Response refusal(boost::beast::http::status status, std::string text);

/// The refusal a request's header calls for before anything else, or none:
///   431  the header section (request line and fields together) is over `max_header_bytes`;
///   501  a transfer coding that is not understood (e.g. identity, no longer part of HTTP/1.1);
///   400  Transfer-Encoding in an HTTP/1.0 request, beside a Content-Length, empty, naming chunked
///        twice, or not ending in chunked (then the body's end is uncertain);
///   501  a transfer coding other than chunked before it (gzip, deflate: not implemented);
///   417  an Expect other than 100-continue.
/// Every one of them closes the connection, so that no bytes of an uncertain body are read as
/// the next request.
std::optional<Response> check_framing(const Request& req, std::size_t header_bytes,
                                      std::size_t max_header_bytes);

/// Whether the client waits for "100 Continue" before it sends the body.
bool expects_continue(const Request& req);

}  // namespace tno::mpc::communication::net
