#include "pi/arith.hpp"

#include <algorithm>
#include <stdexcept>

namespace warmpool::pi {

BigInt scaled_sqrt(unsigned long n, std::size_t bits, const Context& ctx) {
  if (n == 0 || n >= (1UL << 30)) throw std::invalid_argument("pi: scaled_sqrt radicand out of range");
  // N = n 2^(2e) with bit length 4k or 4k - 1, so that its top quarter is
  // >= 2^k / 4 as the algorithm needs, and e >= k so that the low half of N
  // is zero. e >= bits; the extra e - bits are shifted out at the end
  // (floor(floor(y) / 2^j) = floor(y / 2^j)).
  const std::size_t n_bits = BigInt(n).bits();
  std::size_t e = std::max(bits, n_bits / 2 + 1);
  while ((n_bits + 2 * e) % 4 != 0 && (n_bits + 2 * e) % 4 != 3) ++e;
  const std::size_t k = (n_bits + 2 * e + 3) / 4;
  // N = H 2^(2k) exactly (its low 2k bits are zero since 2e >= 2k), so with
  // (s', r') = sqrtrem(H):  q, u = divmod(r' 2^k, 2 s');  s = s' 2^k + q;
  // r = u 2^k - q^2;  if r < 0 then s = s - 1.
  BigInt h(n);
  mpz_mul_2exp(h.get(), h.get(), 2 * e - 2 * k);
  BigInt s;
  BigInt r;
  mpz_sqrtrem(s.get(), r.get(), h.get());
  h.release();
  ctx.check_cancel();

  BigInt q;
  BigInt u;
  mpz_mul_2exp(r.get(), r.get(), k);
  mpz_mul_2exp(h.get(), s.get(), 1);
  mpz_tdiv_qr(q.get(), u.get(), r.get(), h.get());
  h.release();
  ctx.check_cancel();

  mpz_mul_2exp(s.get(), s.get(), k);
  mpz_add(s.get(), s.get(), q.get());
  mpz_mul(q.get(), q.get(), q.get());
  mpz_mul_2exp(u.get(), u.get(), k);
  if (mpz_cmp(u.get(), q.get()) < 0) mpz_sub_ui(s.get(), s.get(), 1);
  mpz_fdiv_q_2exp(s.get(), s.get(), e - bits);
  return s;
}

BigInt divide_in_halves(const BigInt& x, const BigInt& d, const Context& ctx) {
  const std::size_t x_bits = x.bits();
  const std::size_t d_bits = d.bits();
  BigInt q;
  if (x_bits <= d_bits + 2 * GMP_NUMB_BITS) {
    mpz_tdiv_q(q.get(), x.get(), d.get());
    return q;
  }
  // x = xh 2^h + xl:  x / d = q1 2^h + (r1 2^h + xl) / d, and the last
  // quotient is below 2^h because r1 < d.
  const std::size_t h = (x_bits - d_bits) / 2 / GMP_NUMB_BITS * GMP_NUMB_BITS;
  BigInt high;
  BigInt rest;
  mpz_fdiv_q_2exp(high.get(), x.get(), h);
  mpz_tdiv_qr(q.get(), rest.get(), high.get(), d.get());
  high.release();
  ctx.check_cancel();
  mpz_mul_2exp(rest.get(), rest.get(), h);
  mpz_fdiv_r_2exp(high.get(), x.get(), h);
  mpz_add(rest.get(), rest.get(), high.get());
  high.release();
  BigInt low;
  mpz_tdiv_q(low.get(), rest.get(), d.get());
  mpz_mul_2exp(q.get(), q.get(), h);
  mpz_add(q.get(), q.get(), low.get());
  return q;
}

}  // namespace warmpool::pi
