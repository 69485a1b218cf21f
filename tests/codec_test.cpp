#include <gtest/gtest.h>

#include <array>
#include <bitset>
#include <cstring>
#include <deque>
#include <list>
#include <random>
#include <set>
#include <unordered_map>

#include "test_util.hpp"
#include "tno/mpc/communication/gmp.hpp"
#include "tno/mpc/communication/message.hpp"

namespace tno::mpc::communication {
namespace test_types {
// A decoder that reads only the first element of a list (for tests of decoders that stop short).
struct FirstOfList {
  int first = 0;
};
}  // namespace test_types
template <>
struct Codec<test_types::FirstOfList> {
  static void encode(Writer& w, const test_types::FirstOfList& v) {
    w.write_array_header(1);
    w.write_int(v.first);
  }
  static test_types::FirstOfList decode(Reader& r) {
    r.read_array_header();
    return {static_cast<int>(r.read_int64())};
  }
};
namespace {
using test_types::FirstOfList;

template <class T>
T round_trip(const T& v) {
  return decode<T>(encode(v).view());
}

// The typed path and the dynamic path must write the same bytes for the same value.
template <class T>
void expect_same_bytes_as_value(const T& typed, const Value& dynamic) {
  EXPECT_EQ(test::to_hex(encode(typed).view()), test::to_hex(encode(dynamic).view())) << dynamic;
  EXPECT_EQ(decode<Value>(encode(typed).view()), dynamic);
}

TEST(Codec, IntegersAroundEveryMsgpackBoundary) {
  // Each boundary of the msgpack integer families, and one step to each side.
  std::vector<std::int64_t> edges = {
      0,         127,          128,
      255,       256,          65535,
      65536,     4294967295LL, 4294967296LL,
      -1,        -32,          -33,
      -128,      -129,         -32768,
      -32769,    INT32_MIN,    static_cast<std::int64_t>(INT32_MIN) - 1,
      INT64_MIN, INT64_MAX};
  for (auto e : edges) {
    for (std::int64_t d : {-1, 0, 1}) {
      if ((e == INT64_MIN && d < 0) || (e == INT64_MAX && d > 0)) continue;
      std::int64_t v = e + d;
      EXPECT_EQ(round_trip(v), v);
      expect_same_bytes_as_value(v, Value(v));
      // Decoded as a value of arbitrary size, too.
      EXPECT_EQ(decode<BigInt>(encode(v).view()), BigInt(v));
    }
  }
  EXPECT_EQ(round_trip(UINT64_MAX), UINT64_MAX);
  EXPECT_EQ(encode(std::uint8_t{200}).size(), 2u);          // uint8
  EXPECT_EQ(encode(std::int64_t{127}).size(), 1u);          // positive fixint
  EXPECT_EQ(encode(std::int64_t{-32}).size(), 1u);          // negative fixint
  EXPECT_EQ(encode(INT64_MAX).data()[0], std::byte{0xcf});  // uint64, as the reference
}

// Reader::peek files every first byte in its family as the msgpack specification names them
// (0xc1, which msgpack never uses, is refused).
TEST(Wire, PeekFilesEveryFirstByteInItsFamily) {
  auto family = [](unsigned c) {
    if (c <= 0x7f || (c >= 0xcc && c <= 0xcf)) return WireType::uint;
    if (c >= 0xe0 || (c >= 0xd0 && c <= 0xd3)) return WireType::sint;
    if (c <= 0x8f || c == 0xde || c == 0xdf) return WireType::map;
    if (c <= 0x9f || c == 0xdc || c == 0xdd) return WireType::array;
    if (c <= 0xbf || (c >= 0xd9 && c <= 0xdb)) return WireType::str;
    if (c == 0xc0) return WireType::nil;
    if (c == 0xc2 || c == 0xc3) return WireType::boolean;
    if (c >= 0xc4 && c <= 0xc6) return WireType::bin;
    if (c == 0xca) return WireType::float32;
    if (c == 0xcb) return WireType::float64;
    return WireType::ext;  // 0xc7-0xc9 ext 8/16/32, 0xd4-0xd8 fixext
  };
  for (unsigned c = 0; c < 256; ++c) {
    const std::array<std::byte, 1> input{static_cast<std::byte>(c)};
    Reader r(input);
    if (c == 0xc1) {
      EXPECT_THROW(r.peek(), DecodeError);
    } else {
      EXPECT_EQ(r.peek(), family(c)) << "first byte 0x" << std::hex << c;
    }
  }
}

// The one-byte headers (fixstr, fixmap, fixarray, bin 8, fixint) are read apart from the general
// forms; both must take the same values and refuse the same truncations.
TEST(Wire, ShortFormsReadAndRefuseLikeTheGeneralForms) {
  auto bytes = [](std::initializer_list<unsigned> list) {
    std::vector<std::byte> out;
    for (unsigned b : list) out.push_back(static_cast<std::byte>(b));
    return out;
  };
  {
    auto in = bytes({0xa2, 'i', 'd', 0xd9, 0x02, 'i', 'd'});  // fixstr and str 8
    Reader r(in);
    EXPECT_EQ(r.read_str(), "id");
    EXPECT_EQ(r.read_str(), "id");
    EXPECT_TRUE(r.at_end());
  }
  // Each one byte short of its form's rule: a str or bin needs its n bytes, an array n, a map 2n.
  for (auto in : {bytes({0xa3, 'i', 'd'}), bytes({0xc4, 0x03, 1, 2}), bytes({0x82, 1, 2, 3}),
                  bytes({0x92, 0x01}), bytes({0xa1})}) {
    Reader r(in);
    switch (r.peek()) {
      case WireType::str:
        EXPECT_THROW(r.read_str(), DecodeError);
        break;
      case WireType::bin:
        EXPECT_THROW(r.read_bin(), DecodeError);
        break;
      case WireType::map:
        EXPECT_THROW(r.read_map_header(), DecodeError);
        break;
      default:
        EXPECT_THROW(r.read_array_header(), DecodeError);
        break;
    }
    EXPECT_EQ(r.offset(), 0u) << "a refused header is not consumed";
  }
  {
    auto in = bytes({0x81, 0x01, 0x02, 0x91, 0x03, 0xc4, 0x02, 7, 8, 0x00, 0x7f, 0xe0, 0xff});
    Reader r(in);
    EXPECT_EQ(r.read_map_header(), 1u);
    EXPECT_EQ(r.read_int64(), 1);
    EXPECT_EQ(r.read_int64(), 2);
    EXPECT_EQ(r.read_array_header(), 1u);
    EXPECT_EQ(r.read_int64(), 3);
    EXPECT_EQ(r.read_bin().size(), 2u);
    EXPECT_EQ(r.read_int64(), 0);
    EXPECT_EQ(r.read_int64(), 127);
    EXPECT_EQ(r.read_int64(), -32);
    EXPECT_EQ(r.read_int64(), -1);
    EXPECT_TRUE(r.at_end());
  }
  {
    auto in = bytes({0xa1, 'x'});  // a str is not a bin, nor an int
    Reader r(in);
    EXPECT_THROW(r.read_bin(), TypeMismatchError);
    EXPECT_THROW(r.read_int64(), TypeMismatchError);
  }
}

TEST(Codec, NarrowIntegersRejectWhatDoesNotFit) {
  EXPECT_EQ(decode<std::int8_t>(encode(-128).view()), -128);
  EXPECT_THROW(decode<std::int8_t>(encode(128).view()), TypeMismatchError);
  EXPECT_THROW(decode<std::int8_t>(encode(-129).view()), TypeMismatchError);
  EXPECT_THROW(decode<std::uint32_t>(encode(-1).view()), TypeMismatchError);
  EXPECT_THROW(decode<std::int64_t>(encode(UINT64_MAX).view()), TypeMismatchError);
  EXPECT_THROW(decode<std::int64_t>(encode(BigInt::from_string("1" + std::string(20, '0'))).view()),
               TypeMismatchError);
}

TEST(Codec, BigIntegersOfRandomSizesBothSigns) {
  gmp_randclass rng(gmp_randinit_default);
  rng.seed(7);
  std::mt19937 sizes(7);
  for (int i = 0; i < 300; ++i) {
    mpz_class x = rng.get_z_bits(sizes() % 4200);
    if (i % 2) x = -x;
    EXPECT_EQ(round_trip(x), x);
    expect_same_bytes_as_value(x, Value(to_bigint(x)));
    EXPECT_EQ(decode<BigInt>(encode(x).view()), to_bigint(x));
    Gmpy2Mpz m{x};
    EXPECT_EQ(round_trip(m), m);
    expect_same_bytes_as_value(m, Value(Mpz{to_bigint(x)}));
  }
  // Exactly 2^64, and -2^63 - 1: the first values that need the typed "int" form.
  mpz_class two64 = mpz_class(1) << 64;
  EXPECT_EQ(test::to_hex(encode(two64).view()).substr(0, 2), "82");  // fixmap(2)
  EXPECT_EQ(round_trip(two64), two64);
  mpz_class below = -(mpz_class(1) << 63) - 1;
  EXPECT_EQ(round_trip(below), below);
}

TEST(Codec, FloatsKeepTheirExactValue) {
  for (double d : {0.0, -0.0, 0.1, 1e308, 5e-324, -2.5}) {
    double back = round_trip(d);
    EXPECT_EQ(std::signbit(back), std::signbit(d));
    EXPECT_EQ(back, d);
  }
  EXPECT_TRUE(std::isnan(round_trip(std::nan(""))));
  EXPECT_EQ(round_trip(3.1f), 3.1f);
  EXPECT_EQ(encode(1.0f).size(), 5u);  // float32, like a numpy float32
  EXPECT_EQ(decode<double>(encode(3.1f).view()), static_cast<double>(3.1f));
  EXPECT_EQ(decode<double>(encode(7).view()), 7.0);  // Python sends 7 for 7.0 at times
}

TEST(Codec, StringsBytesAndOptionals) {
  EXPECT_EQ(round_trip(std::string("h\u00e9llo")), "h\u00e9llo");
  std::string big(70000, 'x');
  EXPECT_EQ(round_trip(big), big);
  Bytes bytes{std::byte{0}, std::byte{255}};
  EXPECT_EQ(round_trip(bytes), bytes);
  expect_same_bytes_as_value(bytes, Value(bytes));
  EXPECT_EQ(round_trip(std::optional<int>{}), std::nullopt);
  EXPECT_EQ(round_trip(std::optional<int>{4}), 4);
  ByteBuffer buf = encode(std::string_view("abc"));
  EXPECT_EQ(decode<std::string_view>(buf.view()), "abc");  // a view into buf
  EXPECT_THROW(decode<std::string>(encode(bytes).view()), TypeMismatchError);
}

TEST(Codec, SequencesMapsAndTuples) {
  EXPECT_EQ(round_trip(std::vector<int>{1, 2, 3}), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(round_trip(std::vector<double>{1.5, -2}), (std::vector<double>{1.5, -2}));
  EXPECT_EQ(round_trip(std::list<std::string>{"a", "b"}), (std::list<std::string>{"a", "b"}));
  EXPECT_EQ(round_trip(std::deque<bool>{true, false}), (std::deque<bool>{true, false}));
  EXPECT_EQ(round_trip(std::set<int>{3, 1}), (std::set<int>{1, 3}));
  EXPECT_EQ(round_trip(std::array<int, 3>{1, 2, 3}), (std::array<int, 3>{1, 2, 3}));
  EXPECT_THROW((decode<std::array<int, 2>>(encode(std::vector<int>{1}).view())), TypeMismatchError);
  std::map<std::string, std::vector<int>> m{{"a", {1}}, {"b", {}}};
  EXPECT_EQ(round_trip(m), m);
  std::unordered_map<std::string, double> um{{"x", 1.5}};
  EXPECT_EQ(round_trip(um), um);
  auto t = std::make_tuple(1, std::string("a"), std::vector<double>{2.5});
  EXPECT_EQ(round_trip(t), t);
  expect_same_bytes_as_value(t, Value::tuple({1, "a", Value::list({2.5})}));
  expect_same_bytes_as_value(std::pair<int, bool>{1, true}, Value::tuple({1, true}));
  expect_same_bytes_as_value(std::vector<std::vector<int>>{{1}, {}},
                             Value::list({Value::list({1}), Value::list({})}));
  expect_same_bytes_as_value(m, Value::dict({{"a", Value::list({1})}, {"b", Value::list({})}}));
  EXPECT_THROW((decode<std::tuple<int, int>>(encode(std::make_tuple(1)).view())),
               TypeMismatchError);
  // A tuple is not a list, nor the reverse: the wire says which it is.
  EXPECT_THROW((decode<std::vector<int>>(encode(std::make_tuple(1)).view())), TypeMismatchError);
  EXPECT_THROW((decode<std::tuple<int>>(encode(std::vector<int>{1}).view())), TypeMismatchError);
}

enum class Color { red = 1, blue = 7 };
enum Plain : std::uint8_t { kA = 200 };

TEST(Codec, EnumsTravelAsTheirValue) {
  EXPECT_EQ(test::to_hex(encode(Color::blue).view()), "07");
  EXPECT_EQ(round_trip(Color::blue), Color::blue);
  EXPECT_EQ(round_trip(kA), kA);
}

TEST(Codec, BitArraysAndBitsets) {
  BitArray b{{true, false, true, true, false, false, true, true, true, false, true},
             BitArray::Endian::little};
  EXPECT_EQ(round_trip(b), b);
  b.endian = BitArray::Endian::big;
  EXPECT_EQ(round_trip(b), b);
  std::bitset<10> bits("1000000011");
  EXPECT_EQ(round_trip(bits), bits);
  EXPECT_THROW(decode<std::bitset<9>>(encode(bits).view()), TypeMismatchError);
}

// A custom class whose serializer sees who sends and who receives.
struct Share {
  static constexpr std::string_view mpc_type_name = "Share";
  std::int64_t value = 0;
  std::string seen = {};
  std::tuple<std::int64_t, std::string> serialize(const SerializationContext& ctx) const {
    return {value, std::string(ctx.origin) + "->" + std::string(ctx.destination)};
  }
  static Share deserialize(std::tuple<std::int64_t, std::string> data,
                           const SerializationContext& ctx) {
    return {std::get<0>(data), std::get<1>(data) + " at " + std::string(ctx.destination)};
  }
};

// Nests another custom class.
struct Pair {
  static constexpr std::string_view mpc_type_name = "Pair";
  std::vector<Share> shares;
  std::vector<Share> serialize() const { return shares; }
  static Pair deserialize(std::vector<Share> s) { return {std::move(s)}; }
};

struct OtherShare {
  static constexpr std::string_view mpc_type_name = "Share";
  int x = 0;
  int serialize() const { return x; }
  static OtherShare deserialize(int x) { return {x}; }
};

class CustomClassTest : public ::testing::Test {
 protected:
  void SetUp() override { Serialization::clear(); }
  void TearDown() override { Serialization::clear(); }
};

TEST_F(CustomClassTest, MustBeRegisteredBeforeUse) {
  try {
    encode(Share{1});
    FAIL() << "no exception";
  } catch (const SerializationError& e) {
    EXPECT_NE(std::string(e.what()).find("'Share' is not registered"), std::string::npos);
  }
  Serialization::register_class<Share>();
  EXPECT_TRUE(Serialization::is_registered("Share"));
  EXPECT_NO_THROW(encode(Share{1}));
  Serialization::clear();
  EXPECT_FALSE(Serialization::is_registered("Share"));
  EXPECT_THROW(encode(Share{1}), SerializationError);
}

TEST_F(CustomClassTest, SerializersSeeOriginAndDestination) {
  Serialization::register_class<Share>();
  SerializationContext sending{"alice", "bob"};
  ByteBuffer bytes = encode(Share{5}, sending);
  EXPECT_EQ(decode<Value>(bytes.view()), Value(Typed("Share", Value::tuple({5, "alice->bob"}))));
  Share back = decode<Share>(bytes.view(), {}, SerializationContext{"alice", "bob"});
  EXPECT_EQ(back.value, 5);
  EXPECT_EQ(back.seen, "alice->bob at bob");
}

TEST_F(CustomClassTest, CustomClassesNest) {
  Serialization::register_class<Share>();
  Serialization::register_class<Pair>();
  Pair p{{Share{1}, Share{2}}};
  Pair back = round_trip(p);
  ASSERT_EQ(back.shares.size(), 2u);
  EXPECT_EQ(back.shares[1].value, 2);
  Value dynamic = decode<Value>(encode(p).view());
  EXPECT_EQ(dynamic.as_typed().type(), "Pair");
  EXPECT_EQ(dynamic.as_typed().data()[0].as_typed().type(), "Share");
  // The dynamic value converts to the class, and re-encodes to the same bytes.
  EXPECT_EQ(dynamic.as<Pair>().shares[0].value, 1);
  EXPECT_EQ(test::to_hex(encode(dynamic).view()), test::to_hex(encode(p).view()));
}

TEST_F(CustomClassTest, NameClashesAreErrorsUnlessOverwriting) {
  Serialization::register_class<Share>();
  EXPECT_NO_THROW(Serialization::register_class<Share>());  // same type again: harmless
  EXPECT_THROW(Serialization::register_class<OtherShare>(), ConfigurationError);
  Serialization::register_class<OtherShare>({.overwrite = true});
  EXPECT_THROW(encode(Share{1}), SerializationError);  // replaced
  EXPECT_EQ(round_trip(OtherShare{3}).x, 3);
  EXPECT_EQ(Serialization::registered_names(), std::vector<std::string>{"Share"});
}

struct Reserved {
  static constexpr std::string_view mpc_type_name = "tuple";
  int serialize() const { return 0; }
  static Reserved deserialize(int) { return {}; }
};

TEST_F(CustomClassTest, BuiltInNamesCannotBeTaken) {
  EXPECT_THROW(Serialization::register_class<Reserved>(), ConfigurationError);
}

TEST_F(CustomClassTest, UnknownTypeNamesPassThroughIntact) {
  Value alien(Typed(
      "SomePythonClass",
      Value::dict({{"a", Value::list({1, BigInt::from_string("-99999999999999999999999")})}})));
  ByteBuffer bytes = encode(alien);
  Value back = decode<Value>(bytes.view());
  EXPECT_EQ(back, alien);
  EXPECT_EQ(test::to_hex(encode(back).view()), test::to_hex(bytes.view()));
}

TEST_F(CustomClassTest, DecodingIntoTheWrongClassSaysWhatArrived) {
  Serialization::register_class<Share>();
  Serialization::register_class<Pair>();
  try {
    decode<Pair>(encode(Share{1}).view());
    FAIL() << "no exception";
  } catch (const TypeMismatchError& e) {
    EXPECT_NE(std::string(e.what()).find("expected Pair, got typed value 'Share'"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(decode<Share>(encode(std::vector<int>{}).view()), TypeMismatchError);
  EXPECT_THROW(decode<int>(encode(Share{1}).view()), TypeMismatchError);
  // A typed value is not a dict, though it is a msgpack map.
  EXPECT_THROW((decode<std::map<std::string, Value>>(encode(Share{1}).view())), TypeMismatchError);
  EXPECT_THROW((decode<std::map<std::string, Value>>(encode(std::make_pair(1, 2)).view())),
               TypeMismatchError);
}

TEST(Envelope, PacksObjectThenIdLikeTheReference) {
  ByteBuffer b = pack_message(std::string("payload"), MessageId(42));
  EXPECT_EQ(test::to_hex(b.view()),
            test::to_hex(test::read_file(test::data_path("vectors/msgid_int.msgpack"))));
  auto m = unpack_message<std::string>(b.view());
  EXPECT_EQ(m.object, "payload");
  EXPECT_EQ(m.id, MessageId(42));
  EXPECT_TRUE(m.id.is_int());
}

TEST(Envelope, Python5WrapsThePayloadInABin) {
  // Bytes of tno.mpc.communication 5.0.4's DefaultPacker().pack(obj, id), captured with it.
  using test::from_hex;
  auto v5 = [](const auto& object, const std::string& id) {
    return pack_message(object, MessageId(id), {}, WireFormat::v5).to_bytes();
  };
  EXPECT_EQ(v5(std::string("hi"), "x"), from_hex("82a66f626a656374c403a26869a26964a178"));
  EXPECT_EQ(v5(BigInt::from_string("1180591620717411303424"), "3"),
            from_hex("82a66f626a656374c41a82a474797065a3696e74a464617461c409000000000000000040"
                     "a26964a133"));
  // The bin header is the smallest form for the payload: bin8, bin16 and bin32.
  for (std::size_t n : {std::size_t{10}, std::size_t{300}, std::size_t{70000}}) {
    Bytes payload(n, std::byte{7});
    auto packed = pack_message(payload, MessageId("x"), {}, WireFormat::v5);
    auto back = unpack_message<Bytes>(packed.view(), {}, {}, WireFormat::v5);
    EXPECT_EQ(back.object, payload);
    auto inner_header = std::to_integer<int>(packed.data()[8]);
    EXPECT_EQ(inner_header, n + 2 <= 0xff ? 0xc4 : n + 3 <= 0xffff ? 0xc5 : 0xc6) << n;
  }
  // A 4.x message is not a 5.x one, and the reverse: each side says so.
  auto v4 = pack_message(std::string("hi"), MessageId("x"));
  EXPECT_THROW(unpack_message<std::string>(v4.view(), {}, {}, WireFormat::v5), DecodeError);
  EXPECT_THROW(unpack_message<std::string>(
                   as_bytes(std::string_view("\x82\xa6object\xc4\x03\xa2hi\xa2id\xa1x")), {}, {},
                   WireFormat::v4),
               TypeMismatchError);
}

TEST(Envelope, AcceptsKeysInAnyOrderAndIgnoresOthers) {
  ByteBuffer b;
  Writer w(b);
  w.write_map_header(3);
  w.write_str("id");
  w.write_str("x");
  w.write_str("extra");
  w.write_nil();
  w.write_str("object");
  w.write_int(-5);
  auto m = unpack_message<int>(b.view());
  EXPECT_EQ(m.object, -5);
  EXPECT_EQ(m.id, MessageId("x"));
}

TEST(Envelope, PrefixesIdsLikeTheReference) {
  EXPECT_EQ(MessageId(7).with_prefix("session1-"), MessageId("session1-7"));
  EXPECT_EQ(MessageId("opY").with_prefix("session1-"), MessageId("session1-opY"));
  EXPECT_EQ(MessageId(7).to_string(), "7");
  EXPECT_EQ(MessageId(-7).to_string(), "-7");
  EXPECT_EQ(MessageId::from_value(Value(UINT64_MAX)).to_string(), "18446744073709551615");
  EXPECT_EQ(MessageId::from_value(Value(BigInt::from_string("-18446744073709551617"))).to_string(),
            "-18446744073709551617");
  EXPECT_THROW(MessageId::from_value(Value(1.5)), SerializationError);
}

// A receiver checks a message once (check_message) and decodes its payload from where the check
// found it (decode_received): the same object, and the same errors at the same offsets, as
// unpacking the whole message.
TEST(Envelope, DecodingTheCheckedPayloadIsUnpackingTheMessage) {
  for (WireFormat format : {WireFormat::v4, WireFormat::v5}) {
    SCOPED_TRACE(format == WireFormat::v4 ? "4.x" : "5.x");
    const auto object = std::make_tuple(std::string("hi"), -3, Bytes(300, std::byte{7}));
    const ByteBuffer packed = pack_message(object, MessageId(12), {}, format);
    ReceivedBody body(std::string(reinterpret_cast<const char*>(packed.data()), packed.size()));
    CheckedMessage checked = check_message(body.bytes(), {}, format);
    EXPECT_EQ(checked.id, MessageId(12));
    EXPECT_EQ(test::to_hex(checked.payload), test::to_hex(encode(object).view()));
    body.note_payload(checked.payload);
    EXPECT_EQ((decode_received<decltype(object)>(body, {}, {}, format)), object);
    EXPECT_EQ(decode_received<Value>(body, {}, {}, format),
              unpack_message<Value>(body.bytes(), {}, {}, format).object);
    // Decoded as what it is not: the error, and the byte it points at, are unpacking's.
    using Wrong = std::tuple<int, std::string, Bytes>;
    std::string unpack_error;
    std::string decode_error;
    try {
      unpack_message<Wrong>(body.bytes(), {}, {}, format);
    } catch (const TypeMismatchError& e) {
      unpack_error = e.what();
    }
    try {
      decode_received<Wrong>(body, {}, {}, format);
    } catch (const TypeMismatchError& e) {
      decode_error = e.what();
    }
    EXPECT_NE(decode_error.find("(at byte "), std::string::npos) << decode_error;
    EXPECT_EQ(decode_error, unpack_error);
  }
  // A body nobody checked is unpacked whole.
  const ByteBuffer packed = pack_message(std::string("x"), MessageId(1));
  ReceivedBody unchecked(std::string(reinterpret_cast<const char*>(packed.data()), packed.size()));
  EXPECT_EQ(decode_received<std::string>(unchecked, {}, {}, WireFormat::v4), "x");
}

// decode_received reads the noted payload, not the envelope again: a decoder that stops inside
// the object is told so, where unpacking the whole message trips over the bytes after it.
TEST(Envelope, DecodingTheCheckedPayloadNoticesADecoderThatStopsShort) {
  for (WireFormat format : {WireFormat::v4, WireFormat::v5}) {
    SCOPED_TRACE(format == WireFormat::v4 ? "4.x" : "5.x");
    const ByteBuffer packed = pack_message(std::vector<int>{1, 2}, MessageId(3), {}, format);
    ReceivedBody body(std::string(reinterpret_cast<const char*>(packed.data()), packed.size()));
    body.note_payload(check_message(body.bytes(), {}, format).payload);
    try {
      decode_received<FirstOfList>(body, {}, {}, format);
      ADD_FAILURE() << "a decoder that stops short was not noticed";
    } catch (const DecodeError& e) {
      EXPECT_NE(std::string(e.what()).find(format == WireFormat::v4 ? "did not read exactly"
                                                                    : "trailing bytes"),
                std::string::npos)
          << e.what();
    }
  }
}

TEST(Envelope, NilPayloadIsAPayload) {
  auto m = unpack_message<Value>(pack_message(nullptr, MessageId(0)).view());
  EXPECT_TRUE(m.object.is_nil());
}

}  // namespace
}  // namespace tno::mpc::communication

namespace tno::mpc::communication {
namespace {

// Random Value trees of every kind, seeded: encode, decode, compare; and the bytes are stable
// under a second round trip.
Value random_value(std::mt19937_64& rng, int depth) {
  auto pick = rng() % (depth > 3 ? 9 : 14);
  auto random_int = [&]() -> Value {
    switch (rng() % 4) {
      case 0:
        return Value(static_cast<std::int64_t>(rng()));
      case 1:
        return Value(rng());
      case 2:
        return Value(static_cast<std::int64_t>(rng() % 300) - 150);
      default: {
        std::string digits = std::to_string(rng()) + std::to_string(rng()) + std::to_string(rng());
        return Value(BigInt::from_string((rng() % 2 ? "-" : "") + digits));
      }
    }
  };
  auto random_str = [&] {
    std::string s;
    for (auto n = rng() % 40; n > 0; --n) s += static_cast<char>('a' + rng() % 26);
    if (rng() % 4 == 0) s += "\u20ac\U0001D11E";
    return s;
  };
  switch (pick) {
    case 0:
      return Value();
    case 1:
      return Value(rng() % 2 == 0);
    case 2:
    case 3:
      return random_int();
    case 4: {
      double d;
      std::uint64_t bits = rng();
      std::memcpy(&d, &bits, sizeof d);
      return Value(d);
    }
    case 5:
      return Value(random_str());
    case 6: {
      Bytes b(rng() % 300);
      for (auto& x : b) x = static_cast<std::byte>(rng());
      return Value(b);
    }
    case 7:
      return Value(Mpz{random_int().as_bigint()});
    case 8: {
      BitArray b;
      for (auto n = rng() % 30; n > 0; --n) b.bits.push_back(rng() % 2);
      b.endian = rng() % 2 ? BitArray::Endian::big : BitArray::Endian::little;
      return Value(b);
    }
    case 9: {
      Value::List items;
      for (auto n = rng() % 6; n > 0; --n) items.push_back(random_value(rng, depth + 1));
      return Value(items);
    }
    case 10: {
      Tuple t;
      for (auto n = rng() % 4; n > 0; --n) t.items.push_back(random_value(rng, depth + 1));
      return Value(t);
    }
    case 11: {
      Dict d;
      for (auto n = rng() % 5; n > 0; --n)
        d.set(Value("k" + random_str()), random_value(rng, depth + 1));
      return Value(d);
    }
    case 12: {
      NdArray a;
      a.shape = {rng() % 3, rng() % 3};
      for (std::uint64_t i = 0; i < a.shape[0] * a.shape[1]; ++i) {
        a.elements.push_back(random_value(rng, depth + 1));
      }
      return Value(a);
    }
    default:
      return Value(Typed("Custom" + random_str().substr(0, 5), random_value(rng, depth + 1)));
  }
}

TEST(Codec, RandomValueTreesRoundTrip) {
  std::mt19937_64 rng(99);
  for (int i = 0; i < 3000; ++i) {
    Value v = random_value(rng, 0);
    ByteBuffer bytes = encode(v);
    Value back = decode<Value>(bytes.view());
    if (v.is_ndarray() && v.as_ndarray().elements.empty() && v.as_ndarray().shape[0] != 0) {
      // A (k, 0) array is [[], ...] on the wire: still an ndarray of that shape.
      EXPECT_EQ(back, v);
      continue;
    }
    ASSERT_EQ(back, v) << v;
    ASSERT_EQ(test::to_hex(encode(back).view()), test::to_hex(bytes.view())) << v;
  }
}

}  // namespace
}  // namespace tno::mpc::communication
