// The dynamic path (Value to msgpack and back) and the wire forms of the reference's built-in
// typed values ("int", "tuple", "ndarray", "mpz", "bitarray"), shared with the typed codecs.
#include <cstring>
#include <string>

#include "tno/mpc/communication/codec.hpp"

namespace tno::mpc::communication {
namespace detail {

namespace {
std::string at_byte(const Reader& r) {
  return " (at byte " + std::to_string(r.offset()) + ")";
}

[[noreturn]] void bad_typed(const Reader& r, std::string_view type, std::string_view what) {
  r.fail("typed value '" + std::string(type) + "' " + std::string(what));
}

// gmpy2.to_binary of an mpz: 0x01, then 0 (zero) / 1 (positive) / 2 (negative), then the
// magnitude little-endian. Returns nullopt for other gmpy2 forms.
std::optional<BigInt> parse_gmpy2_mpz(std::span<const std::byte> b) {
  if (b.size() < 2 || b[0] != std::byte{1}) return std::nullopt;
  auto sign = static_cast<std::uint8_t>(b[1]);
  if (sign > 2) return std::nullopt;
  return BigInt::from_magnitude_le(sign == 2, b.subspan(2));
}

std::optional<BitArray> parse_bitarray(std::span<const std::byte> b) {
  if (b.empty()) return std::nullopt;
  auto header = static_cast<std::uint8_t>(b[0]);
  unsigned pad = header & 0x7;
  if ((header & ~0x17u) != 0 || (b.size() == 1 && pad != 0)) return std::nullopt;
  BitArray out;
  out.endian = (header & 0x10) ? BitArray::Endian::big : BitArray::Endian::little;
  std::size_t n = (b.size() - 1) * 8 - pad;
  out.bits.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto byte = static_cast<std::uint8_t>(b[1 + i / 8]);
    unsigned shift = out.endian == BitArray::Endian::big ? 7 - i % 8 : i % 8;
    out.bits[i] = (byte >> shift) & 1;
  }
  return out;
}

void flatten(Reader& r, const Value& v, const std::vector<std::uint64_t>& shape, std::size_t dim,
             std::vector<Value>& out) {
  if (dim == shape.size()) {
    out.push_back(v);
    return;
  }
  if (!v.is_list() || v.as_list().size() != shape[dim]) {
    bad_typed(r, "ndarray", "has values that do not match its shape");
  }
  for (const auto& e : v.as_list()) flatten(r, e, shape, dim + 1, out);
}

void write_nested(Writer& w, const NdArray& a, std::size_t dim, std::size_t& next) {
  if (dim == a.shape.size()) {
    encode_value(w, a.elements.at(next++));
    return;
  }
  w.write_array_header(static_cast<std::uint32_t>(a.shape[dim]));
  for (std::uint64_t i = 0; i < a.shape[dim]; ++i) write_nested(w, a, dim + 1, next);
}

// Turns a decoded {"type", "data"} map into the value the reference would give.
Value from_typed(Reader& r, std::string type, Value data) {
  if (type == "int") {
    if (!data.is_bytes()) bad_typed(r, type, "must hold bytes");
    return Value(BigInt::from_twos_complement_le(data.as_bytes()));
  }
  if (type == "tuple") {
    if (!data.is_list()) bad_typed(r, type, "must hold a list");
    return Value(Tuple{std::move(data.as_list())});
  }
  if (type == "mpz" && data.is_bytes()) {
    if (auto v = parse_gmpy2_mpz(data.as_bytes())) return Value(Mpz{*v});
    bad_typed(r, type, "does not hold gmpy2 binary mpz data");
  }
  if (type == "bitarray" && data.is_bytes()) {
    if (auto v = parse_bitarray(data.as_bytes())) return Value(std::move(*v));
    bad_typed(r, type, "does not hold serialized bitarray data");
  }
  if (type == "ndarray") {
    const Value* values = data.is_dict() ? data.as_dict().find("values") : nullptr;
    const Value* shape = data.is_dict() ? data.as_dict().find("shape") : nullptr;
    if (values == nullptr || shape == nullptr || !(shape->is_tuple() || shape->is_list())) {
      bad_typed(r, type, "must hold a dict with 'values' and a 'shape' tuple");
    }
    NdArray a;
    const auto& dims = shape->is_tuple() ? shape->as_tuple().items : shape->as_list();
    for (const auto& d : dims) {
      if (!d.is_int() || d.as_bigint().is_negative() || !d.as_bigint().to_uint64()) {
        bad_typed(r, type, "has a shape that is not a tuple of non-negative ints");
      }
      a.shape.push_back(d.as_uint64());
    }
    flatten(r, *values, a.shape, 0, a.elements);
    return Value(std::move(a));
  }
  return Value(Typed(std::move(type), std::move(data)));
}
}  // namespace

void throw_mismatch(std::string_view expected, const Reader& r) {
  std::string got;
  if (r.at_end()) {
    got = "the end of the input";
  } else if (r.peek() == WireType::map) {
    Reader probe = r;
    auto header = try_open_typed(probe);
    got = header ? "typed value '" + std::string(header->type) + "'" : "dict";
  } else {
    got = std::string(wire_type_name(r.peek()));
  }
  throw TypeMismatchError("expected " + std::string(expected) + ", got " + got + at_byte(r));
}

void throw_out_of_range(std::string_view value, std::string_view type, const Reader& r) {
  throw TypeMismatchError("integer " + std::string(value) + " does not fit in " +
                          std::string(type) + at_byte(r));
}

void write_typed_header(Writer& w, std::string_view type) {
  if (type.size() >= 32) {
    w.write_map_header(2);
    w.write_str("type");
    w.write_str(type);
    w.write_str("data");
    return;
  }
  // The common case in one append: fixmap(2), "type", fixstr name, "data".
  std::byte* at = w.buffer().extend(1 + 5 + 1 + type.size() + 5);
  auto put = [&at](std::string_view bytes) {
    std::memcpy(at, bytes.data(), bytes.size());
    at += bytes.size();
  };
  put("\x82\xa4type");
  *at++ = static_cast<std::byte>(0xa0 | type.size());
  put(type);
  put("\xa4"
      "data");
}

std::optional<TypedHeader> try_open_typed(Reader& r) {
  if (r.peek() != WireType::map) return std::nullopt;
  std::size_t start = r.tell();
  std::uint32_t n = r.read_map_header();
  std::optional<std::string_view> type;
  std::optional<std::size_t> data_at;
  for (std::uint32_t i = 0; i < n; ++i) {
    if (r.peek() != WireType::str) {
      r.seek(start);
      return std::nullopt;
    }
    std::string_view key = r.read_str();
    if (key == "type" && r.peek() == WireType::str) {
      type = r.read_str();
    } else if (key == "data" && type && i + 1 == n) {
      // The reference's order: "type", then "data" last. No need to look past the data.
      return TypedHeader{*type, TypedHeader::data_is_last};
    } else {
      if (key == "data") data_at = r.tell();
      r.skip();
    }
  }
  if (!type || !data_at) {
    r.seek(start);
    return std::nullopt;
  }
  std::size_t end = r.tell();
  r.seek(*data_at);
  return TypedHeader{*type, end};
}

TypedHeader open_typed(Reader& r, std::string_view expected) {
  std::size_t start = r.tell();
  auto header = try_open_typed(r);
  if (!header || header->type != expected) {
    r.seek(start);
    throw_mismatch(expected, r);
  }
  return *header;
}

void write_bigint(Writer& w, const BigInt& v) {
  if (auto u = v.to_uint64()) return w.write_uint(*u);
  if (auto i = v.to_int64()) return w.write_int(*i);
  write_typed_header(w, "int");
  w.write_bin(v.to_twos_complement_le());
}

void encode_mpz(Writer& w, const BigInt& v) {
  write_typed_header(w, "mpz");
  auto magnitude = v.magnitude_le();
  std::byte* out = w.write_bin_in_place(static_cast<std::uint32_t>(2 + magnitude.size()));
  out[0] = std::byte{1};
  out[1] = std::byte{static_cast<std::uint8_t>(v.is_zero() ? 0 : v.is_negative() ? 2 : 1)};
  std::copy(magnitude.begin(), magnitude.end(), out + 2);
}

BigInt read_any_integer(Reader& r) {
  WireType t = r.peek();
  if (t == WireType::uint || t == WireType::sint) {
    auto i = r.read_integer();
    return i.negative ? BigInt::from_magnitude_le(true, BigInt(i.magnitude).magnitude_le())
                      : BigInt(i.magnitude);
  }
  std::size_t start = r.tell();
  auto header = try_open_typed(r);
  if (header && (header->type == "int" || header->type == "mpz")) {
    bool is_int = header->type == "int";
    if (r.peek() != WireType::bin) bad_typed(r, header->type, "must hold bytes");
    auto bytes = r.read_bin();
    std::optional<BigInt> v = is_int ? std::optional<BigInt>(BigInt::from_twos_complement_le(bytes))
                                     : parse_gmpy2_mpz(bytes);
    if (!v) bad_typed(r, "mpz", "does not hold gmpy2 binary mpz data");
    close_typed(r, *header);
    return *v;
  }
  r.seek(start);
  throw_mismatch("int", r);
}

void encode_bitarray(Writer& w, const BitArray& b) {
  write_typed_header(w, "bitarray");
  std::size_t n = b.bits.size();
  std::size_t pad = (8 - n % 8) % 8;
  std::byte* out = w.write_bin_in_place(static_cast<std::uint32_t>(1 + (n + 7) / 8));
  bool big = b.endian == BitArray::Endian::big;
  out[0] = std::byte{static_cast<std::uint8_t>((big ? 0x10 : 0) | pad)};
  std::fill(out + 1, out + 1 + (n + 7) / 8, std::byte{0});
  for (std::size_t i = 0; i < n; ++i) {
    if (!b.bits[i]) continue;
    unsigned shift = big ? 7 - i % 8 : i % 8;
    out[1 + i / 8] |= std::byte{static_cast<std::uint8_t>(1u << shift)};
  }
}

BitArray decode_bitarray(Reader& r) {
  auto header = open_typed(r, "bitarray");
  if (r.peek() != WireType::bin) bad_typed(r, "bitarray", "must hold bytes");
  auto bits = parse_bitarray(r.read_bin());
  if (!bits) bad_typed(r, "bitarray", "does not hold serialized bitarray data");
  close_typed(r, header);
  return std::move(*bits);
}

void encode_value(Writer& w, const Value& v) {
  switch (v.kind()) {
    case Kind::nil:
      return w.write_nil();
    case Kind::boolean:
      return w.write_bool(v.as_bool());
    case Kind::integer:
      // As write_bigint writes them, without building a BigInt for the common small ones.
      if (const auto u = v.to_uint64()) return w.write_uint(*u);
      if (const auto i = v.to_int64()) return w.write_int(*i);
      return write_bigint(w, v.as_bigint());
    case Kind::float64:
      return w.write_float64(v.as_double());
    case Kind::str:
      return w.write_str(v.as_str());
    case Kind::bytes:
      return w.write_bin(v.as_bytes());
    case Kind::list:
      w.write_array_header(static_cast<std::uint32_t>(v.as_list().size()));
      for (const auto& e : v.as_list()) encode_value(w, e);
      return;
    case Kind::tuple:
      write_typed_header(w, "tuple");
      w.write_array_header(static_cast<std::uint32_t>(v.as_tuple().items.size()));
      for (const auto& e : v.as_tuple().items) encode_value(w, e);
      return;
    case Kind::dict:
      w.write_map_header(static_cast<std::uint32_t>(v.as_dict().size()));
      for (const auto& [key, val] : v.as_dict()) {
        encode_value(w, key);
        encode_value(w, val);
      }
      return;
    case Kind::ndarray: {
      const auto& a = v.as_ndarray();
      std::uint64_t count = 1;
      for (auto d : a.shape) count *= d;
      if (count != a.elements.size()) {
        throw SerializationError("ndarray has " + std::to_string(a.elements.size()) +
                                 " elements but its shape holds " + std::to_string(count));
      }
      write_typed_header(w, "ndarray");
      w.write_map_header(2);
      w.write_str("values");
      std::size_t next = 0;
      write_nested(w, a, 0, next);
      w.write_str("shape");
      write_typed_header(w, "tuple");
      w.write_array_header(static_cast<std::uint32_t>(a.shape.size()));
      for (auto d : a.shape) w.write_uint(d);
      return;
    }
    case Kind::bitarray:
      return encode_bitarray(w, v.as_bitarray());
    case Kind::mpz:
      return encode_mpz(w, v.as_mpz().value);
    case Kind::typed:
      write_typed_header(w, v.as_typed().type());
      encode_value(w, v.as_typed().data());
      return;
  }
}

Value decode_value(Reader& r) {
  switch (r.peek()) {
    case WireType::nil:
      r.read_nil();
      return Value();
    case WireType::boolean:
      return Value(r.read_bool());
    case WireType::uint:
    case WireType::sint: {
      auto i = r.read_integer();
      if (!i.negative) return Value(i.magnitude);
      return Value(static_cast<std::int64_t>(std::uint64_t{0} - i.magnitude));
    }
    case WireType::float32:
    case WireType::float64:
      return Value(r.read_double());
    case WireType::str:
      return Value(std::string(r.read_str()));
    case WireType::bin: {
      auto b = r.read_bin();
      return Value(Bytes(b.begin(), b.end()));
    }
    case WireType::array: {
      Reader::DepthGuard guard(r);
      std::uint32_t n = r.read_array_header();
      Value::List items;
      items.reserve(n);
      for (std::uint32_t i = 0; i < n; ++i) items.push_back(decode_value(r));
      return Value(std::move(items));
    }
    case WireType::map: {
      Reader::DepthGuard guard(r);
      std::size_t start = r.tell();
      std::uint32_t n = r.read_map_header();
      Dict d;
      d.entries().reserve(n);
      for (std::uint32_t i = 0; i < n; ++i) {
        Value key = decode_value(r);
        // Python cannot key a dict by a list: ormsgpack (OPT_NON_STR_KEYS) makes it a tuple.
        if (key.is_list()) key = Value(Tuple{std::move(key.as_list())});
        Value val = decode_value(r);
        // A repeated key keeps the last value, as Python's dict does.
        d.set(std::move(key), std::move(val));
      }
      // Any map with both a str "type" and a "data" is a typed value (the reference's rule).
      const Value* type = d.find("type");
      Value* data = d.find("data");
      if (type != nullptr && data != nullptr && type->is_str()) {
        std::size_t end = r.tell();
        r.seek(start);  // errors in the typed data point at the map
        Value out = from_typed(r, type->as_str(), std::move(*data));
        r.seek(end);
        return out;
      }
      return Value(std::move(d));
    }
    case WireType::ext:
      r.fail("msgpack ext types are not used by the reference");
  }
  r.fail("invalid msgpack");
}

}  // namespace detail

}  // namespace tno::mpc::communication
