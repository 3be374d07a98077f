// Internal: the two large single operations of the final stage, split into
// a few GMP calls each so that a cancel is noticed between them.
#ifndef WARMPOOL_PI_ARITH_HPP_
#define WARMPOOL_PI_ARITH_HPP_

#include <cstddef>

#include "pi/bigint.hpp"
#include "pi/context.hpp"

namespace warmpool::pi {

// floor(sqrt(n) 2^bits), by one step of Zimmermann's Karatsuba square root
// over GMP's mpz_sqrtrem. REQUIRES: 1 <= n < 2^30. Throws Cancelled.
BigInt scaled_sqrt(unsigned long n, std::size_t bits, const Context& ctx);

// floor(x / d) as two divisions, each giving half of the quotient's bits.
// REQUIRES: x >= 0, d > 0. Throws Cancelled.
BigInt divide_in_halves(const BigInt& x, const BigInt& d, const Context& ctx);

}  // namespace warmpool::pi

#endif  // WARMPOOL_PI_ARITH_HPP_
