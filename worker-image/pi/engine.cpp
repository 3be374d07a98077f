#include "pi/engine.hpp"

#include <cmath>
#include <future>
#include <optional>

#include "pi/arith.hpp"
#include "pi/bigint.hpp"
#include "pi/decimal.hpp"
#include "pi/series.hpp"

namespace warmpool::pi {
namespace {

// Shares of the overall progress fraction per stage, roughly by time.
constexpr double kSeriesEnd = 0.65;
constexpr double kQuotientEnd = 0.80;

// Each term of the series adds log2(640320^3 / 72) ~= 47.11 bits.
constexpr double kBitsPerTerm = 47.110413;

// Bits kept of q and t beyond the fraction's precision.
constexpr std::size_t kExtraBits = 128;

// 426880 sqrt(10005) q / t -> pi
constexpr unsigned long kScale = 426880;

// One attempt with `guard_bits` guard bits: writes the plan's padded digits
// of pi / 10 to out, or returns false if the guard bits cannot decide them.
//
// Error bound. With P = bits_for(padded), x = pi / 10, the attempt computes
// F = floor(426880 floor(sqrt(10005) 2^P) q' / (10 t')) where q', t' are q,
// t shifted right by the same number of bits. The floor of the root loses
// less than 426880 q / t / 10 < 0.004, the outer floor less than 1, and the
// series tail and the shift less than 2^-80. The tail of this alternating,
// decreasing series is below its first omitted term, which relative to the
// sum is below 2^(-47.11 n) 41 (n + 1), so below 2^-(P + 120) for n < 10^9
// since n > (P + 64) / 47.11 + 2; and q', t' keep >= P + 100 bits.
// So |F - x 2^P| <= 2, which is what DecimalPlan::write() requires.
bool attempt(std::size_t guard_bits, unsigned threads, DecimalPlan& plan, bool powers_ready, char* out,
             Context& ctx) {
  const std::size_t bits = DecimalPlan::bits_for(plan.padded_width(), guard_bits);
  const std::size_t terms = static_cast<std::size_t>(static_cast<double>(bits + 64) / kBitsPerTerm) + 3;

  // The root and the conversion's powers of ten do not depend on the
  // series; with spare threads they are computed alongside it.
  std::future<BigInt> root_task;
  std::future<void> powers_task;
  if (threads > 1) {
    root_task = std::async(std::launch::async, [bits, &ctx] { return scaled_sqrt(10005, bits, ctx); });
    if (!powers_ready) powers_task = std::async(std::launch::async, [&plan, &ctx] { plan.compute_powers(ctx); });
  } else if (!powers_ready) {
    plan.compute_powers(ctx);
  }

  ctx.begin_stage(0.0, kSeriesEnd, series_work_units(terms));
  SeriesSum sum = sum_series(terms, threads, ctx);

  ctx.begin_stage(kSeriesEnd, kQuotientEnd, 3);
  const std::size_t keep_bits = bits + kExtraBits;
  const std::size_t t_bits = sum.t.bits();
  if (t_bits > keep_bits) {
    mpz_fdiv_q_2exp(sum.t.get(), sum.t.get(), t_bits - keep_bits);
    mpz_fdiv_q_2exp(sum.q.get(), sum.q.get(), t_bits - keep_bits);
  }
  ctx.check_cancel();
  BigInt f = threads > 1 ? root_task.get() : scaled_sqrt(10005, bits, ctx);
  ctx.add_units(1);
  ctx.check_cancel();
  mpz_mul(f.get(), f.get(), sum.q.get());
  mpz_mul_ui(f.get(), f.get(), kScale);
  sum.q.release();
  ctx.add_units(1);
  ctx.check_cancel();
  mpz_mul_ui(sum.t.get(), sum.t.get(), 10);
  f = divide_in_halves(f, sum.t, ctx);
  sum.t.release();
  ctx.add_units(1);

  if (powers_task.valid()) powers_task.get();
  ctx.begin_stage(kQuotientEnd, 1.0, plan.padded_width());
  return plan.write(std::move(f), guard_bits, out, threads, ctx);
}

}  // namespace

std::string compute_here(std::size_t digits, unsigned threads, std::size_t guard_digits, Context& ctx) {
  // "3." and the digits are the first digits + 1 digits of pi / 10 with the
  // point put back; the plan may produce a few more, which are dropped.
  const std::size_t width = digits + 1;
  DecimalPlan plan(width);
  std::string buf(plan.padded_width() + 1, '0');
  auto guard_bits = static_cast<std::size_t>(std::ceil(static_cast<double>(guard_digits) * 3.321928094887362));
  for (bool powers_ready = false; !attempt(guard_bits, threads, plan, powers_ready, buf.data() + 1, ctx);
       powers_ready = true) {
    guard_bits = 2 * guard_bits + 32;
  }
  if (buf[1] != '3') throw std::logic_error("pi: result does not start with 3");
  buf[0] = '3';
  buf[1] = '.';
  buf.resize(width + 1);
  ctx.report(1.0);
  return buf;
}

}  // namespace warmpool::pi
