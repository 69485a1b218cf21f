#include "net/quick_request.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace tno::mpc::communication::net {

namespace {
constexpr std::string_view kMethod = "POST ";
constexpr std::string_view kVersion = " HTTP/1.1\r\n";

// RFC 9110 §5.6.2: the characters of a token (a field name).
constexpr std::array<bool, 256> kTokenChars = [] {
  std::array<bool, 256> t{};
  for (unsigned char c = '0'; c <= '9'; ++c) t[c] = true;
  for (unsigned char c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (unsigned char c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (unsigned char c : std::string_view("!#$%&'*+-.^_`|~")) t[c] = true;
  return t;
}();

// RFC 9110 §5.5: a field value's characters (visible, obs-text, space and tab).
bool is_value_char(unsigned char c) {
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

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
  const std::string_view window = bytes.substr(0, max_header_bytes);
  const std::size_t end = window.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    return bytes.size() >= max_header_bytes ? Scan::general : Scan::need_more;
  }
  out = QuickRequest{};
  out.header_bytes = end + 4;
  std::string_view rest = window.substr(0, end + 2);  // the lines, each ending in CRLF

  // The request line: "POST <target> HTTP/1.1".
  const std::size_t line_end = rest.find("\r\n");
  std::string_view line = rest.substr(0, line_end + 2);
  if (line.size() < kMethod.size() + 1 + kVersion.size() ||
      line.substr(line.size() - kVersion.size()) != kVersion) {
    return Scan::general;
  }
  const std::string_view target =
      line.substr(kMethod.size(), line.size() - kMethod.size() - kVersion.size());
  for (unsigned char c : target) {
    if (c <= 0x20 || c == 0x7f) return Scan::general;
  }
  rest.remove_prefix(line.size());

  bool have_length = false;
  bool have_cookie = false;
  while (!rest.empty()) {
    const std::size_t eol = rest.find("\r\n");
    line = rest.substr(0, eol);
    rest.remove_prefix(eol + 2);
    const std::size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) return Scan::general;  // incl. obs-fold
    const std::string_view name = line.substr(0, colon);
    for (unsigned char c : name) {
      if (!kTokenChars[c]) return Scan::general;
    }
    std::string_view value = line.substr(colon + 1);
    for (unsigned char c : value) {
      if (!is_value_char(c)) return Scan::general;  // a bare CR or LF, NUL, DEL
    }
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
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

}  // namespace tno::mpc::communication::net
