// The scaled remainder tree on its own, with small leaves so the tree is
// deep and the padding spans several leaves.
#include <mpfr.h>

#include <catch2/catch.hpp>

#include "mpfr_oracle.hpp"
#include "pi/decimal.hpp"

using warmpool::pi::BigInt;
using warmpool::pi::Context;
using warmpool::pi::DecimalPlan;

namespace {

// floor(pi / 10 * 2^bits), within 1 of the exact value.
BigInt pi_over_ten_fixed(std::size_t bits) {
  mpfr_t x;
  mpfr_init2(x, static_cast<mpfr_prec_t>(bits + 64));
  mpfr_const_pi(x, MPFR_RNDD);
  mpfr_div_ui(x, x, 10, MPFR_RNDD);
  mpfr_mul_2ui(x, x, bits, MPFR_RNDD);
  BigInt f;
  mpfr_get_z(f.get(), x, MPFR_RNDD);
  mpfr_clear(x);
  return f;
}

}  // namespace

TEST_CASE("decimal plan: deep trees give MPFR's digits of pi / 10", "[pi]") {
  // Leaves of 1 digit can pad a width up to twice its size.
  std::string expected = warmpool::pi::testing::mpfr_pi(80'000);
  expected.erase(1, 1);  // the digits of pi / 10
  Context ctx(nullptr, nullptr);
  for (std::size_t leaf : {1u, 7u, 16u, 100u}) {
    for (std::size_t width : {1u, 2u, 17u, 1000u, 4097u, 39'999u}) {
      DecimalPlan plan(width, leaf);
      plan.compute_powers(ctx);
      REQUIRE(plan.padded_width() >= width);
      REQUIRE(plan.padded_width() <= expected.size());
      const std::size_t guard_bits = 40;
      BigInt f = pi_over_ten_fixed(DecimalPlan::bits_for(plan.padded_width(), guard_bits));
      std::string out(plan.padded_width(), '?');
      for (unsigned threads : {1u, 3u}) {
        BigInt copy;
        mpz_set(copy.get(), f.get());
        REQUIRE(plan.write(std::move(copy), guard_bits, out.data(), threads, ctx));
        INFO("leaf " << leaf << " width " << width << " threads " << threads);
        CHECK(out == expected.substr(0, plan.padded_width()));
      }
    }
  }
}

TEST_CASE("decimal plan: a digit it cannot decide is reported, not guessed", "[pi]") {
  Context ctx(nullptr, nullptr);
  // x = 0.1999...9 (20 nines) 5 with 5 guard bits: the approximation of x
  // given cannot decide the digits at width 10 or 20 that precede the run.
  DecimalPlan plan(20, 4);
  plan.compute_powers(ctx);
  const std::size_t guard_bits = 5;
  const std::size_t bits = DecimalPlan::bits_for(plan.padded_width(), guard_bits);
  // f = floor(0.2 * 2^bits) + 2, a legal approximation (error <= 2) of a
  // number whose digits are 1999... or 2000..., which f cannot tell apart.
  BigInt f;
  mpz_set_ui(f.get(), 1);
  mpz_mul_2exp(f.get(), f.get(), bits);
  mpz_tdiv_q_ui(f.get(), f.get(), 5);
  mpz_add_ui(f.get(), f.get(), 2);
  std::string out(plan.padded_width(), '?');
  CHECK_FALSE(plan.write(std::move(f), guard_bits, out.data(), 1, ctx));
}
