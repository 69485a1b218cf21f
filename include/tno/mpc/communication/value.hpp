// Value: a dynamic value holding anything the Python reference puts on the wire.
//
// Use it where the kind of what arrives is not known in advance (the CLI, generic tools, custom
// types that are only passed through); use the typed path (`encode`/`decode<T>` in codec.hpp)
// where it is, which is faster and allocates less.
//
//   Value v = Value::list({1, "two", 3.0, Value::tuple({nullptr, true})});
//   v[1].as_str();          // "two"
//   v[0].as<int>();         // 1
//   v.to_string();          // [1, 'two', 3.0, (None, True)]
//   v[1].as_int64();        // throws TypeMismatchError: "expected int, got str"
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "tno/mpc/communication/bigint.hpp"
#include "tno/mpc/communication/buffer.hpp"
#include "tno/mpc/communication/errors.hpp"

namespace tno::mpc::communication {

class Value;

/// The kinds a Value can have. Integers of every size are one kind, like Python's `int`.
enum class Kind {
  nil,
  boolean,
  integer,
  float64,
  str,
  bytes,
  list,
  tuple,
  dict,
  ndarray,
  bitarray,
  mpz,
  typed,
};

/// Lower-case name of a kind, as used in error messages ("int", "str", "tuple", ...).
std::string_view kind_name(Kind kind) noexcept;

/// A Python tuple: on the wire `{"type": "tuple", "data": [items...]}`.
struct Tuple {
  std::vector<Value> items;
  bool operator==(const Tuple& other) const;
};

/// A dict that keeps insertion order. Keys are str when the reference sends them, but any Value is
/// accepted when received that way (`OPT_NON_STR_KEYS`).
class Dict {
 public:
  using Entry = std::pair<Value, Value>;
  Dict() = default;
  Dict(std::initializer_list<Entry> entries);

  /// Sets `key` to `value`, replacing an existing entry in its place or appending a new one.
  void set(Value key, Value value);
  /// The value under a str key, or nullptr.
  const Value* find(std::string_view key) const;
  Value* find(std::string_view key);
  /// The value under a str key; throws LookupError naming the key when absent.
  const Value& at(std::string_view key) const;
  // Defined after Value (an Entry's size must be known; clang insists).
  std::size_t size() const noexcept;
  bool empty() const noexcept;
  const std::vector<Entry>& entries() const noexcept { return entries_; }
  std::vector<Entry>& entries() noexcept { return entries_; }
  auto begin() const noexcept { return entries_.begin(); }
  auto end() const noexcept { return entries_.end(); }
  bool operator==(const Dict& other) const;

 private:
  std::vector<Entry> entries_;
};

/// A numpy array that the reference sends with type information: object arrays (elements of any
/// kind) and 0-d arrays. Elements are flat in row-major order; `shape` is empty for a 0-d array,
/// which holds exactly one element. (Native-dtype arrays travel as plain nested lists.)
struct NdArray {
  std::vector<std::uint64_t> shape;
  std::vector<Value> elements;
  bool operator==(const NdArray& other) const;
};

/// A `bitarray.bitarray`, with its bit order.
struct BitArray {
  enum class Endian { big, little };
  std::vector<bool> bits;
  Endian endian = Endian::big;
  bool operator==(const BitArray&) const = default;
};

/// A `gmpy2.mpz`: an integer that the Python side receives as mpz rather than int.
struct Mpz {
  BigInt value;
  bool operator==(const Mpz&) const = default;
};

/// An object of a class that is not one of the built-in kinds: `{"type": name, "data": data}`.
/// Custom classes decode to this on the dynamic path, and an unknown type name passes through
/// intact as one.
class Typed {
 public:
  Typed(std::string type, Value data);
  Typed(const Typed& other);
  Typed(Typed&&) noexcept = default;
  Typed& operator=(const Typed& other);
  Typed& operator=(Typed&&) noexcept = default;
  ~Typed();

  const std::string& type() const noexcept { return type_; }
  const Value& data() const noexcept { return *data_; }
  Value& data() noexcept { return *data_; }
  bool operator==(const Typed& other) const;

 private:
  std::string type_;
  std::unique_ptr<Value> data_;  // never null
};

class Value {
 public:
  using List = std::vector<Value>;

  /// None.
  Value() noexcept = default;
  Value(std::nullptr_t) noexcept {}        // NOLINT: Value v = nullptr reads as Python's None
  Value(bool b) noexcept : storage_(b) {}  // NOLINT
  template <class I>
  requires(std::is_integral_v<I> && !std::is_same_v<I, bool> && !std::is_same_v<I, char>) Value(I i)
  noexcept {  // NOLINT
    if constexpr (std::is_signed_v<I>) {
      storage_ = static_cast<std::int64_t>(i);
    } else {
      set_unsigned(static_cast<std::uint64_t>(i));
    }
  }
  Value(const BigInt& i);                                        // NOLINT
  Value(double d) noexcept : storage_(d) {}                      // NOLINT
  Value(float f) noexcept : storage_(static_cast<double>(f)) {}  // NOLINT
  Value(const char* s) : storage_(std::string(s)) {}             // NOLINT
  Value(std::string s) noexcept : storage_(std::move(s)) {}      // NOLINT
  Value(std::string_view s) : storage_(std::string(s)) {}        // NOLINT
  Value(Bytes b) noexcept : storage_(std::move(b)) {}            // NOLINT
  Value(List l) noexcept : storage_(std::move(l)) {}             // NOLINT
  Value(Tuple t) noexcept : storage_(std::move(t)) {}            // NOLINT
  Value(Dict d) noexcept : storage_(std::move(d)) {}             // NOLINT
  Value(NdArray a) noexcept : storage_(std::move(a)) {}          // NOLINT
  Value(BitArray b) noexcept : storage_(std::move(b)) {}         // NOLINT
  Value(Mpz m) noexcept : storage_(std::move(m)) {}              // NOLINT
  Value(Typed t) noexcept : storage_(std::move(t)) {}            // NOLINT

  static Value list(std::initializer_list<Value> items) { return Value(List(items)); }
  static Value tuple(std::initializer_list<Value> items) { return Value(Tuple{List(items)}); }
  static Value dict(std::initializer_list<Dict::Entry> entries) { return Value(Dict(entries)); }
  static Value bytes(std::string_view raw) {
    auto b = communication::as_bytes(raw);
    return Value(Bytes(b.begin(), b.end()));
  }

  Kind kind() const noexcept;
  bool is_nil() const noexcept { return kind() == Kind::nil; }
  bool is_bool() const noexcept { return kind() == Kind::boolean; }
  bool is_int() const noexcept { return kind() == Kind::integer; }
  bool is_float() const noexcept { return kind() == Kind::float64; }
  bool is_str() const noexcept { return kind() == Kind::str; }
  bool is_bytes() const noexcept { return kind() == Kind::bytes; }
  bool is_list() const noexcept { return kind() == Kind::list; }
  bool is_tuple() const noexcept { return kind() == Kind::tuple; }
  bool is_dict() const noexcept { return kind() == Kind::dict; }
  bool is_ndarray() const noexcept { return kind() == Kind::ndarray; }
  bool is_bitarray() const noexcept { return kind() == Kind::bitarray; }
  bool is_mpz() const noexcept { return kind() == Kind::mpz; }
  bool is_typed() const noexcept { return kind() == Kind::typed; }

  // Accessors throw TypeMismatchError naming both kinds when the value has another kind.
  bool as_bool() const;
  /// Integers that fit; throws TypeMismatchError when not an int or too big (as the typed path).
  std::int64_t as_int64() const;
  std::uint64_t as_uint64() const;
  /// The integer when it fits, without throwing: none for other kinds and larger integers.
  std::optional<std::int64_t> to_int64() const noexcept;
  std::optional<std::uint64_t> to_uint64() const noexcept;
  /// Any integer, exactly.
  BigInt as_bigint() const;
  /// A float; an int is converted like Python's float(int).
  double as_double() const;
  const std::string& as_str() const;
  const Bytes& as_bytes() const;
  const List& as_list() const;
  List& as_list();
  const Tuple& as_tuple() const;
  const Dict& as_dict() const;
  Dict& as_dict();
  const NdArray& as_ndarray() const;
  const BitArray& as_bitarray() const;
  const Mpz& as_mpz() const;
  const Typed& as_typed() const;

  /// Converts to a C++ type through its codec (defined in codec.hpp):
  /// `v.as<std::vector<int>>()`, `v.as<Point>()`.
  template <class T>
  T as() const;

  /// Element of a list or tuple (bounds-checked), or value of a dict under a str key.
  template <class I>
  requires std::is_integral_v<I>
  const Value& operator[](I index) const {
    if constexpr (std::is_signed_v<I>) {
      if (index < 0) throw LookupError("negative index " + std::to_string(index));
    }
    return at_index(static_cast<std::size_t>(index));
  }
  const Value& operator[](std::string_view key) const;
  const Value& operator[](const char* key) const { return (*this)[std::string_view(key)]; }
  /// Number of elements of a list, tuple, dict or ndarray, bytes of str and bytes.
  std::size_t size() const;

  /// Python-like text: None, True, 3, 1.5, 'text', b'\x00', [..], (..), {..}, mpz(5),
  /// bitarray('101'), array(..), Point({'x': 1}).
  std::string to_string() const;

  /// Structural equality. Floats compare by value with NaN equal to NaN and -0.0 unequal to 0.0,
  /// so that a value equals itself after a round trip.
  friend bool operator==(const Value& a, const Value& b);

 private:
  using Storage =
      std::variant<std::monostate, bool, std::int64_t, std::uint64_t, BigInt, double, std::string,
                   Bytes, List, Tuple, Dict, NdArray, BitArray, Mpz, Typed>;
  void set_unsigned(std::uint64_t u) noexcept {
    if (u <= static_cast<std::uint64_t>(INT64_MAX)) {
      storage_ = static_cast<std::int64_t>(u);
    } else {
      storage_ = u;
    }
  }
  template <class T>
  const T& get(Kind expected) const;
  const Value& at_index(std::size_t index) const;

  // Invariant: integers in int64 range are stored as int64_t, those above it up to 2^64-1 as
  // uint64_t, and only the others as BigInt, so that equal integers have equal storage.
  Storage storage_;
};

std::ostream& operator<<(std::ostream& os, const Value& v);

inline std::size_t Dict::size() const noexcept {
  return entries_.size();
}
inline bool Dict::empty() const noexcept {
  return entries_.empty();
}

}  // namespace tno::mpc::communication
