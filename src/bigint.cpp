#include "tno/mpc/communication/bigint.hpp"

#include <gmp.h>
#include <algorithm>
#include <memory>

#include "tno/mpc/communication/errors.hpp"

namespace tno::mpc::communication {

namespace {
// RAII holder for an mpz_t, used only inside this file.
struct Mpz {
  mpz_t v;
  Mpz() { mpz_init(v); }
  ~Mpz() { mpz_clear(v); }
  Mpz(const Mpz&) = delete;
  Mpz& operator=(const Mpz&) = delete;
};

void strip(std::vector<std::byte>& magnitude) {
  while (!magnitude.empty() && magnitude.back() == std::byte{0}) magnitude.pop_back();
}
}  // namespace

void BigInt::set_signed(std::int64_t v) {
  negative_ = v < 0;
  std::uint64_t m =
      negative_ ? std::uint64_t{0} - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
  if (m != 0) magnitude_.reserve(sizeof m);
  for (; m != 0; m >>= 8) magnitude_.push_back(static_cast<std::byte>(m & 0xff));
}

void BigInt::set_unsigned(std::uint64_t v) {
  if (v != 0) magnitude_.reserve(sizeof v);
  for (; v != 0; v >>= 8) magnitude_.push_back(static_cast<std::byte>(v & 0xff));
}

BigInt BigInt::from_magnitude_le(bool negative, std::span<const std::byte> magnitude) {
  BigInt out;
  out.magnitude_.assign(magnitude.begin(), magnitude.end());
  strip(out.magnitude_);
  out.negative_ = negative && !out.magnitude_.empty();
  return out;
}

BigInt BigInt::from_twos_complement_le(std::span<const std::byte> bytes) {
  if (bytes.empty() || (static_cast<std::uint8_t>(bytes.back()) & 0x80) == 0) {
    return from_magnitude_le(false, bytes);
  }
  // Negative: magnitude = ~bytes + 1.
  std::vector<std::byte> m(bytes.size());
  unsigned carry = 1;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    unsigned b = (~static_cast<unsigned>(bytes[i]) & 0xffu) + carry;
    m[i] = static_cast<std::byte>(b & 0xff);
    carry = b >> 8;
  }
  return from_magnitude_le(true, m);
}

BigInt BigInt::from_string(std::string_view decimal) {
  std::string_view digits = decimal;
  bool negative = false;
  if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) {
    negative = digits.front() == '-';
    digits.remove_prefix(1);
  }
  if (digits.empty() ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    throw ArgumentError("not a decimal integer: '" + std::string(decimal) + "'");
  }
  Mpz z;
  mpz_set_str(z.v, std::string(digits).c_str(), 10);
  std::vector<std::byte> m((mpz_sizeinbase(z.v, 2) + 7) / 8);
  std::size_t count = 0;
  mpz_export(m.data(), &count, -1, 1, 0, 0, z.v);
  m.resize(count);
  return from_magnitude_le(negative, m);
}

std::string BigInt::to_string() const {
  if (magnitude_.empty()) return "0";
  Mpz z;
  mpz_import(z.v, magnitude_.size(), -1, 1, 0, 0, magnitude_.data());
  if (negative_) mpz_neg(z.v, z.v);
  std::unique_ptr<char[]> text(new char[mpz_sizeinbase(z.v, 10) + 2]);
  mpz_get_str(text.get(), 10, z.v);
  return text.get();
}

std::size_t BigInt::bit_length() const noexcept {
  if (magnitude_.empty()) return 0;
  auto top = static_cast<unsigned>(magnitude_.back());
  std::size_t bits = 0;
  while (top != 0) {
    ++bits;
    top >>= 1;
  }
  return (magnitude_.size() - 1) * 8 + bits;
}

std::vector<std::byte> BigInt::to_twos_complement_le() const {
  std::size_t n = (bit_length() + 8) / 8;
  std::vector<std::byte> out(n, std::byte{0});
  std::copy(magnitude_.begin(), magnitude_.end(), out.begin());
  if (negative_) {
    unsigned carry = 1;
    for (auto& b : out) {
      unsigned v = (~static_cast<unsigned>(b) & 0xffu) + carry;
      b = static_cast<std::byte>(v & 0xff);
      carry = v >> 8;
    }
  }
  return out;
}

std::optional<std::uint64_t> BigInt::to_uint64() const noexcept {
  if (negative_ || magnitude_.size() > 8) return std::nullopt;
  std::uint64_t v = 0;
  for (std::size_t i = magnitude_.size(); i-- > 0;)
    v = (v << 8) | static_cast<std::uint8_t>(magnitude_[i]);
  return v;
}

std::optional<std::int64_t> BigInt::to_int64() const noexcept {
  if (magnitude_.size() > 8) return std::nullopt;
  std::uint64_t m = 0;
  for (std::size_t i = magnitude_.size(); i-- > 0;)
    m = (m << 8) | static_cast<std::uint8_t>(magnitude_[i]);
  if (!negative_) {
    if (m > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<std::int64_t>(m);
  }
  if (m > static_cast<std::uint64_t>(INT64_MAX) + 1) return std::nullopt;
  return static_cast<std::int64_t>(std::uint64_t{0} - m);
}

std::strong_ordering operator<=>(const BigInt& a, const BigInt& b) noexcept {
  if (a.negative_ != b.negative_) {
    return a.negative_ ? std::strong_ordering::less : std::strong_ordering::greater;
  }
  auto magnitude_order = [&] {
    if (a.magnitude_.size() != b.magnitude_.size()) {
      return a.magnitude_.size() <=> b.magnitude_.size();
    }
    for (std::size_t i = a.magnitude_.size(); i-- > 0;) {
      if (a.magnitude_[i] != b.magnitude_[i]) return a.magnitude_[i] <=> b.magnitude_[i];
    }
    return std::strong_ordering::equal;
  }();
  if (a.negative_) return 0 <=> magnitude_order;
  return magnitude_order;
}

}  // namespace tno::mpc::communication
