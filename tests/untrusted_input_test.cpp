// Bytes from the network are untrusted: every malformed input gives a DecodeError (or another
// SerializationError), never a crash, a hang, or an allocation the input does not justify.
// These tests also run under ASan+UBSan in CI.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "test_util.hpp"
#include "tno/mpc/communication/codec.hpp"
#include "tno/mpc/communication/message.hpp"

namespace tno::mpc::communication {
namespace {

Bytes hex(std::string_view h) {
  return test::from_hex(h);
}

std::vector<Bytes> all_vectors() {
  std::vector<Bytes> out;
  for (const auto& entry : std::filesystem::directory_iterator(test::data_path("vectors"))) {
    if (entry.path().extension() == ".msgpack") out.push_back(test::read_file(entry.path()));
  }
  return out;
}

TEST(UntrustedInput, EveryTruncationOfEveryVectorIsADecodeError) {
  auto vectors = all_vectors();
  ASSERT_GT(vectors.size(), 80u);
  for (const auto& v : vectors) {
    for (std::size_t n = 0; n < v.size(); ++n) {
      std::span<const std::byte> prefix(v.data(), n);
      EXPECT_THROW(unpack_message<Value>(prefix), DecodeError) << "prefix of " << n;
      EXPECT_THROW(decode<Value>(prefix), DecodeError) << "prefix of " << n;
    }
  }
}

TEST(UntrustedInput, LengthsBeyondTheInputAreRejectedBeforeAllocating) {
  // array32/map32/str32/bin32 headers that claim 4 billion elements or bytes.
  for (const char* h : {"ddffffffff", "dfffffffff", "dbffffffff41", "c6ffffffff00", "dc0010",
                        "de0001", "d9ff41", "c4ff00", "c7ff0100"}) {
    EXPECT_THROW(decode<Value>(hex(h)), DecodeError) << h;
    EXPECT_THROW(decode<std::vector<double>>(hex(h)), SerializationError) << h;
    EXPECT_THROW(decode<std::vector<std::string>>(hex(h)), SerializationError) << h;
  }
}

TEST(UntrustedInput, TrailingBytesAndInvalidTypeBytes) {
  EXPECT_THROW(decode<Value>(hex("0101")), DecodeError);
  EXPECT_THROW(decode<Value>(hex("c1")), DecodeError);
  EXPECT_THROW(decode<Value>(hex("")), DecodeError);
  EXPECT_THROW(decode<Value>(hex("d40100")), DecodeError);  // ext types are not used
  EXPECT_THROW(decode<int>(hex("c1")), DecodeError);
}

TEST(UntrustedInput, NestingIsBoundedOnEveryPath) {
  const std::size_t depth = 100000;
  Bytes deep(depth, std::byte{0x91});  // [[[[...
  deep.push_back(std::byte{0x00});
  EXPECT_THROW(decode<Value>(deep), DecodeError);
  Reader r(deep);
  EXPECT_THROW(r.skip(), DecodeError);

  // Inside an envelope, under a key that is skipped.
  ByteBuffer msg;
  Writer w(msg);
  w.write_map_header(3);
  w.write_str("junk");
  w.write_raw(deep);
  w.write_str("object");
  w.write_nil();
  w.write_str("id");
  w.write_uint(0);
  EXPECT_THROW(unpack_message<Value>(msg.view()), DecodeError);

  // Maps nest too.
  Bytes maps;
  for (std::size_t i = 0; i < depth; ++i) {
    maps.push_back(std::byte{0x81});
    maps.push_back(std::byte{0xa1});
    maps.push_back(std::byte{'k'});
  }
  maps.push_back(std::byte{0xc0});
  EXPECT_THROW(decode<Value>(maps), DecodeError);

  // The typed path too.
  using Deep = std::vector<std::vector<std::vector<int>>>;
  DecodeLimits shallow;
  shallow.max_depth = 2;
  EXPECT_THROW(decode<Deep>(encode(Deep{{{1}}}).view(), shallow), DecodeError);
  EXPECT_NO_THROW(decode<Deep>(encode(Deep{{{1}}}).view()));

  // Depth within the limit is fine.
  Bytes ok(100, std::byte{0x91});
  ok.push_back(std::byte{0x00});
  EXPECT_NO_THROW(decode<Value>(ok));
}

TEST(UntrustedInput, InputSizeIsBounded) {
  DecodeLimits small;
  small.max_input_bytes = 4;
  EXPECT_THROW(decode<Value>(encode(std::string("hello")).view(), small), DecodeError);
  EXPECT_NO_THROW(decode<Value>(encode(std::string("hi")).view(), small));
}

TEST(UntrustedInput, MalformedEnvelopes) {
  auto pack = [](auto&& build) {
    ByteBuffer b;
    Writer w(b);
    build(w);
    return b;
  };
  auto no_id = pack([](Writer& w) {
    w.write_map_header(1);
    w.write_str("object");
    w.write_nil();
  });
  auto no_object = pack([](Writer& w) {
    w.write_map_header(1);
    w.write_str("id");
    w.write_uint(1);
  });
  auto float_id = pack([](Writer& w) {
    w.write_map_header(2);
    w.write_str("object");
    w.write_nil();
    w.write_str("id");
    w.write_float64(1);
  });
  auto int_key = pack([](Writer& w) {
    w.write_map_header(1);
    w.write_uint(1);
    w.write_nil();
  });
  auto twice = pack([](Writer& w) {
    w.write_map_header(3);
    w.write_str("object");
    w.write_nil();
    w.write_str("object");
    w.write_nil();
    w.write_str("id");
    w.write_uint(1);
  });
  auto not_map = pack([](Writer& w) { w.write_array_header(0); });
  for (const auto* b : {&no_id, &no_object, &float_id, &int_key, &twice, &not_map}) {
    EXPECT_THROW(unpack_message<Value>(b->view()), DecodeError) << test::to_hex(b->view());
  }
}

TEST(UntrustedInput, MalformedBuiltInTypedValues) {
  auto typed = [](std::string_view type, auto&& write_data) {
    ByteBuffer b;
    Writer w(b);
    w.write_map_header(2);
    w.write_str("type");
    w.write_str(type);
    w.write_str("data");
    write_data(w);
    return b;
  };
  std::vector<ByteBuffer> bad;
  bad.push_back(typed("int", [](Writer& w) { w.write_str("5"); }));
  bad.push_back(typed("tuple", [](Writer& w) { w.write_uint(1); }));
  bad.push_back(typed("mpz", [](Writer& w) { w.write_bin(hex("0905")); }));
  bad.push_back(typed("bitarray", [](Writer& w) { w.write_bin(hex("ff00")); }));
  bad.push_back(typed("bitarray", [](Writer& w) { w.write_bin(hex("03")); }));
  bad.push_back(typed("ndarray", [](Writer& w) { w.write_nil(); }));
  bad.push_back(typed("ndarray", [](Writer& w) {  // shape (3,) but 2 values
    w.write_map_header(2);
    w.write_str("values");
    w.write_array_header(2);
    w.write_uint(1);
    w.write_uint(2);
    w.write_str("shape");
    encode_to(w, std::make_tuple(3));
  }));
  bad.push_back(typed("ndarray", [](Writer& w) {  // a shape of 2^64-1 by 0
    w.write_map_header(2);
    w.write_str("values");
    w.write_array_header(0);
    w.write_str("shape");
    encode_to(w, std::make_tuple(UINT64_MAX, 0));
  }));
  for (const auto& b : bad) {
    EXPECT_THROW(decode<Value>(b.view()), DecodeError) << test::to_hex(b.view());
  }
  EXPECT_THROW(decode<BigInt>(bad[0].view()), SerializationError);
  EXPECT_THROW(decode<BitArray>(bad[3].view()), SerializationError);
}

TEST(UntrustedInput, RandomMutationsNeverCrash) {
  // Seeded, so a failure can be replayed. Each mutated input either decodes or throws a
  // SerializationError; anything else (a crash, another exception) fails the test.
  auto vectors = all_vectors();
  std::mt19937 rng(1234);
  std::size_t decoded = 0, rejected = 0;
  for (int i = 0; i < 20000; ++i) {
    Bytes v = vectors[rng() % vectors.size()];
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !v.empty(); ++e) {
      std::size_t at = rng() % v.size();
      switch (rng() % 3) {
        case 0:
          v[at] = static_cast<std::byte>(rng());
          break;
        case 1:
          v.erase(v.begin() + static_cast<std::ptrdiff_t>(at));
          break;
        default:
          v.insert(v.begin() + static_cast<std::ptrdiff_t>(at), static_cast<std::byte>(rng()));
      }
    }
    try {
      auto m = unpack_message<Value>(v);
      (void)m.object.to_string();
      ++decoded;
    } catch (const SerializationError&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 0u);
  EXPECT_EQ(decoded + rejected, 20000u);
}

}  // namespace
}  // namespace tno::mpc::communication
