// Internal: the Chudnovsky series summed exactly by binary splitting.
#ifndef WARMPOOL_PI_SERIES_HPP_
#define WARMPOOL_PI_SERIES_HPP_

#include <cstddef>

#include "pi/bigint.hpp"
#include "pi/context.hpp"

namespace warmpool::pi {

// The sum S of the first `terms` terms of
//   S = sum_k (-1)^k (6k)! (13591409 + 545140134 k) / ((3k)! (k!)^3 640320^(3k)),
// as the exact fraction t / q, so that pi ~= 426880 sqrt(10005) q / t.
// q > 0 and t > 0.
struct SeriesSum {
  BigInt q;
  BigInt t;
};

// REQUIRES: terms >= 1, threads >= 1.
// Reports progress as units of the context's current stage; the stage total
// must be series_work_units(terms). Throws Cancelled.
SeriesSum sum_series(std::size_t terms, unsigned threads, Context& ctx);

// The work units sum_series(terms, ...) reports in total.
std::uint64_t series_work_units(std::size_t terms);

}  // namespace warmpool::pi

#endif  // WARMPOOL_PI_SERIES_HPP_
