#include "tno/mpc/communication/value.hpp"

#include <charconv>
#include <cmath>
#include <ostream>

#include "tno/mpc/communication/errors.hpp"
#include "tno/mpc/communication/python_text.hpp"

namespace tno::mpc::communication {

std::string_view kind_name(Kind kind) noexcept {
  switch (kind) {
    case Kind::nil:
      return "None";
    case Kind::boolean:
      return "bool";
    case Kind::integer:
      return "int";
    case Kind::float64:
      return "float";
    case Kind::str:
      return "str";
    case Kind::bytes:
      return "bytes";
    case Kind::list:
      return "list";
    case Kind::tuple:
      return "tuple";
    case Kind::dict:
      return "dict";
    case Kind::ndarray:
      return "ndarray";
    case Kind::bitarray:
      return "bitarray";
    case Kind::mpz:
      return "mpz";
    case Kind::typed:
      return "typed value";
  }
  return "?";
}

bool Tuple::operator==(const Tuple& other) const {
  return items == other.items;
}
bool NdArray::operator==(const NdArray& other) const {
  return shape == other.shape && elements == other.elements;
}

Dict::Dict(std::initializer_list<Entry> entries) {
  for (const auto& e : entries) set(e.first, e.second);
}
void Dict::set(Value key, Value value) {
  for (auto& e : entries_) {
    if (e.first == key) {
      e.second = std::move(value);
      return;
    }
  }
  entries_.emplace_back(std::move(key), std::move(value));
}
const Value* Dict::find(std::string_view key) const {
  for (const auto& e : entries_) {
    if (e.first.is_str() && e.first.as_str() == key) return &e.second;
  }
  return nullptr;
}
Value* Dict::find(std::string_view key) {
  return const_cast<Value*>(static_cast<const Dict*>(this)->find(key));
}
const Value& Dict::at(std::string_view key) const {
  if (const Value* v = find(key)) return *v;
  throw LookupError("dict has no key '" + std::string(key) + "'");
}
bool Dict::operator==(const Dict& other) const {
  return entries_ == other.entries_;
}

Typed::Typed(std::string type, Value data)
    : type_(std::move(type)), data_(std::make_unique<Value>(std::move(data))) {}
Typed::Typed(const Typed& other)
    : type_(other.type_), data_(std::make_unique<Value>(*other.data_)) {}
Typed& Typed::operator=(const Typed& other) {
  if (this != &other) {
    type_ = other.type_;
    data_ = std::make_unique<Value>(*other.data_);
  }
  return *this;
}
Typed::~Typed() = default;
bool Typed::operator==(const Typed& other) const {
  return type_ == other.type_ && *data_ == *other.data_;
}

Value::Value(const BigInt& i) {
  if (auto s = i.to_int64()) {
    storage_ = *s;
  } else if (auto u = i.to_uint64()) {
    storage_ = *u;
  } else {
    storage_ = i;
  }
}

Kind Value::kind() const noexcept {
  switch (storage_.index()) {
    case 0:
      return Kind::nil;
    case 1:
      return Kind::boolean;
    case 2:
    case 3:
    case 4:
      return Kind::integer;
    case 5:
      return Kind::float64;
    case 6:
      return Kind::str;
    case 7:
      return Kind::bytes;
    case 8:
      return Kind::list;
    case 9:
      return Kind::tuple;
    case 10:
      return Kind::dict;
    case 11:
      return Kind::ndarray;
    case 12:
      return Kind::bitarray;
    case 13:
      return Kind::mpz;
    default:
      return Kind::typed;
  }
}

namespace {
[[noreturn]] void mismatch(Kind expected, Kind got) {
  throw TypeMismatchError("expected " + std::string(kind_name(expected)) + ", got " +
                          std::string(kind_name(got)));
}
}  // namespace

template <class T>
const T& Value::get(Kind expected) const {
  if (const T* p = std::get_if<T>(&storage_)) return *p;
  mismatch(expected, kind());
}

bool Value::as_bool() const {
  return get<bool>(Kind::boolean);
}

std::optional<std::int64_t> Value::to_int64() const noexcept {
  if (const auto* i = std::get_if<std::int64_t>(&storage_)) return *i;
  return std::nullopt;  // by the storage invariant, no other integer fits
}

std::optional<std::uint64_t> Value::to_uint64() const noexcept {
  if (const auto* i = std::get_if<std::int64_t>(&storage_); i && *i >= 0) {
    return static_cast<std::uint64_t>(*i);
  }
  if (const auto* u = std::get_if<std::uint64_t>(&storage_)) return *u;
  return std::nullopt;
}

std::int64_t Value::as_int64() const {
  if (const auto i = to_int64()) return *i;
  if (!is_int()) mismatch(Kind::integer, kind());
  throw TypeMismatchError("integer " + to_string() + " does not fit in int64_t");
}

std::uint64_t Value::as_uint64() const {
  if (const auto u = to_uint64()) return *u;
  if (!is_int()) mismatch(Kind::integer, kind());
  throw TypeMismatchError("integer " + to_string() + " does not fit in uint64_t");
}

BigInt Value::as_bigint() const {
  if (const auto* i = std::get_if<std::int64_t>(&storage_)) return BigInt(*i);
  if (const auto* u = std::get_if<std::uint64_t>(&storage_)) return BigInt(*u);
  return get<BigInt>(Kind::integer);
}

double Value::as_double() const {
  if (const auto* d = std::get_if<double>(&storage_)) return *d;
  if (const auto* i = std::get_if<std::int64_t>(&storage_)) return static_cast<double>(*i);
  if (const auto* u = std::get_if<std::uint64_t>(&storage_)) return static_cast<double>(*u);
  if (const auto* b = std::get_if<BigInt>(&storage_)) return std::stod(b->to_string());
  mismatch(Kind::float64, kind());
}

const std::string& Value::as_str() const {
  return get<std::string>(Kind::str);
}
const Bytes& Value::as_bytes() const {
  return get<Bytes>(Kind::bytes);
}
const Value::List& Value::as_list() const {
  return get<List>(Kind::list);
}
Value::List& Value::as_list() {
  return const_cast<List&>(get<List>(Kind::list));
}
const Tuple& Value::as_tuple() const {
  return get<Tuple>(Kind::tuple);
}
const Dict& Value::as_dict() const {
  return get<Dict>(Kind::dict);
}
Dict& Value::as_dict() {
  return const_cast<Dict&>(get<Dict>(Kind::dict));
}
const NdArray& Value::as_ndarray() const {
  return get<NdArray>(Kind::ndarray);
}
const BitArray& Value::as_bitarray() const {
  return get<BitArray>(Kind::bitarray);
}
const Mpz& Value::as_mpz() const {
  return get<Mpz>(Kind::mpz);
}
const Typed& Value::as_typed() const {
  return get<Typed>(Kind::typed);
}

const Value& Value::at_index(std::size_t index) const {
  const List* items = std::get_if<List>(&storage_);
  if (const auto* t = std::get_if<Tuple>(&storage_)) items = &t->items;
  if (items == nullptr) mismatch(Kind::list, kind());
  if (index >= items->size()) {
    throw LookupError("index " + std::to_string(index) + " out of range for a " +
                      std::string(kind_name(kind())) + " of " + std::to_string(items->size()) +
                      " elements");
  }
  return (*items)[index];
}

const Value& Value::operator[](std::string_view key) const {
  return as_dict().at(key);
}

std::size_t Value::size() const {
  switch (kind()) {
    case Kind::list:
      return as_list().size();
    case Kind::tuple:
      return as_tuple().items.size();
    case Kind::dict:
      return as_dict().size();
    case Kind::ndarray:
      return as_ndarray().elements.size();
    case Kind::str:
      return as_str().size();
    case Kind::bytes:
      return as_bytes().size();
    case Kind::bitarray:
      return as_bitarray().bits.size();
    default:
      throw TypeMismatchError("a " + std::string(kind_name(kind())) + " has no size");
  }
}

bool operator==(const Value& a, const Value& b) {
  if (a.storage_.index() != b.storage_.index()) return false;
  if (const auto* x = std::get_if<double>(&a.storage_)) {
    double y = std::get<double>(b.storage_);
    if (std::isnan(*x) || std::isnan(y)) return std::isnan(*x) && std::isnan(y);
    return *x == y && std::signbit(*x) == std::signbit(y);
  }
  return a.storage_ == b.storage_;
}

namespace {
void print(std::string& out, const Value& v);

void print_nested(std::string& out, const NdArray& a, std::size_t dim, std::size_t& next) {
  if (dim == a.shape.size()) {
    print(out, a.elements.at(next++));
    return;
  }
  out += '[';
  for (std::uint64_t i = 0; i < a.shape[dim]; ++i) {
    if (i) out += ", ";
    print_nested(out, a, dim + 1, next);
  }
  out += ']';
}

void print(std::string& out, const Value& v) {
  switch (v.kind()) {
    case Kind::nil:
      out += "None";
      break;
    case Kind::boolean:
      out += v.as_bool() ? "True" : "False";
      break;
    case Kind::integer:
      out += v.as_bigint().to_string();
      break;
    case Kind::float64:
      out += python::float_repr(v.as_double());
      break;
    case Kind::str:
      out += python::str_repr(v.as_str());
      break;
    case Kind::bytes:
      out += python::bytes_repr(v.as_bytes());
      break;
    case Kind::list:
    case Kind::tuple: {
      const auto& items = v.is_list() ? v.as_list() : v.as_tuple().items;
      out += v.is_list() ? '[' : '(';
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) out += ", ";
        print(out, items[i]);
      }
      if (v.is_tuple() && items.size() == 1) out += ',';
      out += v.is_list() ? ']' : ')';
      break;
    }
    case Kind::dict: {
      out += '{';
      bool first = true;
      for (const auto& [k, val] : v.as_dict()) {
        if (!first) out += ", ";
        first = false;
        print(out, k);
        out += ": ";
        print(out, val);
      }
      out += '}';
      break;
    }
    case Kind::ndarray: {
      const auto& a = v.as_ndarray();
      out += "array(";
      std::size_t next = 0;
      if (a.elements.size() == 0 && !a.shape.empty()) {
        out += "[], shape=(";
        for (std::size_t i = 0; i < a.shape.size(); ++i) {
          if (i) out += ", ";
          out += std::to_string(a.shape[i]);
        }
        out += a.shape.size() == 1 ? ",)" : ")";
      } else {
        print_nested(out, a, 0, next);
      }
      out += ", dtype=object)";
      break;
    }
    case Kind::bitarray: {
      const auto& b = v.as_bitarray();
      out += "bitarray('";
      for (bool bit : b.bits) out += bit ? '1' : '0';
      out += b.endian == BitArray::Endian::little ? "', endian='little')" : "')";
      break;
    }
    case Kind::mpz:
      out += "mpz(" + v.as_mpz().value.to_string() + ")";
      break;
    case Kind::typed: {
      const auto& t = v.as_typed();
      out += t.type() + "(";
      print(out, t.data());
      out += ')';
      break;
    }
  }
}
}  // namespace

std::string Value::to_string() const {
  std::string out;
  print(out, *this);
  return out;
}

std::ostream& operator<<(std::ostream& os, const Value& v) {
  return os << v.to_string();
}

}  // namespace tno::mpc::communication
