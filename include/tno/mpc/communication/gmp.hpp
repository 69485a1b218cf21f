// GMP integration: mpz_class travels as a Python int, Gmpy2Mpz as a gmpy2.mpz.
//
//   mpz_class x("123456789012345678901234567890");
//   ByteBuffer b = encode(x);                  // {"type": "int", "data": ...} beyond 64 bits
//   mpz_class y = decode<mpz_class>(b.view());
//   encode(Gmpy2Mpz{x});                       // {"type": "mpz", "data": gmpy2.to_binary(x)}
//
// Include this header only where GMP is wanted; the rest of the library does not need it.
#pragma once

#include <gmpxx.h>

#include "tno/mpc/communication/codec.hpp"

namespace tno::mpc::communication {

/// An mpz_class that goes on the wire as a gmpy2.mpz instead of a Python int.
struct Gmpy2Mpz {
  mpz_class value;
  bool operator==(const Gmpy2Mpz&) const = default;
};

BigInt to_bigint(const mpz_class& v);
mpz_class to_mpz_class(const BigInt& v);

namespace detail {
void write_mpz_as_int(Writer& w, mpz_srcptr v);
void write_mpz_as_gmpy2(Writer& w, mpz_srcptr v);
/// Reads a msgpack int, a typed "int" or a typed "mpz" into `out`.
void read_mpz(Reader& r, mpz_ptr out);
}  // namespace detail

template <>
struct Codec<mpz_class> {
  static void encode(Writer& w, const mpz_class& v) { detail::write_mpz_as_int(w, v.get_mpz_t()); }
  static mpz_class decode(Reader& r) {
    mpz_class out;
    detail::read_mpz(r, out.get_mpz_t());
    return out;
  }
};

template <>
struct Codec<Gmpy2Mpz> {
  static void encode(Writer& w, const Gmpy2Mpz& v) {
    detail::write_mpz_as_gmpy2(w, v.value.get_mpz_t());
  }
  static Gmpy2Mpz decode(Reader& r) {
    Gmpy2Mpz out;
    detail::read_mpz(r, out.value.get_mpz_t());
    return out;
  }
};

}  // namespace tno::mpc::communication
