// The split square root and division against GMP's single calls.
#include <catch2/catch.hpp>

#include "pi/arith.hpp"

using warmpool::pi::BigInt;
using warmpool::pi::Context;

TEST_CASE("scaled_sqrt is floor(sqrt(n) 2^bits)", "[pi]") {
  Context ctx(nullptr, nullptr);
  for (unsigned long n : {1UL, 2UL, 3UL, 4UL, 10005UL, 65535UL, 65536UL, 999983UL, (1UL << 30) - 1}) {
    for (std::size_t bits : {0u, 1u, 2u, 3u, 7u, 64u, 65u, 127u, 1000u, 4099u, 100'000u}) {
      BigInt expected(n);
      mpz_mul_2exp(expected.get(), expected.get(), 2 * bits);
      mpz_sqrt(expected.get(), expected.get());
      BigInt got = warmpool::pi::scaled_sqrt(n, bits, ctx);
      INFO("n " << n << " bits " << bits);
      CHECK(mpz_cmp(got.get(), expected.get()) == 0);
    }
  }
}

TEST_CASE("divide_in_halves is floor(x / d)", "[pi]") {
  Context ctx(nullptr, nullptr);
  gmp_randstate_t rng;
  gmp_randinit_default(rng);
  gmp_randseed_ui(rng, 7);
  for (unsigned long x_bits : {1UL, 64UL, 500UL, 5000UL, 100'000UL}) {
    for (unsigned long d_bits : {1UL, 63UL, 300UL, 4000UL, 60'000UL}) {
      for (int i = 0; i < 5; ++i) {
        BigInt x;
        BigInt d;
        mpz_urandomb(x.get(), rng, x_bits);
        mpz_rrandomb(d.get(), rng, d_bits);
        if (mpz_sgn(d.get()) == 0) mpz_set_ui(d.get(), 1);
        BigInt expected;
        mpz_tdiv_q(expected.get(), x.get(), d.get());
        BigInt got = warmpool::pi::divide_in_halves(x, d, ctx);
        INFO("x bits " << x_bits << " d bits " << d_bits);
        CHECK(mpz_cmp(got.get(), expected.get()) == 0);
      }
    }
  }
  gmp_randclear(rng);
}
