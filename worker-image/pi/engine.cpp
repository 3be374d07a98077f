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

// Bits kept of q and t beyond those that the digits need.
constexpr std::size_t kExtraBits = 128;

// 426880 sqrt(10005) q / t -> pi
constexpr unsigned long kScale = 426880;

// floor(sqrt(10005) * 10^m)
BigInt scaled_root(std::size_t m) {
  BigInt root;
  mpz_ui_pow_ui(root.get(), 10, 2 * m);
  mpz_mul_ui(root.get(), root.get(), 10005);
  mpz_sqrt(root.get(), root.get());
  return root;
}

// Runs f and g, concurrently when threads > 1.
template <typename F, typename G>
void both(unsigned threads, F&& f, G&& g) {
  if (threads <= 1) {
    f();
    g();
    return;
  }
  auto task = std::async(std::launch::async, std::forward<G>(g));
  f();  // if this throws, the future's destructor waits for g
  task.get();
}

// What one attempt produces: floor(pi 10^digits), whole or split as
// high 10^plan.low_digits() + low.
struct Truncated {
  BigInt whole;
  BigInt high;
  BigInt low;
  bool split = false;
};

// One attempt with `guard` guard digits; nothing if the guard digits cannot
// decide the truncation.
//
// Error bound. With m = digits + guard, y = pi 10^m, the attempt computes
//   A = floor(426880 * floor(sqrt(10005) 10^m) * q' / t')
// where q', t' are q, t shifted right by the same number of bits. Then
// A <= y + e and A > y - 1 - 0.04 - e: the floor of the root loses less than
// 426880 q/t ~= 0.031, the final floor less than 1, and e < 1e-15 covers the
// series tail (< 1e-28 relative) and the shift (q', t' keep >= 100 bits
// beyond 10^m). So |A - y| < 3, and when r = A mod 10^guard lies in
// [3, 10^guard - 4], floor(y / 10^guard) = floor(A / 10^guard).
//
// With threads > 1 and a plan that splits, the top split of the digits,
// floor(A / 10^(guard + k)) = floor(X / (t' 10^(guard + k))), is divided out
// of X beside the main division instead of after it.
std::optional<Truncated> attempt(std::size_t digits, std::size_t guard, unsigned threads, const DecimalPlan& plan,
                                 Context& ctx) {
  const std::size_t m = digits + guard;
  const std::size_t terms = static_cast<std::size_t>(static_cast<double>(m) / kDigitsPerTerm) + 3;

  // The root does not depend on the series; with spare threads it runs
  // alongside it.
  std::future<BigInt> root_task;
  if (threads > 1) root_task = std::async(std::launch::async, [m] { return scaled_root(m); });

  ctx.begin_stage(0.0, kSeriesEnd, series_work_units(terms));
  SeriesSum sum = sum_series(terms, threads, ctx);

  ctx.begin_stage(kSeriesEnd, kQuotientEnd, 3);
  const auto keep_bits =
      static_cast<std::size_t>(std::ceil(static_cast<double>(m) * std::log2(10.0))) + kExtraBits;
  const std::size_t t_bits = sum.t.bits();
  if (t_bits > keep_bits) {
    mpz_fdiv_q_2exp(sum.t.get(), sum.t.get(), t_bits - keep_bits);
    mpz_fdiv_q_2exp(sum.q.get(), sum.q.get(), t_bits - keep_bits);
  }
  ctx.check_cancel();
  BigInt x = threads > 1 ? root_task.get() : scaled_root(m);
  ctx.add_units(1);
  ctx.check_cancel();
  mpz_mul(x.get(), x.get(), sum.q.get());
  mpz_mul_ui(x.get(), x.get(), kScale);
  sum.q.release();
  ctx.add_units(1);
  ctx.check_cancel();

  BigInt guard_power;
  mpz_ui_pow_ui(guard_power.get(), 10, guard);
  Truncated out;
  out.split = threads > 1 && plan.low_digits() > 0;
  both(
      out.split ? 2 : 1, [&] { mpz_tdiv_q(out.whole.get(), x.get(), sum.t.get()); },
      [&] {
        if (!out.split) return;
        BigInt divisor;
        mpz_mul(divisor.get(), sum.t.get(), plan.low_power().get());
        mpz_mul(divisor.get(), divisor.get(), guard_power.get());
        mpz_tdiv_q(out.high.get(), x.get(), divisor.get());
      });
  x.release();
  sum.t.release();
  ctx.add_units(1);

  BigInt r;
  mpz_tdiv_qr(out.whole.get(), r.get(), out.whole.get(), guard_power.get());
  mpz_sub_ui(guard_power.get(), guard_power.get(), 4);
  if (mpz_cmp_ui(r.get(), 3) < 0 || mpz_cmp(r.get(), guard_power.get()) > 0) return std::nullopt;
  if (out.split) {
    // low = whole - high 10^k, which must lie in [0, 10^k).
    mpz_mul(out.low.get(), out.high.get(), plan.low_power().get());
    mpz_sub(out.low.get(), out.whole.get(), out.low.get());
    out.whole.release();
    if (mpz_sgn(out.low.get()) < 0 || mpz_cmp(out.low.get(), plan.low_power().get()) >= 0) {
      throw std::logic_error("pi: inconsistent top split");
    }
  }
  return out;
}

}  // namespace

std::string compute_here(std::size_t digits, unsigned threads, std::size_t guard_digits, Context& ctx) {
  // floor(pi 10^digits) has digits + 1 decimal digits, the first a 3. The
  // conversion's powers of ten depend only on that width; with spare threads
  // they are computed alongside the series.
  const std::size_t width = digits + 1;
  std::optional<DecimalPlan> plan;
  std::future<DecimalPlan> plan_task;
  if (threads > 1) {
    plan_task = std::async(std::launch::async, [width, &ctx] { return DecimalPlan(width, ctx); });
  } else {
    plan.emplace(width, ctx);
  }

  std::optional<Truncated> result;
  for (std::size_t guard = guard_digits; !result; guard = 2 * guard + 8) {
    if (!plan) plan.emplace(plan_task.get());
    result = attempt(digits, guard, threads, *plan, ctx);
  }

  // The padded digits go to buf[1, 1 + padded); then the leading 3 moves
  // left over the padding to make room for the point, and the padding goes.
  const std::size_t padded = plan->padded_width();
  const std::size_t pad = padded - width;
  ctx.begin_stage(kQuotientEnd, 1.0, padded);
  std::string buf(padded + 1, '0');
  if (result->split) {
    plan->write_split(std::move(result->high), std::move(result->low), buf.data() + 1, threads, ctx);
  } else {
    plan->write(std::move(result->whole), buf.data() + 1, threads, ctx);
  }
  for (std::size_t i = 1; i <= pad; ++i) {
    if (buf[i] != '0') throw std::logic_error("pi: result wider than its digit count");
  }
  if (buf[pad + 1] != '3') throw std::logic_error("pi: result does not start with 3");
  buf[pad] = '3';
  buf[pad + 1] = '.';
  buf.erase(0, pad);
  ctx.report(1.0);
  return buf;
}

}  // namespace warmpool::pi
