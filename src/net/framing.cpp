#include "net/framing.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/write.hpp>

#include <sstream>
#include <string_view>
#include <vector>

namespace tno::mpc::communication::net {

namespace http = boost::beast::http;

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The transfer codings of RFC 9112 §7 (IANA's registry): understood, though only chunked is
// implemented. "identity" was removed from HTTP/1.1 and is unknown.
bool is_registered_coding(const std::string& coding) {
  return coding == "chunked" || coding == "compress" || coding == "deflate" || coding == "gzip" ||
         coding == "x-compress" || coding == "x-gzip" || coding == "trailers";
}

// The transfer codings of a Transfer-Encoding value, lower case and without parameters
// ("gzip;q=1, Chunked" -> {"gzip", "chunked"}); an empty element is kept as "".
std::vector<std::string> codings(std::string_view value) {
  std::vector<std::string> out;
  for (;;) {
    auto comma = value.find(',');
    std::string_view item = trim(value.substr(0, comma));
    item = trim(item.substr(0, item.find(';')));
    std::string coding(item);
    for (char& c : coding) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.push_back(std::move(coding));
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return out;
}
}  // namespace

RequestHead RequestHead::of(const Request& req) {
  return RequestHead{req.method(), req.version(), req.keep_alive(), req[http::field::cookie]};
}

Response answer(const RequestHead& req, http::status status, std::string text) {
  Response res{status, req.version};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.keep_alive(req.keep_alive && status != http::status::internal_server_error);
  res.body() = std::move(text);
  res.prepare_payload();
  return res;
}

Response received(const RequestHead& req) {
  return answer(req, http::status::ok, "Message received");
}

std::string_view received_bytes() {
  static const std::string bytes = [] {
    std::ostringstream out;
    out << received(RequestHead{});
    return std::move(out).str();
  }();
  return bytes;
}

Response refusal(http::status status, std::string text) {
  Response res{status, 11};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.body() = std::move(text);
  res.keep_alive(false);
  res.prepare_payload();
  return res;
}

std::optional<Response> check_framing(const Request& req, std::size_t header_bytes,
                                      std::size_t max_header_bytes) {
  if (header_bytes > max_header_bytes) {
    return refusal(http::status::request_header_fields_too_large,
                   "Request header larger than " + std::to_string(max_header_bytes) + " bytes");
  }
  if (req.find(http::field::transfer_encoding) != req.end()) {
    if (req.version() < 11) {
      return refusal(http::status::bad_request, "Transfer-Encoding in an HTTP/1.0 request");
    }
    if (req.find(http::field::content_length) != req.end()) {
      return refusal(http::status::bad_request,
                     "Transfer-Encoding and Content-Length together: the body's end is uncertain");
    }
    // Several Transfer-Encoding fields make one list (RFC 9110 §5.3).
    std::string all;
    auto [first, last] = req.equal_range(http::field::transfer_encoding);
    for (auto it = first; it != last; ++it) {
      if (!all.empty()) all += ',';
      all += std::string(it->value());
    }
    auto list = codings(all);
    std::size_t chunked = 0;
    for (const auto& c : list) {
      if (c.empty()) return refusal(http::status::bad_request, "An empty transfer coding");
      if (c == "chunked") ++chunked;
      if (!is_registered_coding(c)) {
        return refusal(http::status::not_implemented,
                       "The transfer coding '" + c + "' is not understood; send chunked alone");
      }
    }
    if (chunked > 1 || list.back() != "chunked") {
      return refusal(http::status::bad_request,
                     "The final transfer coding must be chunked, once: the body's end is "
                     "uncertain otherwise");
    }
    for (const auto& c : list) {
      if (c != "chunked") {
        return refusal(http::status::not_implemented,
                       "The transfer coding '" + c + "' is not implemented; send chunked alone");
      }
    }
  }
  if (auto expect = req.find(http::field::expect); expect != req.end()) {
    if (!boost::beast::iequals(trim(expect->value()), "100-continue")) {
      return refusal(http::status::expectation_failed,
                     "Only the expectation 100-continue can be met");
    }
  }
  return std::nullopt;
}

bool expects_continue(const Request& req) {
  auto expect = req.find(http::field::expect);
  return expect != req.end() && boost::beast::iequals(trim(expect->value()), "100-continue");
}

}  // namespace tno::mpc::communication::net
