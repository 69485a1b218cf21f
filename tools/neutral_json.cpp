#include "neutral_json.hpp"

#include <cstdlib>

#include "tno/mpc/communication/python_text.hpp"

namespace tno::mpc::communication::neutral {

using nlohmann::json;

namespace {
[[noreturn]] void bad(const std::string& what, const json& j) {
  std::string text = j.dump();
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  throw FormatError(what + ": " + text);
}

const json& field(const json& obj, const char* key) {
  if (!obj.is_object() || !obj.contains(key)) bad(std::string("missing key '") + key + "'", obj);
  return obj.at(key);
}

std::string text(const json& j) {
  if (!j.is_string()) bad("expected a JSON string", j);
  return j.get<std::string>();
}

Bytes from_hex(const std::string& hex, const json& where) {
  if (hex.size() % 2 != 0) bad("odd number of hex digits", where);
  Bytes out;
  out.reserve(hex.size() / 2);
  auto digit = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    bad("not a hex digit", where);
  };
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    out.push_back(static_cast<std::byte>(digit(hex[i]) * 16 + digit(hex[i + 1])));
  }
  return out;
}

Value::List to_list(const json& j) {
  if (!j.is_array()) bad("expected a JSON array", j);
  Value::List out;
  for (const auto& e : j) out.push_back(to_value(e));
  return out;
}

void flatten(const json& values, const std::vector<std::uint64_t>& shape, std::size_t dim,
             std::vector<Value>& out) {
  if (dim == shape.size()) {
    out.push_back(to_value(values));
    return;
  }
  const json& items = values.is_object() && values.contains("list") ? values.at("list") : values;
  if (!items.is_array() || items.size() != shape[dim])
    bad("ndarray values do not match its shape", values);
  for (const auto& e : items) flatten(e, shape, dim + 1, out);
}

json nested(const NdArray& a, std::size_t dim, std::size_t& next) {
  if (dim == a.shape.size()) return from_value(a.elements.at(next++));
  json items = json::array();
  for (std::uint64_t i = 0; i < a.shape[dim]; ++i) items.push_back(nested(a, dim + 1, next));
  return json{{"list", items}};
}

std::string to_hex(std::span<const std::byte> b) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (auto x : b) {
    auto c = static_cast<unsigned>(x);
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}
}  // namespace

Value to_value(const json& j) {
  if (j.is_null()) return Value();
  if (j.is_boolean()) return Value(j.get<bool>());
  if (!j.is_object() || j.size() < 1) bad("expected null, true, false or a tagged object", j);
  const std::string& tag = j.begin().key();
  const json& body = j.begin().value();
  try {
    if (tag == "int") return Value(BigInt::from_string(text(body)));
    if (tag == "float") {
      if (j.contains("hex")) return Value(python::float_fromhex(text(j.at("hex"))));
      std::string t = text(body);
      char* end = nullptr;
      double d = std::strtod(t.c_str(), &end);
      if (t.empty() || *end != 0) bad("not a float", j);
      return Value(d);
    }
    if (tag == "hex" && j.contains("float")) return Value(python::float_fromhex(text(body)));
  } catch (const ArgumentError& e) {
    bad(e.what(), j);
  }
  if (tag == "str") return Value(text(body));
  if (tag == "bytes_hex") return Value(from_hex(text(body), j));
  if (tag == "list") return Value(to_list(body));
  if (tag == "tuple") return Value(Tuple{to_list(body)});
  if (tag == "dict") {
    if (!body.is_array()) bad("dict must be a list of [key, value] pairs", j);
    Dict d;
    for (const auto& pair : body) {
      if (!pair.is_array() || pair.size() != 2) bad("dict entry must be [key, value]", pair);
      d.set(to_value(pair[0]), to_value(pair[1]));
    }
    return Value(std::move(d));
  }
  if (tag == "ndarray") {
    NdArray a;
    const json& shape = field(body, "shape");
    if (!shape.is_array()) bad("ndarray shape must be a list", j);
    for (const auto& d : shape) {
      if (!d.is_number_unsigned()) bad("ndarray shape must hold non-negative integers", j);
      a.shape.push_back(d.get<std::uint64_t>());
    }
    flatten(field(body, "values"), a.shape, 0, a.elements);
    return Value(std::move(a));
  }
  if (tag == "numpy_scalar") return to_value(field(body, "value"));
  if (tag == "enum") return to_value(field(body, "value"));
  if (tag == "bitarray") {
    BitArray b;
    for (char c : text(field(body, "bits"))) {
      if (c != '0' && c != '1') bad("bitarray bits must be 0 and 1", j);
      b.bits.push_back(c == '1');
    }
    std::string endian = body.contains("endian") ? text(body.at("endian")) : "big";
    if (endian != "big" && endian != "little") bad("bitarray endian must be big or little", j);
    b.endian = endian == "big" ? BitArray::Endian::big : BitArray::Endian::little;
    return Value(std::move(b));
  }
  if (tag == "mpz") {
    try {
      return Value(Mpz{BigInt::from_string(text(body))});
    } catch (const ArgumentError& e) {
      bad(e.what(), j);
    }
  }
  if (tag == "object") {
    Dict fields;
    const json& f = field(body, "fields");
    if (!f.is_object()) bad("object fields must be a JSON object", j);
    for (const auto& [k, v] : f.items()) fields.set(Value(k), to_value(v));
    return Value(Typed(text(field(body, "class")), Value(std::move(fields))));
  }
  if (tag == "typed") return Value(Typed(text(field(body, "type")), to_value(field(body, "data"))));
  bad("unknown tag '" + tag + "'", j);
}

json from_value(const Value& v) {
  switch (v.kind()) {
    case Kind::nil:
      return nullptr;
    case Kind::boolean:
      return v.as_bool();
    case Kind::integer:
      return json{{"int", v.as_bigint().to_string()}};
    case Kind::float64:
      return json{{"float", python::float_repr(v.as_double())},
                  {"hex", python::float_hex(v.as_double())}};
    case Kind::str:
      return json{{"str", v.as_str()}};
    case Kind::bytes:
      return json{{"bytes_hex", to_hex(v.as_bytes())}};
    case Kind::list:
    case Kind::tuple: {
      json items = json::array();
      for (const auto& e : v.is_list() ? v.as_list() : v.as_tuple().items) {
        items.push_back(from_value(e));
      }
      return json{{v.is_list() ? "list" : "tuple", items}};
    }
    case Kind::dict: {
      json pairs = json::array();
      for (const auto& [k, val] : v.as_dict())
        pairs.push_back(json::array({from_value(k), from_value(val)}));
      return json{{"dict", pairs}};
    }
    case Kind::ndarray: {
      const auto& a = v.as_ndarray();
      std::size_t next = 0;
      return json{{"ndarray", {{"shape", a.shape}, {"values", nested(a, 0, next)}}}};
    }
    case Kind::bitarray: {
      std::string bits;
      for (bool b : v.as_bitarray().bits) bits += b ? '1' : '0';
      return json{
          {"bitarray",
           {{"bits", bits},
            {"endian", v.as_bitarray().endian == BitArray::Endian::big ? "big" : "little"}}}};
    }
    case Kind::mpz:
      return json{{"mpz", v.as_mpz().value.to_string()}};
    case Kind::typed:
      return json{
          {"typed", {{"type", v.as_typed().type()}, {"data", from_value(v.as_typed().data())}}}};
  }
  return nullptr;
}

MessageId to_message_id(const json& j) {
  Value v = to_value(j);
  if (!v.is_int() && !v.is_str()) bad("a message id must be {\"int\": ...} or {\"str\": ...}", j);
  return MessageId::from_value(std::move(v));
}

json from_message_id(const MessageId& id) {
  return from_value(id.value());
}

}  // namespace tno::mpc::communication::neutral
