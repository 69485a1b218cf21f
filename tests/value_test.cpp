#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <type_traits>

#include "tno/mpc/communication/codec.hpp"

namespace tno::mpc::communication {
namespace {

TEST(Value, ConstructionAndKinds) {
  EXPECT_TRUE(Value().is_nil());
  EXPECT_TRUE(Value(nullptr).is_nil());
  EXPECT_TRUE(Value(true).is_bool());
  EXPECT_TRUE(Value(3).is_int());
  EXPECT_TRUE(Value(std::uint64_t{1} << 63).is_int());
  EXPECT_TRUE(Value(BigInt::from_string("1" + std::string(40, '0'))).is_int());
  EXPECT_TRUE(Value(1.5).is_float());
  EXPECT_TRUE(Value(1.5f).is_float());
  EXPECT_TRUE(Value("x").is_str());
  EXPECT_TRUE(Value::bytes("x").is_bytes());
  EXPECT_TRUE(Value::list({1, 2}).is_list());
  EXPECT_TRUE(Value::tuple({1, 2}).is_tuple());
  EXPECT_TRUE(Value::dict({{"a", 1}}).is_dict());
  EXPECT_TRUE(Value(Mpz{BigInt(5)}).is_mpz());
  EXPECT_TRUE(Value(BitArray{}).is_bitarray());
  EXPECT_TRUE(Value(NdArray{{}, {Value(1)}}).is_ndarray());
  EXPECT_TRUE(Value(Typed("Point", Value::dict({{"x", 1}}))).is_typed());
}

TEST(Value, IntegersHaveOneRepresentationPerNumber) {
  // However an integer is built, equal numbers compare equal.
  EXPECT_EQ(Value(5), Value(BigInt(5)));
  EXPECT_EQ(Value(std::uint8_t{5}), Value(std::int64_t{5}));
  EXPECT_EQ(Value(UINT64_MAX), Value(BigInt::from_string("18446744073709551615")));
  EXPECT_EQ(Value(INT64_MIN), Value(BigInt::from_string("-9223372036854775808")));
  EXPECT_NE(Value(1), Value(true));
  EXPECT_NE(Value(1), Value(1.0));
}

TEST(Value, IntegersThatFitAreGivenWithoutThrowing) {
  EXPECT_EQ(Value(INT64_MIN).to_int64(), INT64_MIN);
  EXPECT_EQ(Value(INT64_MAX).to_int64(), INT64_MAX);
  EXPECT_EQ(Value(INT64_MAX).to_uint64(), std::uint64_t{INT64_MAX});
  EXPECT_EQ(Value(UINT64_MAX).to_uint64(), UINT64_MAX);
  EXPECT_EQ(Value(BigInt(7)).to_int64(), 7);  // however it was built
  EXPECT_FALSE(Value(UINT64_MAX).to_int64());
  EXPECT_FALSE(Value(-1).to_uint64());
  EXPECT_FALSE(Value(BigInt::from_string("18446744073709551616")).to_uint64());
  EXPECT_FALSE(Value(BigInt::from_string("-9223372036854775809")).to_int64());
  EXPECT_FALSE(Value("1").to_int64());
  EXPECT_FALSE(Value(1.0).to_uint64());
  EXPECT_FALSE(Value(true).to_int64());
}

TEST(Value, AccessorsThrowNamingBothKinds) {
  Value s("text");
  try {
    (void)s.as_int64();
    FAIL() << "no exception";
  } catch (const TypeMismatchError& e) {
    EXPECT_STREQ(e.what(), "expected int, got str");
  }
  EXPECT_THROW((void)Value(1).as_str(), TypeMismatchError);
  EXPECT_THROW((void)Value::list({}).as_dict(), TypeMismatchError);
  EXPECT_THROW((void)Value(BigInt::from_string("1" + std::string(30, '0'))).as_int64(),
               TypeMismatchError);
  EXPECT_THROW((void)Value(-1).as_uint64(), TypeMismatchError);
  EXPECT_EQ(Value(UINT64_MAX).as_uint64(), UINT64_MAX);
  EXPECT_EQ(Value(2).as_double(), 2.0);
}

// One error model: every exception the library throws derives from Error, and an integer that
// does not fit is the same error on the dynamic path as on the typed one.
TEST(Value, ErrorsDeriveFromTheLibrarysError) {
  static_assert(std::is_base_of_v<Error, SerializationError>);
  static_assert(std::is_base_of_v<Error, TypeMismatchError>);
  static_assert(std::is_base_of_v<Error, DecodeError>);
  static_assert(std::is_base_of_v<Error, ConfigurationError>);
  static_assert(std::is_base_of_v<Error, ArgumentError>);
  static_assert(std::is_base_of_v<Error, LookupError>);
  static_assert(std::is_base_of_v<Error, DeliveryError>);
  static_assert(std::is_base_of_v<Error, TimeoutError>);
  static_assert(std::is_base_of_v<Error, ShutdownError>);
  Value big(BigInt::from_string("1" + std::string(30, '0')));
  EXPECT_THROW((void)big.as_int64(), TypeMismatchError);
  EXPECT_THROW((void)decode<std::int64_t>(encode(big).view()), TypeMismatchError);
  EXPECT_THROW((void)Value::list({})[0], Error);
  EXPECT_THROW((void)BigInt::from_string("x"), Error);
}

TEST(Value, IndexingListsTuplesAndDicts) {
  Value v = Value::list({1, Value::tuple({"a", "b"}), Value::dict({{"k", 2.5}})});
  EXPECT_EQ(v[1][1].as_str(), "b");
  EXPECT_EQ(v[2]["k"].as_double(), 2.5);
  EXPECT_EQ(v.size(), 3u);
  EXPECT_THROW((void)v[3], LookupError);
  EXPECT_THROW((void)v[2]["missing"], LookupError);
}

TEST(Value, DictKeepsInsertionOrderAndReplacesInPlace) {
  Dict d{{"b", 1}, {"a", 2}};
  d.set("b", 3);
  d.set("c", 4);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d.entries()[0].first, Value("b"));
  EXPECT_EQ(d.entries()[0].second, Value(3));
  EXPECT_EQ(d.entries()[2].first, Value("c"));
}

TEST(Value, FloatEqualityIsIdentity) {
  EXPECT_EQ(Value(std::nan("")), Value(std::nan("")));
  EXPECT_NE(Value(0.0), Value(-0.0));
  EXPECT_EQ(Value(0.1), Value(0.1));
}

TEST(Value, PrintsLikePython) {
  Value v = Value::list({nullptr, true, -3, 1.5, 1e16, 0.0001, 1e-5, "it's", Value::bytes("a\x01"),
                         Value::tuple({1}), Value::dict({{"k", Value::list({})}}),
                         Value(Mpz{BigInt(7)})});
  EXPECT_EQ(v.to_string(),
            "[None, True, -3, 1.5, 1e+16, 0.0001, 1e-05, \"it's\", b'a\\x01', (1,), {'k': []}, "
            "mpz(7)]");
  BitArray bits{{true, false, true}, BitArray::Endian::little};
  EXPECT_EQ(Value(bits).to_string(), "bitarray('101', endian='little')");
  NdArray a{{2, 2}, {1, 2, 3, 4}};
  EXPECT_EQ(Value(a).to_string(), "array([[1, 2], [3, 4]], dtype=object)");
  EXPECT_EQ(Value(Typed("Point", Value::dict({{"x", 1}}))).to_string(), "Point({'x': 1})");
  std::ostringstream os;
  os << Value(2.0);
  EXPECT_EQ(os.str(), "2.0");
}

TEST(Value, ConvertsToTypesThroughTheirCodec) {
  Value v = Value::list({1, 2, 3});
  EXPECT_EQ(v.as<std::vector<int>>(), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ((Value::tuple({1, "a"}).as<std::pair<int, std::string>>()),
            (std::pair<int, std::string>{1, "a"}));
  EXPECT_THROW(v.as<std::string>(), TypeMismatchError);
}

}  // namespace
}  // namespace tno::mpc::communication
