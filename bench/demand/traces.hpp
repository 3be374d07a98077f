// The shipped traces, made from a seed: bench_demand --generate KIND writes
// one in the trace format (see replay.hpp).
#pragma once

#include <string>
#include <vector>

#include "demand/replay.hpp"

namespace warmpool::bench {

// steady: Poisson arrivals at 0.5/s, held 5-30 s, for `length_s`.
// bursty: a 1-3 s session every 2 s; every 80-160 s a burst of 12-16
//         sessions within 2-3 s, held 10-20 s; for `length_s`.
// daily:  a day compressed into 24 minutes: nothing for the 4 "night
//         hours", then a rate rising to 0.6/s at noon and falling again,
//         sessions held 5-60 s (the length is fixed).
// Throws std::invalid_argument for another kind.
std::vector<Session> generate_trace(const std::string& kind, unsigned seed, double length_s = 1800);

}  // namespace warmpool::bench
