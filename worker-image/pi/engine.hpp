// Internal: the computation itself, on threads of the calling process.
#ifndef WARMPOOL_PI_ENGINE_HPP_
#define WARMPOOL_PI_ENGINE_HPP_

#include <cstddef>
#include <string>

#include "pi/context.hpp"

namespace warmpool::pi {

// compute() without validation or isolation. REQUIRES: digits >= 1,
// threads >= 1, guard_digits >= 1.
std::string compute_here(std::size_t digits, unsigned threads, std::size_t guard_digits, Context& ctx);

// compute_here() in a forked child process supervised by the calling thread;
// see Options::isolate.
std::string compute_isolated(std::size_t digits, unsigned threads, std::size_t guard_digits, Progress* progress,
                             const std::atomic<bool>* cancel);

}  // namespace warmpool::pi

#endif  // WARMPOOL_PI_ENGINE_HPP_
