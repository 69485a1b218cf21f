#include "tno/mpc/communication/gmp.hpp"

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

void write_mpz_as_int(Writer& w, mpz_srcptr v) {
  int sign = mpz_sgn(v);
  if (mpz_fits_slong_p(v)) return w.write_int(mpz_get_si(v));
  std::size_t bits = mpz_sizeinbase(v, 2);
  if (sign > 0 && bits <= 64) {
    std::uint64_t u = 0;
    mpz_export(&u, nullptr, -1, sizeof u, 0, 0, v);
    return w.write_uint(u);
  }
  // Python's int.to_bytes((bit_length + 8) // 8, "little", signed=True), written in place. For a
  // negative x the two's complement is the bitwise NOT of |x| - 1.
  std::size_t n = (bits + 8) / 8;
  write_typed_header(w, "int");
  std::byte* out = w.write_bin_in_place(static_cast<std::uint32_t>(n));
  std::size_t written = 0;
  if (sign > 0) {
    mpz_export(out, &written, -1, 1, 0, 0, v);
    std::fill(out + written, out + n, std::byte{0});
  } else {
    mpz_t m;
    mpz_init(m);
    mpz_neg(m, v);
    mpz_sub_ui(m, m, 1);
    mpz_export(out, &written, -1, 1, 0, 0, m);
    mpz_clear(m);
    std::fill(out + written, out + n, std::byte{0});
    for (std::size_t i = 0; i < n; ++i) out[i] = ~out[i];
  }
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
  auto header = try_open_typed(r);
  if (header && header->type == "int" && r.peek() == WireType::bin) {
    auto b = r.read_bin();
    mpz_import(out, b.size(), -1, 1, 0, 0, b.data());
    if (!b.empty() && (static_cast<std::uint8_t>(b.back()) & 0x80)) {
      // Negative two's complement: subtract 2^(8n).
      mpz_t base;
      mpz_init(base);
      mpz_ui_pow_ui(base, 2, 8 * b.size());
      mpz_sub(out, out, base);
      mpz_clear(base);
    }
    r.seek(header->end_offset);
    return;
  }
  r.seek(start);
  // mpz and the error cases: through BigInt, which knows the gmpy2 form.
  mpz_class v = to_mpz_class(read_any_integer(r));
  mpz_set(out, v.get_mpz_t());
}

}  // namespace detail
}  // namespace tno::mpc::communication
