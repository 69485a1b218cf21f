// msgpack primitives on top of msgpuck. msgpuck's decoders do not check bounds, so every read
// here checks the bytes it needs first (need()), and only then calls into msgpuck.
#include "tno/mpc/communication/wire.hpp"

#include <msgpuck.h>

#include <array>
#include <cstring>
#include <limits>
#include <string>

#include "tno/mpc/communication/errors.hpp"

namespace tno::mpc::communication {

namespace {
char* grow(ByteBuffer& out, std::size_t n) {
  return reinterpret_cast<char*>(out.extend(n));
}
}  // namespace

void Writer::write_nil() {
  mp_encode_nil(grow(out_, 1));
}
void Writer::write_bool(bool b) {
  mp_encode_bool(grow(out_, 1), b);
}
void Writer::write_uint(std::uint64_t u) {
  mp_encode_uint(grow(out_, mp_sizeof_uint(u)), u);
}
void Writer::write_int(std::int64_t i) {
  if (i >= 0) return write_uint(static_cast<std::uint64_t>(i));
  mp_encode_int(grow(out_, mp_sizeof_int(i)), i);
}
void Writer::write_float32(float f) {
  mp_encode_float(grow(out_, 5), f);
}
void Writer::write_float64(double d) {
  mp_encode_double(grow(out_, 9), d);
}
void Writer::write_str(std::string_view s) {
  auto n = static_cast<std::uint32_t>(s.size());
  if (s.size() != n) throw SerializationError("a str longer than 4 GiB cannot be encoded");
  mp_encode_str(grow(out_, mp_sizeof_str(n)), s.data(), n);
}
void Writer::write_bin(std::span<const std::byte> b) {
  auto n = static_cast<std::uint32_t>(b.size());
  if (b.size() != n) throw SerializationError("bytes longer than 4 GiB cannot be encoded");
  std::byte* at = write_bin_in_place(n);
  if (n != 0) std::memcpy(at, b.data(), n);  // an empty span may have a null data()
}
std::size_t Writer::begin_bin() {
  std::size_t mark = out_.size();
  out_.extend(mp_sizeof_binl(std::numeric_limits<std::uint32_t>::max()));
  return mark;
}
void Writer::end_bin(std::size_t mark) {
  const std::size_t reserved = mp_sizeof_binl(std::numeric_limits<std::uint32_t>::max());
  const std::size_t n = out_.size() - mark - reserved;
  if (n > std::numeric_limits<std::uint32_t>::max()) {
    throw SerializationError("a payload of " + std::to_string(n) +
                             " bytes does not fit in one msgpack bin");
  }
  auto size = static_cast<std::uint32_t>(n);
  char* header = reinterpret_cast<char*>(out_.data() + mark);
  const std::size_t header_size = mp_sizeof_binl(size);
  if (header_size < reserved) std::memmove(header + header_size, header + reserved, n);
  mp_encode_binl(header, size);
  out_.shrink_by(reserved - header_size);
}
std::size_t Writer::bin_header_size(std::uint32_t size) noexcept {
  return mp_sizeof_binl(size);
}
void Writer::write_bin_header(std::uint32_t size) {
  mp_encode_binl(grow(out_, mp_sizeof_binl(size)), size);
}
std::byte* Writer::write_bin_in_place(std::uint32_t size) {
  char* at = grow(out_, mp_sizeof_bin(size));
  return reinterpret_cast<std::byte*>(mp_encode_binl(at, size));
}
void Writer::write_array_header(std::uint32_t n) {
  mp_encode_array(grow(out_, mp_sizeof_array(n)), n);
}
void Writer::write_map_header(std::uint32_t n) {
  mp_encode_map(grow(out_, mp_sizeof_map(n)), n);
}
void Writer::write_float64_array(std::span<const double> values) {
  auto n = static_cast<std::uint32_t>(values.size());
  char* p = grow(out_, mp_sizeof_array(n) + std::size_t{9} * n);
  p = mp_encode_array(p, n);
  for (double d : values) p = mp_encode_double(p, d);
}

std::string_view wire_type_name(WireType t) noexcept {
  switch (t) {
    case WireType::nil:
      return "nil";
    case WireType::boolean:
      return "bool";
    case WireType::uint:
      return "int";
    case WireType::sint:
      return "int";
    case WireType::float32:
      return "float";
    case WireType::float64:
      return "float";
    case WireType::str:
      return "str";
    case WireType::bin:
      return "bytes";
    case WireType::array:
      return "list";
    case WireType::map:
      return "dict";
    case WireType::ext:
      return "msgpack ext";
  }
  return "?";
}

Reader::Reader(std::span<const std::byte> input, const DecodeLimits& limits,
               const SerializationContext& context)
    : begin_(reinterpret_cast<const char*>(input.data())),
      pos_(begin_),
      end_(begin_ + input.size()),
      limits_(limits),
      context_(context) {
  if (input.size() > limits_.max_input_bytes) {
    throw DecodeError("input of " + std::to_string(input.size()) +
                          " bytes exceeds the decode limit of " +
                          std::to_string(limits_.max_input_bytes) + " bytes",
                      0);
  }
}

void Reader::fail(const std::string& what) const {
  throw DecodeError(what, offset());
}

const char* Reader::need(std::size_t n) const {
  if (remaining() < n) {
    fail("truncated input: " + std::to_string(n) + " bytes needed, " + std::to_string(remaining()) +
         " left");
  }
  return pos_;
}

namespace {
// The format family of each first byte, as msgpuck's mp_typeof files it (0xc1, the one byte
// msgpack never uses, is refused before this table is read).
constexpr std::array<WireType, 256> kTypeOfFirstByte = [] {
  std::array<WireType, 256> t{};
  auto fill = [&t](unsigned from, unsigned to, WireType type) {
    for (unsigned c = from; c <= to; ++c) t[c] = type;
  };
  fill(0x00, 0x7f, WireType::uint);
  fill(0x80, 0x8f, WireType::map);
  fill(0x90, 0x9f, WireType::array);
  fill(0xa0, 0xbf, WireType::str);
  fill(0xc0, 0xc0, WireType::nil);
  fill(0xc1, 0xc1, WireType::ext);
  fill(0xc2, 0xc3, WireType::boolean);
  fill(0xc4, 0xc6, WireType::bin);
  fill(0xc7, 0xc9, WireType::ext);
  fill(0xca, 0xca, WireType::float32);
  fill(0xcb, 0xcb, WireType::float64);
  fill(0xcc, 0xcf, WireType::uint);
  fill(0xd0, 0xd3, WireType::sint);
  fill(0xd4, 0xd8, WireType::ext);
  fill(0xd9, 0xdb, WireType::str);
  fill(0xdc, 0xdd, WireType::array);
  fill(0xde, 0xdf, WireType::map);
  fill(0xe0, 0xff, WireType::sint);
  return t;
}();

std::uint8_t first_byte(const char* at) noexcept {
  return static_cast<std::uint8_t>(*at);
}
}  // namespace

WireType Reader::peek() const {
  if (pos_ == end_) fail("unexpected end of input");
  const std::uint8_t c = first_byte(pos_);
  if (c == 0xc1) fail("invalid msgpack type byte 0xc1");
  return kTypeOfFirstByte[c];
}

namespace {
[[noreturn]] void mismatch(const Reader& r, std::string_view expected, WireType got) {
  throw TypeMismatchError("expected " + std::string(expected) + ", got " +
                          std::string(wire_type_name(got)) + " (at byte " +
                          std::to_string(r.offset()) + ")");
}
// Bytes of the header of a str/bin/array/map/int with this first byte (after the type byte).
std::size_t header_extra(std::uint8_t c) {
  switch (c) {
    case 0xcc:
    case 0xd0:
    case 0xd9:
    case 0xc4:
      return 1;
    case 0xcd:
    case 0xd1:
    case 0xda:
    case 0xc5:
    case 0xdc:
    case 0xde:
      return 2;
    case 0xce:
    case 0xd2:
    case 0xdb:
    case 0xc6:
    case 0xdd:
    case 0xdf:
    case 0xca:
      return 4;
    case 0xcf:
    case 0xd3:
    case 0xcb:
      return 8;
    default:
      return 0;
  }
}
}  // namespace

void Reader::read_nil() {
  WireType t = peek();
  if (t != WireType::nil) mismatch(*this, "None", t);
  ++pos_;
}

bool Reader::read_bool() {
  WireType t = peek();
  if (t != WireType::boolean) mismatch(*this, "bool", t);
  return mp_decode_bool(&pos_);
}

Reader::Integer Reader::read_integer() {
  // The fixint forms (one byte: counters, small ids, small values) without the general path.
  if (pos_ != end_) {
    const std::uint8_t c = first_byte(pos_);
    if (c <= 0x7f) {
      ++pos_;
      return {false, c};
    }
    if (c >= 0xe0) {
      ++pos_;
      return {true, std::uint64_t{256} - c};
    }
  }
  WireType t = peek();
  if (t != WireType::uint && t != WireType::sint) mismatch(*this, "int", t);
  need(1 + header_extra(static_cast<std::uint8_t>(*pos_)));
  if (t == WireType::uint) return {false, mp_decode_uint(&pos_)};
  std::int64_t i = mp_decode_int(&pos_);
  if (i >= 0) return {false, static_cast<std::uint64_t>(i)};  // a signed form holding >= 0
  return {true, std::uint64_t{0} - static_cast<std::uint64_t>(i)};
}

std::int64_t Reader::read_int64() {
  std::size_t at = offset();
  Integer i = read_integer();
  if (i.negative) return static_cast<std::int64_t>(std::uint64_t{0} - i.magnitude);
  if (i.magnitude > static_cast<std::uint64_t>(INT64_MAX)) {
    throw TypeMismatchError("integer " + std::to_string(i.magnitude) +
                            " does not fit in int64_t (at byte " + std::to_string(at) + ")");
  }
  return static_cast<std::int64_t>(i.magnitude);
}

std::uint64_t Reader::read_uint64() {
  std::size_t at = offset();
  Integer i = read_integer();
  if (i.negative) {
    throw TypeMismatchError("negative integer does not fit in uint64_t (at byte " +
                            std::to_string(at) + ")");
  }
  return i.magnitude;
}

double Reader::read_double() {
  WireType t = peek();
  if (t == WireType::float64) {
    need(9);
    return mp_decode_double(&pos_);
  }
  if (t == WireType::float32) {
    need(5);
    return static_cast<double>(mp_decode_float(&pos_));
  }
  mismatch(*this, "float", t);
}

std::uint32_t Reader::read_counted(WireType expected, std::string_view expected_name,
                                   std::size_t bytes_per_item, std::string_view what) {
  WireType t = peek();
  if (t != expected) mismatch(*this, expected_name, t);
  need(1 + header_extra(static_cast<std::uint8_t>(*pos_)));
  const char* at = pos_;
  std::uint32_t n = 0;
  switch (expected) {
    case WireType::str:
      n = mp_decode_strl(&pos_);
      break;
    case WireType::bin:
      n = mp_decode_binl(&pos_);
      break;
    case WireType::array:
      n = mp_decode_array(&pos_);
      break;
    default:
      n = mp_decode_map(&pos_);
      break;
  }
  // Every byte, element or entry needs at least `bytes_per_item` bytes: a larger count is a lie
  // and must not size anything.
  if (remaining() / bytes_per_item < n) {
    pos_ = at;
    fail(std::string(expected_name) + " of " + std::to_string(n) + " " + std::string(what) +
         " cannot fit in the " + std::to_string(remaining()) + " bytes left");
  }
  return n;
}

std::string_view Reader::read_str() {
  // fixstr (dict keys, short names) without the general path; whatever it does not take whole
  // goes the general way, which also reports the errors.
  if (pos_ != end_ && (first_byte(pos_) & 0xe0) == 0xa0) {
    const std::size_t n = first_byte(pos_) & 0x1f;
    if (n < remaining()) {
      std::string_view s(pos_ + 1, n);
      pos_ += 1 + n;
      return s;
    }
  }
  std::uint32_t n = read_counted(WireType::str, "str", 1, "bytes");
  std::string_view s(pos_, n);
  pos_ += n;
  return s;
}

std::span<const std::byte> Reader::read_bin() {
  // bin 8 (up to 255 bytes) without the general path, as read_str.
  if (remaining() >= 2 && first_byte(pos_) == 0xc4) {
    const std::size_t n = first_byte(pos_ + 1);
    if (n <= remaining() - 2) {
      std::span<const std::byte> b(reinterpret_cast<const std::byte*>(pos_ + 2), n);
      pos_ += 2 + n;
      return b;
    }
  }
  std::uint32_t n = read_counted(WireType::bin, "bytes", 1, "bytes");
  std::span<const std::byte> b(reinterpret_cast<const std::byte*>(pos_), n);
  pos_ += n;
  return b;
}

std::uint32_t Reader::read_array_header() {
  // fixarray: each element needs at least a byte after the header.
  if (pos_ != end_ && (first_byte(pos_) & 0xf0) == 0x90) {
    const std::uint32_t n = first_byte(pos_) & 0x0f;
    if (n < remaining()) {
      ++pos_;
      return n;
    }
  }
  return read_counted(WireType::array, "list", 1, "elements");
}

std::uint32_t Reader::read_map_header() {
  // fixmap: each entry needs at least two bytes after the header.
  if (pos_ != end_ && (first_byte(pos_) & 0xf0) == 0x80) {
    const std::uint32_t n = first_byte(pos_) & 0x0f;
    if (2 * n < remaining()) {
      ++pos_;
      return n;
    }
  }
  return read_counted(WireType::map, "dict", 2, "entries");
}

Reader::DepthGuard::DepthGuard(Reader& r) : reader_(r) {
  if (++reader_.depth_ > reader_.limits_.max_depth) {
    --reader_.depth_;
    reader_.fail("nesting deeper than the limit of " + std::to_string(reader_.limits_.max_depth));
  }
}

bool Reader::try_consume(std::string_view bytes) noexcept {
  if (remaining() < bytes.size() || std::memcmp(pos_, bytes.data(), bytes.size()) != 0) {
    return false;
  }
  pos_ += bytes.size();
  return true;
}

void Reader::seek(std::size_t offset) {
  if (offset > static_cast<std::size_t>(end_ - begin_)) fail("seek past the end of the input");
  pos_ = begin_ + offset;
}

void Reader::skip() {
  // Iterative, with a count of elements still to skip per open level, so that hostile nesting
  // costs neither stack nor more than the depth limit allows.
  std::uint64_t pending = 1;
  std::size_t levels = 0;
  std::vector<std::uint64_t> stack;
  while (true) {
    while (pending == 0) {
      if (stack.empty()) return;
      pending = stack.back();
      stack.pop_back();
      --levels;
    }
    --pending;
    WireType t = peek();
    std::uint64_t children = 0;
    switch (t) {
      case WireType::nil:
      case WireType::boolean:
        ++pos_;
        break;
      case WireType::uint:
      case WireType::sint:
        read_integer();
        break;
      case WireType::float32:
      case WireType::float64:
        read_double();
        break;
      case WireType::str:
        read_str();
        break;
      case WireType::bin:
        read_bin();
        break;
      case WireType::array:
        children = read_array_header();
        break;
      case WireType::map:
        children = std::uint64_t{2} * read_map_header();
        break;
      case WireType::ext:
        // As the decoder: nothing the reference sends is an ext, so a message with one could
        // never be received; refusing it here tells its sender at once.
        fail("msgpack ext types are not used by the reference");
    }
    if (children > 0) {
      if (++levels > limits_.max_depth) {
        fail("nesting deeper than the limit of " + std::to_string(limits_.max_depth));
      }
      stack.push_back(pending);
      pending = children;
    }
  }
}

std::span<const std::byte> Reader::read_raw() {
  const char* at = pos_;
  skip();
  return {reinterpret_cast<const std::byte*>(at), static_cast<std::size_t>(pos_ - at)};
}

void Reader::read_float64_array(std::span<double> out) {
  for (double& d : out) {
    // The common case, float64, without the general path's checks in between.
    if (remaining() >= 9 && static_cast<std::uint8_t>(*pos_) == 0xcb) {
      d = mp_decode_double(&pos_);
      continue;
    }
    WireType t = peek();
    if (t == WireType::uint || t == WireType::sint) {
      Integer i = read_integer();
      d = i.negative ? -static_cast<double>(i.magnitude) : static_cast<double>(i.magnitude);
    } else {
      d = read_double();
    }
  }
}

}  // namespace tno::mpc::communication
