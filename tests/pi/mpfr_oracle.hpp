// Test-only: digits of pi from MPFR, an implementation independent of ours.
#ifndef WARMPOOL_TESTS_PI_MPFR_ORACLE_HPP_
#define WARMPOOL_TESTS_PI_MPFR_ORACLE_HPP_

#include <cstddef>
#include <string>

namespace warmpool::pi::testing {

// "3." followed by the first `digits` digits of pi, truncated. Computes
// lower and upper bounds of pi in binary and returns their common decimal
// truncation, so the answer is right even at a run of 9s or 0s; aborts the
// test (throws) if the bounds disagree.
std::string mpfr_pi(std::size_t digits);

// Lower-case hex SHA-256 of the bytes.
std::string sha256_hex(const std::string& bytes);

}  // namespace warmpool::pi::testing

#endif  // WARMPOOL_TESTS_PI_MPFR_ORACLE_HPP_
