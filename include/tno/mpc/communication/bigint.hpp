// BigInt: an exact integer of any size, the C++ side of a Python `int`.
//
// It exists so that `Value` can hold any Python integer without putting GMP in public headers.
// For arithmetic, convert to GMP's `mpz_class` with the helpers in <tno/mpc/communication/gmp.hpp>.
//
//   BigInt big = BigInt::from_string("-123456789012345678901234567890");
//   big.to_string();              // "-123456789012345678901234567890"
//   big.to_twos_complement_le();  // the bytes Python's int.to_bytes(n, "little", signed=True)
//   gives
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace tno::mpc::communication {

class BigInt {
 public:
  /// Zero.
  BigInt() = default;
  /// Any built-in integer converts implicitly, like Python ints mix with small ones.
  template <class I>
  requires(std::is_integral_v<I> && !std::is_same_v<I, bool>)
      BigInt(I v) {  // NOLINT(google-explicit-constructor)
    if constexpr (std::is_signed_v<I>) {
      set_signed(static_cast<std::int64_t>(v));
    } else {
      set_unsigned(static_cast<std::uint64_t>(v));
    }
  }

  /// Parses an optionally signed decimal integer. Throws ArgumentError on anything else.
  static BigInt from_string(std::string_view decimal);
  /// Reads little-endian two's complement bytes (Python's `int.from_bytes(b, "little",
  /// signed=True)`). Empty input is zero.
  static BigInt from_twos_complement_le(std::span<const std::byte> bytes);
  /// Builds a value from a sign and little-endian magnitude bytes.
  static BigInt from_magnitude_le(bool negative, std::span<const std::byte> magnitude);

  /// Decimal text, with a leading '-' when negative.
  std::string to_string() const;
  /// `(bit_length() + 8) / 8` bytes of little-endian two's complement: exactly what the Python
  /// reference puts in the `data` of `{"type": "int"}`.
  std::vector<std::byte> to_twos_complement_le() const;

  bool is_negative() const noexcept { return negative_; }
  bool is_zero() const noexcept { return magnitude_.empty(); }
  /// Number of bits of the magnitude, as Python's `int.bit_length()`.
  std::size_t bit_length() const noexcept;
  /// Little-endian magnitude without trailing zero bytes (empty for zero).
  std::span<const std::byte> magnitude_le() const noexcept { return magnitude_; }

  /// The value as int64_t / uint64_t when it fits.
  std::optional<std::int64_t> to_int64() const noexcept;
  std::optional<std::uint64_t> to_uint64() const noexcept;

  friend bool operator==(const BigInt&, const BigInt&) = default;
  friend std::strong_ordering operator<=>(const BigInt& a, const BigInt& b) noexcept;

 private:
  void set_signed(std::int64_t v);
  void set_unsigned(std::uint64_t v);
  bool negative_ = false;
  std::vector<std::byte> magnitude_;  // little-endian, no trailing zeros; empty means zero
};

}  // namespace tno::mpc::communication
