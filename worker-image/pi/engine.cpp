#include "pi/engine.hpp"

#include <cmath>
#include <future>
#include <optional>

#include "pi/bigint.hpp"
#include "pi/decimal.hpp"
#include "pi/series.hpp"

namespace warmpool::pi {
namespace {

// Shares of the overall progress fraction per stage, roughly by time.
constexpr double kSeriesEnd = 0.60;
constexpr double kQuotientEnd = 0.75;

// Bits kept of q and t beyond those that `digits` decimal digits need.
constexpr std::size_t kExtraBits = 128;

// floor(sqrt(10005) * 10^m)
BigInt scaled_root(std::size_t m) {
  BigInt root;
  mpz_ui_pow_ui(root.get(), 10, 2 * m);
  mpz_mul_ui(root.get(), root.get(), 10005);
  mpz_sqrt(root.get(), root.get());
  return root;
}

// One attempt with `guard` guard digits. Returns floor(pi * 10^digits), or
// nothing if the guard digits cannot decide the truncation.
//
// Error bound. With m = digits + guard, y = pi 10^m, the attempt computes
//   A = floor(426880 * floor(sqrt(10005) 10^m) * q' / t')
// where q', t' are q, t shifted right by the same number of bits. Then
// A <= y + e and A > y - 1 - 0.04 - e: the floor of the root loses less than
// 426880 q/t ~= 0.031, the final floor less than 1, and e < 1e-15 covers the
// series tail (< 1e-28 relative) and the shift (q', t' keep >= 100 bits
// beyond 10^m). So |A - y| < 3, and when r = A mod 10^guard lies in
// [3, 10^guard - 4], floor(y / 10^guard) = floor(A / 10^guard).
std::optional<BigInt> truncated_pi(std::size_t digits, std::size_t guard, unsigned threads, Context& ctx) {
  const std::size_t m = digits + guard;
  const std::size_t terms = static_cast<std::size_t>(static_cast<double>(m) / kDigitsPerTerm) + 3;

  // The root does not depend on the series; with spare threads it runs
  // alongside it.
  std::future<BigInt> root_task;
  if (threads > 1) root_task = std::async(std::launch::async, [m] { return scaled_root(m); });

  ctx.begin_stage(0.0, kSeriesEnd, series_work_units(terms));
  SeriesSum sum = sum_series(terms, threads, ctx);

  ctx.begin_stage(kSeriesEnd, kQuotientEnd, 4);
  const std::size_t keep_bits = static_cast<std::size_t>(std::ceil(static_cast<double>(m) * std::log2(10.0))) + kExtraBits;
  std::size_t t_bits = sum.t.bits();
  if (t_bits > keep_bits) {
    mpz_fdiv_q_2exp(sum.t.get(), sum.t.get(), t_bits - keep_bits);
    mpz_fdiv_q_2exp(sum.q.get(), sum.q.get(), t_bits - keep_bits);
  }
  ctx.check_cancel();
  BigInt root = threads > 1 ? root_task.get() : scaled_root(m);
  ctx.add_units(1);
  ctx.check_cancel();
  mpz_mul(root.get(), root.get(), sum.q.get());
  mpz_mul_ui(root.get(), root.get(), 426880);
  sum.q.release();
  ctx.add_units(1);
  ctx.check_cancel();
  BigInt a;
  mpz_tdiv_q(a.get(), root.get(), sum.t.get());
  root.release();
  sum.t.release();
  ctx.add_units(1);

  BigInt scale;
  mpz_ui_pow_ui(scale.get(), 10, guard);
  BigInt r;
  mpz_tdiv_qr(a.get(), r.get(), a.get(), scale.get());
  mpz_sub_ui(scale.get(), scale.get(), 4);
  if (mpz_cmp_ui(r.get(), 3) < 0 || mpz_cmp(r.get(), scale.get()) > 0) return std::nullopt;
  ctx.add_units(1);
  return a;
}

}  // namespace

std::string compute_here(std::size_t digits, unsigned threads, std::size_t guard_digits, Context& ctx) {
  std::size_t guard = guard_digits;
  std::optional<BigInt> a;
  while (!(a = truncated_pi(digits, guard, threads, ctx))) guard = 2 * guard + 8;

  // a = floor(pi 10^digits) has digits + 1 decimal digits, the first a 3.
  ctx.begin_stage(kQuotientEnd, 1.0, digits + 1);
  std::string out(digits + 2, '\0');
  write_decimal(std::move(*a), digits + 1, out.data() + 1, threads, ctx);
  out[0] = out[1];
  out[1] = '.';
  if (out[0] != '3') throw std::logic_error("pi: result does not start with 3");
  ctx.report(1.0);
  return out;
}

}  // namespace warmpool::pi
