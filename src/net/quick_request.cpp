#include "net/quick_request.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace tno::mpc::communication::net {

namespace {
constexpr std::string_view kMethod = "POST ";
constexpr std::string_view kVersion = " HTTP/1.1\r\n";

// The characters of a token (RFC 9110 §5.6.2: a field name).
constexpr std::array<bool, 256> kTokenChars = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (unsigned char c : std::string_view("!#$%&'*+-.^_`|~")) t[c] = true;
  return t;
}();

// The characters of a field value (RFC 9110 §5.5: visible, obs-text, space and tab).
constexpr std::array<bool, 256> kValueChars = [] {
  std::array<bool, 256> t{};
  t['\t'] = true;
  for (int c = 0x20; c < 0x100; ++c) t[c] = c != 0x7f;
  return t;
}();

bool equals_lower(std::string_view name, std::string_view lower) {
  if (name.size() != lower.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if ((name[i] | 0x20) != lower[i]) return false;
  }
  return true;
}

bool parse_length(std::string_view digits, std::uint64_t& out) {
  if (digits.empty() || digits.size() > 18) return false;
  std::uint64_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = n;
  return true;
}
}  // namespace

Scan scan_request(std::string_view bytes, std::size_t max_header_bytes,
                  std::uint64_t max_body_bytes, QuickRequest& out) {
  if (bytes.substr(0, kMethod.size()) != kMethod.substr(0, std::min(bytes.size(), kMethod.size())))
    return Scan::general;
  // One pass over the header; running out of bytes anywhere means reading on, within the limit.
  const std::string_view window = bytes.substr(0, max_header_bytes);
  const Scan out_of_bytes = bytes.size() >= max_header_bytes ? Scan::general : Scan::need_more;
  const auto* const begin = reinterpret_cast<const unsigned char*>(window.data());
  const auto* const end = begin + window.size();
  const auto* p = begin + std::min(window.size(), kMethod.size());

  // The request line: "POST <target> HTTP/1.1".
  const auto* const target = p;
  while (p != end && *p > 0x20 && *p != 0x7f) ++p;
  if (p == end) return out_of_bytes;
  if (p == target) return Scan::general;
  if (static_cast<std::size_t>(end - p) < kVersion.size()) return out_of_bytes;
  if (std::memcmp(p, kVersion.data(), kVersion.size()) != 0) return Scan::general;
  p += kVersion.size();

  out = QuickRequest{};
  bool have_length = false;
  bool have_cookie = false;
  for (;;) {
    if (p == end) return out_of_bytes;
    if (*p == '\r') {  // the blank line
      if (p + 1 == end) return out_of_bytes;
      if (p[1] != '\n') return Scan::general;
      out.header_bytes = static_cast<std::size_t>(p + 2 - begin);
      break;
    }
    const auto* const name_begin = p;
    while (p != end && kTokenChars[*p]) ++p;
    if (p == end) return out_of_bytes;
    if (*p != ':' || p == name_begin) return Scan::general;  // incl. obs-fold, space before ':'
    const std::string_view name(reinterpret_cast<const char*>(name_begin),
                                static_cast<std::size_t>(p - name_begin));
    ++p;
    while (p != end && (*p == ' ' || *p == '\t')) ++p;
    const auto* const value_begin = p;
    while (p != end && kValueChars[*p]) ++p;
    if (p == end || p + 1 == end) return out_of_bytes;
    if (p[0] != '\r' || p[1] != '\n') return Scan::general;  // a bare CR or LF, NUL, DEL
    const auto* value_end = p;
    while (value_end != value_begin && (value_end[-1] == ' ' || value_end[-1] == '\t')) {
      --value_end;
    }
    const std::string_view value(reinterpret_cast<const char*>(value_begin),
                                 static_cast<std::size_t>(value_end - value_begin));
    p += 2;
    switch (name.size()) {
      case 6:
        if (equals_lower(name, "cookie")) {
          if (have_cookie) return Scan::general;
          have_cookie = true;
          out.cookie = value;
        } else if (equals_lower(name, "expect")) {
          return Scan::general;
        }
        break;
      case 7:
        if (equals_lower(name, "upgrade")) return Scan::general;
        break;
      case 10:
        if (equals_lower(name, "connection")) return Scan::general;
        break;
      case 14:
        if (equals_lower(name, "content-length")) {
          if (have_length || !parse_length(value, out.content_length)) return Scan::general;
          have_length = true;
          out.length_at = static_cast<std::size_t>(value_begin - begin);
          out.length_digits = value.size();
        }
        break;
      case 17:
        if (equals_lower(name, "transfer-encoding")) return Scan::general;
        break;
      default:
        break;
    }
  }
  if (!have_length || out.content_length > max_body_bytes) return Scan::general;
  return Scan::quick;
}

Scan RequestScanner::scan(std::string_view bytes, std::size_t max_header_bytes,
                          std::uint64_t max_body_bytes, QuickRequest& out) {
  if (matches(bytes, max_header_bytes, max_body_bytes, out)) return Scan::quick;
  const Scan scan = scan_request(bytes, max_header_bytes, max_body_bytes, out);
  if (scan == Scan::quick) remember(bytes, out);
  return scan;
}

bool RequestScanner::matches(std::string_view bytes, std::size_t max_header_bytes,
                             std::uint64_t max_body_bytes, QuickRequest& out) const {
  if (before_.empty() || !bytes.starts_with(before_)) return false;
  std::size_t p = before_.size();
  const std::size_t digits_at = p;
  while (p < bytes.size() && p - digits_at <= 18 && bytes[p] >= '0' && bytes[p] <= '9') ++p;
  std::uint64_t length = 0;
  if (!parse_length(bytes.substr(digits_at, p - digits_at), length) ||
      !bytes.substr(p).starts_with(after_)) {
    return false;
  }
  const std::size_t header_bytes = p + after_.size();
  if (header_bytes > max_header_bytes || length > max_body_bytes) return false;
  out = QuickRequest{};
  out.header_bytes = header_bytes;
  out.content_length = length;
  out.length_at = digits_at;
  out.length_digits = p - digits_at;
  if (has_cookie_) out.cookie = bytes.substr((cookie_after_ ? p : 0) + cookie_at_, cookie_size_);
  return true;
}

void RequestScanner::remember(std::string_view bytes, const QuickRequest& request) {
  const std::size_t digits_end = request.length_at + request.length_digits;
  before_.assign(bytes.substr(0, request.length_at));
  after_.assign(bytes.substr(digits_end, request.header_bytes - digits_end));
  has_cookie_ = request.cookie.data() != nullptr;  // a view into `bytes`, maybe of nothing
  cookie_size_ = request.cookie.size();
  const std::size_t cookie_at =
      has_cookie_ ? static_cast<std::size_t>(request.cookie.data() - bytes.data()) : 0;
  cookie_after_ = has_cookie_ && cookie_at >= digits_end;
  cookie_at_ = cookie_after_ ? cookie_at - digits_end : cookie_at;
}

}  // namespace tno::mpc::communication::net
