// Internal: integers kept as lists of prime powers, so that binary splitting
// can cancel common factors of p and q without computing a gcd.
#ifndef WARMPOOL_PI_FACTORS_HPP_
#define WARMPOOL_PI_FACTORS_HPP_

#include <cstdint>
#include <vector>

#include "pi/bigint.hpp"

namespace warmpool::pi {

struct PrimePower {
  std::uint32_t prime;
  std::uint32_t exp;
};

// Sorted by prime, each prime once, every exp > 0.
using FactorList = std::vector<PrimePower>;

// Smallest prime factors of the odd numbers up to a limit (one uint16 each:
// an odd composite up to 2^32 has a smallest factor below 2^16).
class Sieve {
 public:
  // REQUIRES: limit < 2^32.
  explicit Sieve(std::uint64_t limit);

  // Appends the prime factors of x, each with exponent (its multiplicity in
  // x) * power, to out in no particular order. REQUIRES: 1 <= x <= limit.
  void factor(std::uint64_t x, std::uint32_t power, std::vector<PrimePower>& out) const;

 private:
  std::uint64_t limit_;
  std::vector<std::uint16_t> smallest_;  // index i: 2i+1; 0 = prime (or 1)
};

// Sorts and combines equal primes in place, producing a FactorList.
void normalize(std::vector<PrimePower>& list);

// a * b
FactorList multiply(const FactorList& a, const FactorList& b);

// gcd(a, b)
FactorList common(const FactorList& a, const FactorList& b);

// a / g. REQUIRES: g divides a.
void divide(FactorList& a, const FactorList& g);

// The product as an integer.
void to_integer(const FactorList& list, BigInt& out);

}  // namespace warmpool::pi

#endif  // WARMPOOL_PI_FACTORS_HPP_
