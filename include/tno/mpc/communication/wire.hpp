// The msgpack layer: Writer appends msgpack to a ByteBuffer, Reader walks msgpack bytes with
// every length checked against the input.
//
// Codecs of user types (codec.hpp) are written against these two classes. Most users never touch
// them; they call encode()/decode<T>().
//
//   ByteBuffer buf;
//   Writer w(buf);
//   w.write_array_header(2);
//   w.write_int(-1);
//   w.write_str("x");
//
//   Reader r(buf.view());
//   auto n = r.read_array_header();   // 2
//   auto i = r.read_int64();          // -1
//   auto s = r.read_str();            // "x"
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "tno/mpc/communication/buffer.hpp"

namespace tno::mpc::communication {

/// Who a message goes to or comes from, handed to custom serializers (the reference's kwargs).
/// Empty when encoding or decoding outside a pool.
struct SerializationContext {
  std::string_view origin;       ///< name of the party that sent the message
  std::string_view destination;  ///< name of the party that receives it
};

/// Bounds on what a Reader accepts from untrusted bytes.
struct DecodeLimits {
  /// Maximum nesting of arrays and maps (a typed value counts its map). Bounds the stack.
  std::size_t max_depth = 512;
  /// Maximum size of one input.
  std::size_t max_input_bytes = std::size_t{4} << 30;
};

/// The msgpack format family of the next element.
enum class WireType { nil, boolean, uint, sint, float32, float64, str, bin, array, map, ext };

/// Appends msgpack to a ByteBuffer, choosing the smallest form like the reference (ormsgpack):
/// non-negative integers use the unsigned family, negative ones the signed family.
class Writer {
 public:
  explicit Writer(ByteBuffer& out, const SerializationContext& context = {}) noexcept
      : out_(out), context_(context) {}

  void write_nil();
  void write_bool(bool b);
  void write_uint(std::uint64_t u);
  void write_int(std::int64_t i);
  void write_float32(float f);
  void write_float64(double d);
  void write_str(std::string_view s);
  void write_bin(std::span<const std::byte> b);
  void write_array_header(std::uint32_t n);
  void write_map_header(std::uint32_t n);
  /// Appends bytes that already are msgpack (one or more complete elements).
  void write_raw(std::span<const std::byte> msgpack) { out_.append(msgpack); }
  /// A whole array of float64 in one call (the common large payload).
  void write_float64_array(std::span<const double> values);
  /// Starts a bin of `size` bytes and returns where its bytes go, for writers that produce the
  /// bytes in place (big integers).
  std::byte* write_bin_in_place(std::uint32_t size);
  /// Only the header of a bin of `size` bytes, for writers whose bytes go out separately.
  void write_bin_header(std::uint32_t size);
  /// How many bytes write_bin_header(size) writes.
  static std::size_t bin_header_size(std::uint32_t size) noexcept;
  /// A bin whose bytes are encoded in place after it (a packed payload): begin_bin reserves room
  /// for the largest header and returns a mark; end_bin writes the smallest header for what was
  /// written since, moving it back when that is under 64 KiB.
  std::size_t begin_bin();
  void end_bin(std::size_t mark);

  ByteBuffer& buffer() noexcept { return out_; }
  const SerializationContext& context() const noexcept { return context_; }

 private:
  ByteBuffer& out_;
  SerializationContext context_;
};

/// Reads msgpack from a byte span it does not own. Every read checks the bytes it needs against
/// the end of the input and throws DecodeError otherwise; array and map counts are checked
/// against the bytes left, so a header cannot make it allocate more than the input justifies.
class Reader {
 public:
  explicit Reader(std::span<const std::byte> input, const DecodeLimits& limits = {},
                  const SerializationContext& context = {});

  /// Format family of the next element; throws DecodeError at the end of the input.
  WireType peek() const;
  bool at_end() const noexcept { return pos_ == end_; }
  std::size_t offset() const noexcept { return static_cast<std::size_t>(pos_ - begin_); }
  std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - pos_); }

  // Each read_* checks the format family and throws TypeMismatchError naming what it found.
  void read_nil();
  bool read_bool();
  /// Any msgpack integer as int64_t; a uint64 above INT64_MAX throws TypeMismatchError.
  std::int64_t read_int64();
  /// Any non-negative msgpack integer; negative ones throw TypeMismatchError.
  std::uint64_t read_uint64();
  /// A msgpack integer as (negative, magnitude) without loss: covers [-2^63, 2^64).
  struct Integer {
    bool negative;
    std::uint64_t magnitude;
  };
  Integer read_integer();
  /// float64, or float32 widened exactly.
  double read_double();
  std::string_view read_str();
  std::span<const std::byte> read_bin();
  std::uint32_t read_array_header();
  std::uint32_t read_map_header();
  /// Consumes `bytes` if the input continues with exactly them; for fast paths that recognise a
  /// fixed layout (e.g. the header of a typed big integer).
  bool try_consume(std::string_view bytes) noexcept;
  /// Skips one whole element (with everything nested in it), bounded by the depth limit.
  void skip();
  /// Skips an element and returns its bytes.
  std::span<const std::byte> read_raw();
  /// Reads `count` msgpack numbers into doubles (the common large payload).
  void read_float64_array(std::span<double> out);

  /// Nesting guard for recursive decoders: throws DecodeError beyond `limits().max_depth`.
  class DepthGuard {
   public:
    explicit DepthGuard(Reader& r);
    ~DepthGuard() { --reader_.depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

   private:
    Reader& reader_;
  };

  /// Position bookkeeping for decoders that need to look ahead (e.g. a map whose "data" key
  /// comes before its "type" key).
  std::size_t tell() const noexcept { return offset(); }
  void seek(std::size_t offset);

  const DecodeLimits& limits() const noexcept { return limits_; }
  const SerializationContext& context() const noexcept { return context_; }
  /// Throws DecodeError at the current offset.
  [[noreturn]] void fail(const std::string& what) const;

 private:
  const char* need(std::size_t n) const;
  /// Reads the header of a str, bin, array or map and checks its count against the bytes left.
  std::uint32_t read_counted(WireType expected, std::string_view expected_name,
                             std::size_t bytes_per_item, std::string_view what);
  const char* begin_;
  const char* pos_;
  const char* end_;
  DecodeLimits limits_;
  SerializationContext context_;
  std::size_t depth_ = 0;
};

/// Name of a wire type for error messages ("uint", "str", "map", ...).
std::string_view wire_type_name(WireType t) noexcept;

}  // namespace tno::mpc::communication
