// Internal: binary to decimal conversion by divide and conquer.
#ifndef WARMPOOL_PI_DECIMAL_HPP_
#define WARMPOOL_PI_DECIMAL_HPP_

#include <cstddef>
#include <cstdint>

#include "pi/bigint.hpp"
#include "pi/context.hpp"

namespace warmpool::pi {

// Writes x as exactly `width` decimal digits, with leading zeros, to
// out[0, width). Consumes x (its memory is released as the work proceeds).
// The halves of each split are converted concurrently up to `threads`.
// REQUIRES: 0 <= x < 10^width, width >= 1, threads >= 1.
// Reports `width` units to the context's current stage. Throws Cancelled.
void write_decimal(BigInt x, std::size_t width, char* out, unsigned threads, Context& ctx);

}  // namespace warmpool::pi

#endif  // WARMPOOL_PI_DECIMAL_HPP_
