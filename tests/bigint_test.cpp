#include <gtest/gtest.h>

#include <random>

#include "test_util.hpp"
#include "tno/mpc/communication/gmp.hpp"

namespace tno::mpc::communication {
namespace {

// Python: x.to_bytes((x.bit_length() + 8) // 8, "little", signed=True), computed with GMP.
std::string python_twos_complement_hex(const mpz_class& x) {
  std::size_t bits = x == 0 ? 0 : mpz_sizeinbase(x.get_mpz_t(), 2);
  std::size_t n = (bits + 8) / 8;
  mpz_class modulus = mpz_class(1) << static_cast<mp_bitcnt_t>(8 * n);
  mpz_class u = x < 0 ? x + modulus : x;
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    unsigned byte = static_cast<unsigned>(mpz_class(u & 0xff).get_ui());
    char buf[3];
    std::snprintf(buf, sizeof buf, "%02x", byte);
    out += buf;
    u >>= 8;
  }
  return out;
}

TEST(BigInt, DecimalRoundTrip) {
  for (const char* s : {"0", "1", "-1", "255", "-256", "18446744073709551616",
                        "-9223372036854775809", "123456789012345678901234567890"}) {
    EXPECT_EQ(BigInt::from_string(s).to_string(), s);
  }
  EXPECT_EQ(BigInt::from_string("-0").to_string(), "0");
  EXPECT_EQ(BigInt::from_string("+5").to_string(), "5");
  EXPECT_THROW(BigInt::from_string(""), ArgumentError);
  EXPECT_THROW(BigInt::from_string("12a"), ArgumentError);
  EXPECT_THROW(BigInt::from_string("-"), ArgumentError);
}

TEST(BigInt, FitsChecksAtTheEdges) {
  EXPECT_EQ(BigInt::from_string("9223372036854775807").to_int64(), INT64_MAX);
  EXPECT_EQ(BigInt::from_string("-9223372036854775808").to_int64(), INT64_MIN);
  EXPECT_FALSE(BigInt::from_string("9223372036854775808").to_int64());
  EXPECT_FALSE(BigInt::from_string("-9223372036854775809").to_int64());
  EXPECT_EQ(BigInt::from_string("18446744073709551615").to_uint64(), UINT64_MAX);
  EXPECT_FALSE(BigInt::from_string("18446744073709551616").to_uint64());
  EXPECT_FALSE(BigInt(-1).to_uint64());
}

TEST(BigInt, OrderingMatchesIntegers) {
  EXPECT_LT(BigInt(-5), BigInt(-4));
  EXPECT_LT(BigInt(-1), BigInt(0));
  EXPECT_LT(BigInt(255), BigInt(256));
  EXPECT_GT(BigInt::from_string("-1"), BigInt::from_string("-100000000000000000000"));
}

TEST(BigInt, TwosComplementMatchesPythonForRandomValues) {
  std::mt19937_64 rng(20261124);
  gmp_randclass gmp_rng(gmp_randinit_default);
  gmp_rng.seed(42);
  for (int i = 0; i < 500; ++i) {
    mp_bitcnt_t bits = rng() % 2100;
    mpz_class x = gmp_rng.get_z_bits(bits);
    if (rng() % 2) x = -x;
    // Also the edges: powers of two and their neighbours.
    if (i % 5 == 0)
      x = (mpz_class(1) << bits) * (rng() % 2 ? 1 : -1) + static_cast<long>(rng() % 3) - 1;
    BigInt b = to_bigint(x);
    ASSERT_EQ(b.to_string(), x.get_str()) << x;
    ASSERT_EQ(test::to_hex(b.to_twos_complement_le()), python_twos_complement_hex(x)) << x;
    ASSERT_EQ(BigInt::from_twos_complement_le(b.to_twos_complement_le()), b) << x;
    ASSERT_EQ(to_mpz_class(b), x);
  }
}

}  // namespace
}  // namespace tno::mpc::communication
