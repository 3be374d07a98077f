#include "pi/decimal.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <future>
#include <stdexcept>

namespace warmpool::pi {
namespace {

constexpr double kLog2Of10 = 3.321928094887362;

// frac / 2^bits is the fraction part of y 10^k / 2^bits, computed from an
// approximation y of error <= error. True if the exact fraction part is
// certainly in (0, 1), that is ceil(error) 10^k <= frac < 2^bits - that.
bool clear_of_integers(const BigInt& frac, const BigInt& power_of_ten, double error, std::size_t bits) {
  BigInt margin;
  mpz_mul_ui(margin.get(), power_of_ten.get(), static_cast<unsigned long>(std::ceil(error)));
  if (mpz_cmp(frac.get(), margin.get()) < 0) return false;
  mpz_add(margin.get(), margin.get(), frac.get());
  return mpz_sizeinbase(margin.get(), 2) <= bits;  // frac + margin < 2^bits
}

}  // namespace

struct DecimalPlan::Job {
  std::size_t guard_bits;
  Context& ctx;
  std::atomic<bool> decided{true};
};

DecimalPlan::DecimalPlan(std::size_t width, std::size_t leaf_digits) {
  while ((width >> levels_) > leaf_digits) ++levels_;
  chunk_ = (width + (std::size_t{1} << levels_) - 1) >> levels_;
}

void DecimalPlan::compute_powers(const Context& ctx) {
  mpz_ui_pow_ui(leaf_power_.get(), 10, chunk_);
  // Splits at level j + 1 multiply by powers_[j].
  powers_.resize(levels_);
  for (std::size_t j = 0; j < levels_; ++j) {
    ctx.check_cancel();
    if (j == 0) {
      mpz_set(powers_[0].get(), leaf_power_.get());
    } else {
      mpz_mul(powers_[j].get(), powers_[j - 1].get(), powers_[j - 1].get());
    }
  }
}

std::size_t DecimalPlan::bits_for(std::size_t digits, std::size_t guard_bits) {
  return static_cast<std::size_t>(std::ceil(static_cast<double>(digits) * kLog2Of10)) + 1 + guard_bits;
}

bool DecimalPlan::write(BigInt f, std::size_t guard_bits, char* out, unsigned threads, Context& ctx) const {
  Job job{guard_bits, ctx};
  convert(std::move(f), 2.0, levels_, out, threads, job);
  return job.decided.load();
}

// f approximates x 2^bits(n) with |f - x 2^bits(n)| <= error, where x in
// [0, 1) and n = chunk_ 2^level digits are wanted.
void DecimalPlan::convert(BigInt f, double error, std::size_t level, char* out, unsigned threads, Job& job) const {
  job.ctx.check_cancel();
  if (!job.decided.load(std::memory_order_relaxed)) return;
  const std::size_t n = chunk_ << level;
  const std::size_t bits = bits_for(n, job.guard_bits);
  if (level == 0) {
    // v = f 10^n: its integer part is the digits unless the true fraction
    // part of x 10^n is within error 10^n / 2^bits of 0 or 1.
    BigInt v;
    mpz_mul(v.get(), f.get(), leaf_power_.get());
    f.release();
    BigInt digits;
    mpz_fdiv_q_2exp(digits.get(), v.get(), bits);
    mpz_fdiv_r_2exp(v.get(), v.get(), bits);  // the fraction part
    if (!clear_of_integers(v, leaf_power_, error, bits)) {
      job.decided.store(false);
      return;
    }
    std::vector<char> buf(mpz_sizeinbase(digits.get(), 10) + 2);
    mpz_get_str(buf.data(), 10, digits.get());
    const std::size_t len = mpz_sgn(digits.get()) == 0 ? 0 : std::strlen(buf.data());
    if (len > n) throw std::logic_error("pi: decimal leaf wider than its slot");
    std::memset(out, '0', n - len);
    std::memcpy(out + (n - len), buf.data(), len);
    job.ctx.add_units(n);
    return;
  }
  // The high half's digits are the first n/2 digits of x: f truncated.
  // The low half's are the first n/2 digits of frac(x 10^(n/2)).
  const std::size_t half = n / 2;
  const std::size_t half_bits = bits_for(half, job.guard_bits);
  const std::size_t drop = bits - half_bits;
  // 10^half / 2^drop <= 2 since drop >= half log2(10) - 1.
  const double low_error = 2.0 * error + 1.0;
  const double high_error = error / std::ldexp(1.0, static_cast<int>(std::min<std::size_t>(drop, 1000))) + 1.0;
  BigInt low;
  mpz_mul(low.get(), f.get(), powers_[level - 1].get());
  mpz_fdiv_r_2exp(low.get(), low.get(), bits);
  // The fraction part wraps around at 1: unless it is clear of 0 and 1 by
  // its error, the low half could get 999... for 000... (or the reverse).
  if (!clear_of_integers(low, powers_[level - 1], error, bits)) {
    job.decided.store(false);
    return;
  }
  mpz_fdiv_q_2exp(low.get(), low.get(), drop);
  mpz_fdiv_q_2exp(f.get(), f.get(), drop);
  if (threads > 1) {
    const unsigned low_threads = threads / 2;
    auto task = std::async(std::launch::async, [&, low_threads] {
      convert(std::move(low), low_error, level - 1, out + half, low_threads, job);
    });
    // If this throws, the future's destructor waits for the task.
    convert(std::move(f), high_error, level - 1, out, threads - low_threads, job);
    task.get();
  } else {
    convert(std::move(f), high_error, level - 1, out, 1, job);
    convert(std::move(low), low_error, level - 1, out + half, 1, job);
  }
}

}  // namespace warmpool::pi
