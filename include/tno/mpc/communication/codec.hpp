// The typed path: C++ objects straight to msgpack bytes and back, with no Value tree in between.
//
//   ByteBuffer bytes = encode(std::vector<double>{1.5, 2.5});
//   auto v = decode<std::vector<double>>(bytes.view());
//
// A message (the envelope {"object", "id"} around a value) is message.hpp's.
//
// What goes on the wire is what the Python reference sends for the corresponding Python value:
//
//   C++                                        Python / wire
//   bool, integers, float, double              bool, int (smallest msgpack form), float
//   std::string, std::string_view, const char* str
//   Bytes (std::vector<std::byte>), ByteBuffer bytes (msgpack bin)
//   std::vector, std::array, std::list, ...    list (msgpack array)
//   std::map/unordered_map with string keys    dict
//   std::pair, std::tuple                      tuple ({"type": "tuple", "data": [...]})
//   std::optional                              None when empty
//   enums                                      their value, like the reference
//   BigInt, mpz_class (gmp.hpp)                int (typed "int" beyond 64 bits)
//   Gmpy2Mpz (gmp.hpp), Mpz                    gmpy2.mpz
//   BitArray, std::bitset                      bitarray.bitarray
//   Value                                      whatever it holds
//   custom classes (see below)                 {"type": T::mpc_type_name, "data": serialize()}
//
// Note: std::vector<std::uint8_t> is a list of ints (like a numpy uint8 array), and
// std::vector<bool> a list of bools; use Bytes and BitArray for bytes and bitarrays.
//
// Custom classes, the counterpart of the reference's `Serialization.register_class`:
//
//   struct Point {
//     static constexpr std::string_view mpc_type_name = "Point";  // the Python class name
//     std::int64_t x, y;
//     std::map<std::string, std::int64_t> serialize() const { return {{"x", x}, {"y", y}}; }
//     static Point deserialize(std::map<std::string, std::int64_t> d) { return {d["x"], d["y"]}; }
//   };
//   Serialization::register_class<Point>();   // once, before the first encode/decode
//
// serialize may return any encodable type and deserialize takes that same type (by value); both
// may take a `const SerializationContext&` as their last argument to see the origin and
// destination party.
#pragma once

#include <array>
#include <bitset>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "tno/mpc/communication/buffer.hpp"
#include "tno/mpc/communication/errors.hpp"
#include "tno/mpc/communication/serialization.hpp"
#include "tno/mpc/communication/value.hpp"
#include "tno/mpc/communication/wire.hpp"

namespace tno::mpc::communication {

/// Specialise `Codec<T>` with `static void encode(Writer&, const T&)` and
/// `static T decode(Reader&)` to give a type a wire form of your choice. Custom classes with
/// `mpc_type_name` (see above) need no specialisation.
template <class T, class Enable = void>
struct Codec;

template <class T>
concept Encodable = requires(Writer& w, const T& v) {
  Codec<std::remove_cvref_t<T>>::encode(w, v);
};

template <class T>
concept Decodable = requires(Reader& r) {
  { Codec<T>::decode(r) } -> std::same_as<T>;
};

/// Writes `value` as one msgpack element.
template <Encodable T>
void encode_to(Writer& w, const T& value) {
  Codec<std::remove_cvref_t<T>>::encode(w, value);
}

/// Reads one msgpack element as T.
template <Decodable T>
T decode_from(Reader& r) {
  return Codec<T>::decode(r);
}

/// Encodes `value` into a new buffer.
template <Encodable T>
ByteBuffer encode(const T& value, const SerializationContext& context = {}) {
  ByteBuffer out;
  Writer w(out, context);
  encode_to(w, value);
  return out;
}

/// Appends the encoding of `value` to `out`.
template <Encodable T>
void encode(ByteBuffer& out, const T& value, const SerializationContext& context = {}) {
  Writer w(out, context);
  encode_to(w, value);
}

/// Decodes `bytes`, which must hold exactly one msgpack element, as T.
/// Throws DecodeError for malformed input, TypeMismatchError when it holds something else.
template <Decodable T>
T decode(std::span<const std::byte> bytes, const DecodeLimits& limits = {},
         const SerializationContext& context = {}) {
  Reader r(bytes, limits, context);
  T out = decode_from<T>(r);
  if (!r.at_end()) r.fail("trailing bytes after the value");
  return out;
}

namespace detail {

/// Readable name of a C++ type for error messages (compiler-provided).
template <class T>
constexpr std::string_view type_label() {
  std::string_view p = __PRETTY_FUNCTION__;
  auto start = p.find("T = ") + 4;
  auto stop = p.find_first_of(";]", start);
  return p.substr(start, stop - start);
}

/// Throws TypeMismatchError: "expected <expected>, got <what the reader sees next>".
[[noreturn]] void throw_mismatch(std::string_view expected, const Reader& r);
[[noreturn]] void throw_out_of_range(std::string_view value, std::string_view type,
                                     const Reader& r);

/// An integer of any size, msgpack int or typed "int"/"mpz" map, read exactly.
BigInt read_any_integer(Reader& r);
void write_bigint(Writer& w, const BigInt& v);

/// Reads the header of a `{"type": ..., "data": ...}` map (keys in any order) and leaves the
/// reader at the start of `data`. Returns std::nullopt, with the reader unmoved, when the next
/// element is not such a map.
struct TypedHeader {
  static constexpr std::size_t data_is_last = static_cast<std::size_t>(-1);
  std::string_view type;
  /// Where the whole map ends, or data_is_last when "data" is its last entry (the usual case,
  /// read without a look-ahead): then the map ends where the data does.
  std::size_t end_offset;
};
std::optional<TypedHeader> try_open_typed(Reader& r);
/// Like try_open_typed, but throws TypeMismatchError unless the type name is `expected`.
TypedHeader open_typed(Reader& r, std::string_view expected);
/// Moves the reader past a typed map whose data has been read.
inline void close_typed(Reader& r, const TypedHeader& header) {
  if (header.end_offset != TypedHeader::data_is_last) r.seek(header.end_offset);
}
void write_typed_header(Writer& w, std::string_view type);

void encode_value(Writer& w, const Value& v);
Value decode_value(Reader& r);
void encode_bitarray(Writer& w, const BitArray& b);
BitArray decode_bitarray(Reader& r);
void encode_mpz(Writer& w, const BigInt& v);

template <class T>
concept StringLike =
    std::is_convertible_v<const T&, std::string_view> && !std::is_same_v<T, std::nullptr_t>;

template <class T>
concept ByteContainer = std::is_same_v<T, Bytes> || std::is_same_v<T, std::span<const std::byte>> ||
    std::is_same_v<T, std::span<std::byte>>;

template <class T>
concept MapLike = requires {
  typename T::key_type;
  typename T::mapped_type;
}
&&std::ranges::range<T>;

template <class T>
concept SequenceLike =
    std::ranges::sized_range<T> && !StringLike<T> && !ByteContainer<T> && !MapLike<T> &&
    !std::is_same_v<T, ByteBuffer> && !std::is_same_v<T, Value> && !std::is_same_v<T, Dict>;

template <class T>
struct is_std_array : std::false_type {};
template <class T, std::size_t N>
struct is_std_array<std::array<T, N>> : std::true_type {};

template <class T>
concept TupleLike = requires {
  std::tuple_size<T>::value;
}
&&!is_std_array<T>::value;

template <class T>
concept Serializable = requires {
  T::mpc_type_name;
};

template <class T>
auto call_serialize(const T& obj, const SerializationContext& ctx) {
  if constexpr (requires { obj.serialize(ctx); }) {
    return obj.serialize(ctx);
  } else {
    return obj.serialize();
  }
}

template <class T>
using serialized_t = std::remove_cvref_t<decltype(call_serialize(
    std::declval<const T&>(), std::declval<const SerializationContext&>()))>;

}  // namespace detail

// ---- scalars ------------------------------------------------------------------------------------

template <>
struct Codec<bool> {
  static void encode(Writer& w, bool b) { w.write_bool(b); }
  static bool decode(Reader& r) { return r.read_bool(); }
};

template <class I>
struct Codec<I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>>> {
  static void encode(Writer& w, I v) {
    if constexpr (std::is_signed_v<I>) {
      if (v < 0) return w.write_int(v);
    }
    w.write_uint(static_cast<std::uint64_t>(v));
  }
  static I decode(Reader& r) {
    bool negative;
    std::uint64_t magnitude;
    WireType t = r.peek();
    if (t == WireType::uint || t == WireType::sint) {
      auto i = r.read_integer();
      negative = i.negative;
      magnitude = i.magnitude;
    } else if (t == WireType::map) {
      // The reference may send a 64-bit value in typed form (-2^63 with ormsgpack < 1.10).
      BigInt big = detail::read_any_integer(r);
      if (auto u = big.to_uint64()) {
        negative = false;
        magnitude = *u;
      } else if (auto s = big.to_int64()) {
        negative = true;
        magnitude = static_cast<std::uint64_t>(0) - static_cast<std::uint64_t>(*s);
      } else {
        detail::throw_out_of_range(big.to_string(), detail::type_label<I>(), r);
      }
    } else {
      detail::throw_mismatch(detail::type_label<I>(), r);
    }
    using U = std::make_unsigned_t<I>;
    if (negative) {
      if constexpr (std::is_signed_v<I>) {
        // magnitude of the most negative I is max()+1
        if (magnitude <= static_cast<std::uint64_t>(std::numeric_limits<I>::max()) + 1) {
          return static_cast<I>(static_cast<U>(0) - static_cast<U>(magnitude));
        }
      }
      detail::throw_out_of_range("-" + std::to_string(magnitude), detail::type_label<I>(), r);
    }
    if (magnitude > static_cast<std::uint64_t>(std::numeric_limits<I>::max())) {
      detail::throw_out_of_range(std::to_string(magnitude), detail::type_label<I>(), r);
    }
    return static_cast<I>(magnitude);
  }
};

template <class F>
struct Codec<F, std::enable_if_t<std::is_floating_point_v<F>>> {
  static void encode(Writer& w, F v) {
    // float goes out as msgpack float 32, like a numpy float32; others as float 64.
    if constexpr (std::is_same_v<F, float>) {
      w.write_float32(v);
    } else {
      w.write_float64(static_cast<double>(v));
    }
  }
  static F decode(Reader& r) {
    WireType t = r.peek();
    if (t == WireType::float64 || t == WireType::float32) return static_cast<F>(r.read_double());
    // Python code often sends 2 where 2.0 is meant; accept ints like Python's float(int).
    if (t == WireType::uint) return static_cast<F>(r.read_uint64());
    if (t == WireType::sint) return static_cast<F>(r.read_int64());
    detail::throw_mismatch(detail::type_label<F>(), r);
  }
};

template <class E>
struct Codec<E, std::enable_if_t<std::is_enum_v<E>>> {
  using U = std::underlying_type_t<E>;
  static void encode(Writer& w, E v) { Codec<U>::encode(w, static_cast<U>(v)); }
  static E decode(Reader& r) { return static_cast<E>(Codec<U>::decode(r)); }
};

template <>
struct Codec<std::nullptr_t> {
  static void encode(Writer& w, std::nullptr_t) { w.write_nil(); }
  static std::nullptr_t decode(Reader& r) {
    r.read_nil();
    return nullptr;
  }
};

// ---- strings and bytes --------------------------------------------------------------------------

template <>
struct Codec<std::string> {
  static void encode(Writer& w, const std::string& s) { w.write_str(s); }
  static std::string decode(Reader& r) { return std::string(r.read_str()); }
};

/// Decoding a string_view gives a view into the input, valid as long as the input is.
template <>
struct Codec<std::string_view> {
  static void encode(Writer& w, std::string_view s) { w.write_str(s); }
  static std::string_view decode(Reader& r) { return r.read_str(); }
};

template <>
struct Codec<const char*> {
  static void encode(Writer& w, const char* s) { w.write_str(s); }
};

template <std::size_t N>
struct Codec<char[N]> {
  static void encode(Writer& w, const char (&s)[N]) { w.write_str(std::string_view(s)); }
};

template <>
struct Codec<Bytes> {
  static void encode(Writer& w, const Bytes& b) { w.write_bin(b); }
  static Bytes decode(Reader& r) {
    auto b = r.read_bin();
    return Bytes(b.begin(), b.end());
  }
};

/// Decoding a byte span gives a view into the input, valid as long as the input is.
/// An encoded value passed through as it is: decoding keeps a view of its msgpack bytes (valid as
/// long as the input is, e.g. with Pool::recv_borrowed), encoding writes them unchanged. For
/// relaying a value without knowing its type, or decoding it later.
struct PackedValue {
  std::span<const std::byte> bytes;
};

template <>
struct Codec<PackedValue> {
  static void encode(Writer& w, const PackedValue& v) { w.write_raw(v.bytes); }
  static PackedValue decode(Reader& r) { return {r.read_raw()}; }
};

template <>
struct Codec<std::span<const std::byte>> {
  static void encode(Writer& w, std::span<const std::byte> b) { w.write_bin(b); }
  static std::span<const std::byte> decode(Reader& r) { return r.read_bin(); }
};

template <>
struct Codec<ByteBuffer> {
  static void encode(Writer& w, const ByteBuffer& b) { w.write_bin(b.view()); }
  static ByteBuffer decode(Reader& r) {
    ByteBuffer out;
    out.append(r.read_bin());
    return out;
  }
};

// ---- containers ---------------------------------------------------------------------------------

template <class S>
struct Codec<S, std::enable_if_t<detail::SequenceLike<S>>> {
  using T = std::remove_cv_t<std::ranges::range_value_t<S>>;

  static void encode(Writer& w, const S& seq) {
    auto n = std::ranges::size(seq);
    if (n > std::numeric_limits<std::uint32_t>::max()) {
      throw SerializationError("a sequence of " + std::to_string(n) +
                               " elements does not fit in one msgpack array (at most 2^32-1)");
    }
    if constexpr (std::is_same_v<T, double> && std::ranges::contiguous_range<S>) {
      w.write_float64_array(std::span<const double>(std::ranges::data(seq), n));
    } else {
      w.write_array_header(static_cast<std::uint32_t>(n));
      for (const auto& e : seq) encode_to(w, e);
    }
  }

  static S decode(Reader& r) {
    Reader::DepthGuard guard(r);
    if (r.peek() != WireType::array) detail::throw_mismatch(detail::type_label<S>(), r);
    std::uint32_t n = r.read_array_header();
    S out{};
    if constexpr (detail::is_std_array<S>::value) {
      if (n != out.size()) {
        throw TypeMismatchError("expected an array of " + std::to_string(out.size()) +
                                " elements, got " + std::to_string(n));
      }
      for (auto& e : out) e = decode_from<T>(r);
    } else if constexpr (std::is_same_v<S, std::vector<double>>) {
      // Safe to size up front: the reader checked that n elements can fit in what is left.
      out.resize(n);
      r.read_float64_array(out);
    } else {
      if constexpr (requires { out.reserve(n); }) out.reserve(n);
      for (std::uint32_t i = 0; i < n; ++i) {
        if constexpr (requires { out.push_back(decode_from<T>(r)); }) {
          out.push_back(decode_from<T>(r));
        } else {
          out.insert(decode_from<T>(r));
        }
      }
    }
    return out;
  }
};

template <class M>
struct Codec<M, std::enable_if_t<detail::MapLike<M>>> {
  using K = typename M::key_type;
  using V = typename M::mapped_type;
  static_assert(detail::StringLike<K>,
                "the Python reference only accepts str keys; use a map with string keys");

  static void encode(Writer& w, const M& m) {
    w.write_map_header(static_cast<std::uint32_t>(m.size()));
    for (const auto& [k, v] : m) {
      w.write_str(std::string_view(k));
      encode_to(w, v);
    }
  }
  static M decode(Reader& r) {
    Reader::DepthGuard guard(r);
    if (r.peek() != WireType::map) detail::throw_mismatch(detail::type_label<M>(), r);
    std::size_t start = r.tell();
    std::uint32_t n = r.read_map_header();
    // A typed value ({"type", "data"}) is not a dict. The reference always writes those maps with
    // two entries, so only those are looked at twice; the rest are read in one pass.
    if (n == 2) {
      r.seek(start);
      if (detail::try_open_typed(r)) {
        r.seek(start);
        detail::throw_mismatch(detail::type_label<M>(), r);
      }
      r.seek(start);
      r.read_map_header();
    }
    M out{};
    for (std::uint32_t i = 0; i < n; ++i) {
      if (r.peek() != WireType::str) detail::throw_mismatch("a str map key", r);
      K key(r.read_str());
      out.insert_or_assign(std::move(key), decode_from<V>(r));
    }
    return out;
  }
};

template <class T>
struct Codec<std::optional<T>> {
  static void encode(Writer& w, const std::optional<T>& v) {
    if (v) {
      encode_to(w, *v);
    } else {
      w.write_nil();
    }
  }
  static std::optional<T> decode(Reader& r) {
    if (r.peek() == WireType::nil) {
      r.read_nil();
      return std::nullopt;
    }
    return decode_from<T>(r);
  }
};

template <class P>
struct Codec<P, std::enable_if_t<detail::TupleLike<P>>> {
  static constexpr std::size_t N = std::tuple_size_v<P>;
  static void encode(Writer& w, const P& p) {
    detail::write_typed_header(w, "tuple");
    w.write_array_header(static_cast<std::uint32_t>(N));
    std::apply([&](const auto&... e) { (encode_to(w, e), ...); }, p);
  }
  static P decode(Reader& r) {
    Reader::DepthGuard guard(r);
    auto header = detail::open_typed(r, "tuple");
    if (r.peek() != WireType::array) detail::throw_mismatch("the elements of a tuple", r);
    std::uint32_t n = r.read_array_header();
    if (n != N) {
      throw TypeMismatchError("expected a tuple of " + std::to_string(N) + " elements, got " +
                              std::to_string(n) + " elements");
    }
    P out = decode_elements(r, std::make_index_sequence<N>{});
    detail::close_typed(r, header);
    return out;
  }

 private:
  template <std::size_t... I>
  static P decode_elements(Reader& r, std::index_sequence<I...>) {
    // Braced initialisation evaluates left to right, which is the wire order.
    return P{decode_from<std::remove_cvref_t<std::tuple_element_t<I, P>>>(r)...};
  }
};

template <std::size_t N>
struct Codec<std::bitset<N>> {
  static void encode(Writer& w, const std::bitset<N>& b) {
    BitArray bits;
    bits.bits.resize(N);
    for (std::size_t i = 0; i < N; ++i) bits.bits[i] = b[i];
    detail::encode_bitarray(w, bits);
  }
  static std::bitset<N> decode(Reader& r) {
    BitArray bits = detail::decode_bitarray(r);
    if (bits.bits.size() != N) {
      throw TypeMismatchError("expected a bitarray of " + std::to_string(N) + " bits, got " +
                              std::to_string(bits.bits.size()));
    }
    std::bitset<N> out;
    for (std::size_t i = 0; i < N; ++i) out[i] = bits.bits[i];
    return out;
  }
};

// ---- the value model ----------------------------------------------------------------------------

template <>
struct Codec<Value> {
  static void encode(Writer& w, const Value& v) { detail::encode_value(w, v); }
  static Value decode(Reader& r) { return detail::decode_value(r); }
};

template <>
struct Codec<BigInt> {
  static void encode(Writer& w, const BigInt& v) { detail::write_bigint(w, v); }
  static BigInt decode(Reader& r) { return detail::read_any_integer(r); }
};

template <>
struct Codec<Mpz> {
  static void encode(Writer& w, const Mpz& v) { detail::encode_mpz(w, v.value); }
  /// Accepts an mpz, and a Python int too (the value is what matters to C++).
  static Mpz decode(Reader& r) { return Mpz{detail::read_any_integer(r)}; }
};

template <>
struct Codec<BitArray> {
  static void encode(Writer& w, const BitArray& b) { detail::encode_bitarray(w, b); }
  static BitArray decode(Reader& r) { return detail::decode_bitarray(r); }
};

/// Tuple, Dict, NdArray and Typed go through the Value codec, which knows their wire forms.
template <class T>
struct Codec<T, std::enable_if_t<std::is_same_v<T, Tuple> || std::is_same_v<T, Dict> ||
                                 std::is_same_v<T, NdArray> || std::is_same_v<T, Typed>>> {
  static void encode(Writer& w, const T& v) { detail::encode_value(w, Value(v)); }
  static T decode(Reader& r) {
    Value v = detail::decode_value(r);
    if constexpr (std::is_same_v<T, Tuple>) return v.as_tuple();
    if constexpr (std::is_same_v<T, Dict>) return v.as_dict();
    if constexpr (std::is_same_v<T, NdArray>) return v.as_ndarray();
    if constexpr (std::is_same_v<T, Typed>) return v.as_typed();
  }
};

// ---- custom classes -----------------------------------------------------------------------------

template <class T>
struct Codec<T, std::enable_if_t<detail::Serializable<T>>> {
  using Data = detail::serialized_t<T>;

  static void encode(Writer& w, const T& obj) {
    Serialization::require_registered<T>();
    detail::write_typed_header(w, T::mpc_type_name);
    encode_to(w, detail::call_serialize(obj, w.context()));
  }
  static T decode(Reader& r) {
    Serialization::require_registered<T>();
    Reader::DepthGuard guard(r);
    auto header = detail::open_typed(r, T::mpc_type_name);
    Data data = decode_from<Data>(r);
    detail::close_typed(r, header);
    const SerializationContext& ctx = r.context();
    if constexpr (requires { T::deserialize(std::move(data), ctx); }) {
      return T::deserialize(std::move(data), ctx);
    } else {
      return T::deserialize(std::move(data));
    }
  }
};

template <class T>
T Value::as() const {
  if constexpr (std::is_same_v<T, Value>) {
    return *this;
  } else {
    return decode<T>(encode(*this).view());
  }
}

}  // namespace tno::mpc::communication
