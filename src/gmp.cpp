#include "tno/mpc/communication/gmp.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace tno::mpc::communication {

BigInt to_bigint(const mpz_class& v) {
  std::vector<std::byte> magnitude((mpz_sizeinbase(v.get_mpz_t(), 2) + 7) / 8);
  std::size_t count = 0;
  mpz_export(magnitude.data(), &count, -1, 1, 0, 0, v.get_mpz_t());
  magnitude.resize(count);
  return BigInt::from_magnitude_le(sgn(v) < 0, magnitude);
}

mpz_class to_mpz_class(const BigInt& v) {
  mpz_class out;
  auto m = v.magnitude_le();
  mpz_import(out.get_mpz_t(), m.size(), -1, 1, 0, 0, m.data());
  if (v.is_negative()) out = -out;
  return out;
}

namespace detail {

namespace {
static_assert(sizeof(mp_limb_t) == 8, "the fast paths below assume 64-bit GMP limbs");
static_assert(std::endian::native == std::endian::little,
              "the fast paths below copy limbs as little-endian bytes");

// Writes |v| as `n` little-endian two's complement bytes of sign `negative`, straight from the
// limbs: the magnitude's bytes, negated word by word when negative (two's complement of m is
// ~m + 1, which turns the lowest non-zero word w into -w and every word above it into ~w).
void store_twos_complement(std::byte* out, std::size_t n, mpz_srcptr v, bool negative) {
  const mp_limb_t* limbs = mpz_limbs_read(v);
  std::size_t count = mpz_size(v);
  std::size_t full = std::min(count, n / 8);
  bool seen_nonzero = false;
  for (std::size_t i = 0; i < full; ++i) {
    mp_limb_t word = limbs[i];
    if (negative) {
      word = seen_nonzero ? ~word : mp_limb_t{0} - word;
      seen_nonzero = seen_nonzero || limbs[i] != 0;
    }
    std::memcpy(out + 8 * i, &word, 8);
  }
  // The tail: at most one partial word of the magnitude, then sign extension.
  for (std::size_t at = 8 * full; at < n; at += 8) {
    std::size_t i = at / 8;
    mp_limb_t word = i < count ? limbs[i] : 0;
    if (negative) word = seen_nonzero ? ~word : mp_limb_t{0} - word;
    seen_nonzero = seen_nonzero || word != 0;
    std::memcpy(out + at, &word, std::min<std::size_t>(8, n - at));
  }
}

// Reads little-endian two's complement bytes into `out`: one copy into the limbs, then, for a
// negative value, the magnitude by negating in place.
void load_twos_complement(mpz_ptr out, std::span<const std::byte> b) {
  if (b.empty()) {
    mpz_set_ui(out, 0);
    return;
  }
  bool negative = (static_cast<std::uint8_t>(b.back()) & 0x80) != 0;
  std::size_t count = (b.size() + 7) / 8;
  mp_limb_t* limbs = mpz_limbs_write(out, static_cast<mp_size_t>(count));
  limbs[count - 1] = negative ? ~mp_limb_t{0} : 0;  // sign-extends a partial last word
  std::memcpy(limbs, b.data(), b.size());
  if (negative) {
    std::size_t i = 0;
    while (i < count && limbs[i] == 0) ++i;
    if (i < count) limbs[i] = mp_limb_t{0} - limbs[i];
    for (++i; i < count; ++i) limbs[i] = ~limbs[i];
  }
  while (count > 0 && limbs[count - 1] == 0) --count;
  mpz_limbs_finish(out, negative ? -static_cast<mp_size_t>(count) : static_cast<mp_size_t>(count));
}
}  // namespace

void write_mpz_as_int(Writer& w, mpz_srcptr v) {
  int sign = mpz_sgn(v);
  if (mpz_fits_slong_p(v)) return w.write_int(mpz_get_si(v));
  std::size_t bits = mpz_sizeinbase(v, 2);
  if (sign > 0 && bits <= 64) return w.write_uint(mpz_getlimbn(v, 0));
  // Python's int.to_bytes((bit_length + 8) // 8, "little", signed=True), written in place.
  std::size_t n = (bits + 8) / 8;
  write_typed_header(w, "int");
  store_twos_complement(w.write_bin_in_place(static_cast<std::uint32_t>(n)), n, v, sign < 0);
}

void write_mpz_as_gmpy2(Writer& w, mpz_srcptr v) {
  std::size_t n = mpz_sgn(v) == 0 ? 0 : (mpz_sizeinbase(v, 2) + 7) / 8;
  write_typed_header(w, "mpz");
  std::byte* out = w.write_bin_in_place(static_cast<std::uint32_t>(2 + n));
  out[0] = std::byte{1};
  out[1] = std::byte{static_cast<std::uint8_t>(mpz_sgn(v) == 0 ? 0 : mpz_sgn(v) > 0 ? 1 : 2)};
  if (n) mpz_export(out + 2, nullptr, -1, 1, 0, 0, v);
}

void read_mpz(Reader& r, mpz_ptr out) {
  WireType t = r.peek();
  if (t == WireType::uint || t == WireType::sint) {
    auto i = r.read_integer();
    mpz_import(out, 1, -1, sizeof i.magnitude, 0, 0, &i.magnitude);
    if (i.negative) mpz_neg(out, out);
    return;
  }
  std::size_t start = r.tell();
  // The reference's layout of a big int, recognised without parsing the map: {"type": "int",
  // "data": <bin>}.
  if (r.try_consume("\x82\xa4type\xa3int\xa4"
                    "data")) {
    if (r.peek() != WireType::bin) {
      r.seek(start);
      throw_mismatch("int", r);
    }
    load_twos_complement(out, r.read_bin());
    return;
  }
  auto header = try_open_typed(r);
  if (header && header->type == "int" && r.peek() == WireType::bin) {
    load_twos_complement(out, r.read_bin());
    close_typed(r, *header);
    return;
  }
  r.seek(start);
  // mpz and the error cases: through BigInt, which knows the gmpy2 form.
  mpz_class v = to_mpz_class(read_any_integer(r));
  mpz_set(out, v.get_mpz_t());
}

}  // namespace detail
}  // namespace tno::mpc::communication
