#include "tno/mpc/communication/python_text.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "tno/mpc/communication/errors.hpp"

namespace tno::mpc::communication::python {

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  // Shortest round-trip digits from to_chars, laid out by Python's repr rule.
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(end - buf));
  std::string out;
  if (sci.front() == '-') {
    out += '-';
    sci.remove_prefix(1);
  }
  auto e_at = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_at)) {
    if (c != '.') digits += c;
  }
  int exponent = std::atoi(std::string(sci.substr(e_at + 1)).c_str());
  if (exponent >= -4 && exponent < 16) {
    if (exponent >= 0) {
      auto int_len = static_cast<std::size_t>(exponent) + 1;
      if (digits.size() <= int_len) {
        out.append(digits).append(int_len - digits.size(), '0').append(".0");
      } else {
        out.append(digits, 0, int_len).append(1, '.').append(digits, int_len);
      }
    } else {
      out.append("0.").append(static_cast<std::size_t>(-exponent - 1), '0').append(digits);
    }
  } else {
    out.append(digits, 0, 1);
    if (digits.size() > 1) out.append(1, '.').append(digits, 1);
    out += exponent < 0 ? "e-" : "e+";
    if (std::abs(exponent) < 10) out.append(1, '0');
    out.append(std::to_string(std::abs(exponent)));
  }
  return out;
}

std::string float_hex(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  std::string out = std::signbit(d) ? "-" : "";
  if (d == 0) return out + "0x0.0p+0";
  std::uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  std::uint64_t mantissa = bits & ((std::uint64_t{1} << 52) - 1);
  int biased = static_cast<int>((bits >> 52) & 0x7ff);
  int exponent = biased == 0 ? -1022 : biased - 1023;
  out += biased == 0 ? "0x0." : "0x1.";
  char hex[14];
  for (int i = 12; i >= 0; --i) {
    hex[i] = "0123456789abcdef"[mantissa & 15];
    mantissa >>= 4;
  }
  hex[13] = 0;
  out += hex;
  out += exponent < 0 ? "p-" : "p+";
  out += std::to_string(std::abs(exponent));
  return out;
}

double float_fromhex(std::string_view text) {
  std::string s(text);
  if (s == "nan" || s == "-nan") return s[0] == '-' ? -NAN : NAN;
  if (s == "inf") return INFINITY;
  if (s == "-inf") return -INFINITY;
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size()) {
    throw ArgumentError("not a hexadecimal float: '" + s + "'");
  }
  return d;
}

namespace {
void escape(std::string& out, unsigned char c, char quote) {
  static const char* hex = "0123456789abcdef";
  switch (c) {
    case '\\':
      out += "\\\\";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    default:
      break;
  }
  if (c == static_cast<unsigned char>(quote)) {
    out += '\\';
    out += quote;
  } else if (c < 0x20 || c == 0x7f) {
    out += "\\x";
    out += hex[c >> 4];
    out += hex[c & 15];
  } else {
    out += static_cast<char>(c);
  }
}
}  // namespace

std::string str_repr(std::string_view s) {
  char quote = (s.find('\'') != std::string_view::npos && s.find('"') == std::string_view::npos)
                   ? '"'
                   : '\'';
  std::string out(1, quote);
  for (char c : s) escape(out, static_cast<unsigned char>(c), quote);
  out += quote;
  return out;
}

std::string bytes_repr(const Bytes& b) {
  std::string out = "b'";
  for (std::byte x : b) {
    auto c = static_cast<unsigned char>(x);
    if (c >= 0x80) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      escape(out, c, '\'');
    }
  }
  out += '\'';
  return out;
}

}  // namespace tno::mpc::communication::python
