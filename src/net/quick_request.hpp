// The header of nearly every message, read without the general HTTP parser: a POST in HTTP/1.1
// with one Content-Length and nothing that changes how its body is framed or answered. Anything
// else (another method or version, chunked bodies, Expect, Connection, a malformed or oversized
// header) is left to Beast's parser, which reads the same bytes again and judges them as always:
// this is a shortcut, never a second opinion.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tno::mpc::communication::net {

/// A request header of the common form.
struct QuickRequest {
  std::size_t header_bytes = 0;  // through the blank line
  std::uint64_t content_length = 0;
  std::string_view cookie;    // the Cookie field's value (into the scanned bytes); empty if none
  std::size_t length_at = 0;  // where the Content-Length value's digits are in the header
  std::size_t length_digits = 0;
};

enum class Scan {
  need_more,  // a prefix of a request that may take the common form: read on
  quick,      // the header is complete and of the common form
  general,    // leave it to the general parser
};

/// Scans the start of `bytes` (what was read of a connection after the previous request). A
/// header over `max_header_bytes` (the blank line included) or a body over `max_body_bytes`
/// is left to the general parser, which refuses it in the usual words.
Scan scan_request(std::string_view bytes, std::size_t max_header_bytes,
                  std::uint64_t max_body_bytes, QuickRequest& out);

/// scan_request for the requests of one connection: a client sends the same header every time but
/// for the Content-Length value, so the last header of the common form is remembered and a header
/// equal to it in every other byte is recognised by comparing bytes, without scanning them. The
/// outcome is scan_request's, always (the scan is a function of the bytes alone, and the digits
/// that differ are checked as it checks them).
class RequestScanner {
 public:
  Scan scan(std::string_view bytes, std::size_t max_header_bytes, std::uint64_t max_body_bytes,
            QuickRequest& out);

 private:
  bool matches(std::string_view bytes, std::size_t max_header_bytes, std::uint64_t max_body_bytes,
               QuickRequest& out) const;
  void remember(std::string_view bytes, const QuickRequest& request);

  std::string before_;  // the header up to the Content-Length digits (empty: nothing remembered)
  std::string after_;   // from the byte after those digits through the blank line
  // Where the Cookie value is, if there is one: in before_ (at cookie_at_) or, if cookie_after_,
  // in after_.
  bool has_cookie_ = false;
  bool cookie_after_ = false;
  std::size_t cookie_at_ = 0;
  std::size_t cookie_size_ = 0;
};

}  // namespace tno::mpc::communication::net
