#include "pi/pi.hpp"

#include <malloc.h>

#include <thread>

#include "pi/context.hpp"
#include "pi/engine.hpp"

namespace warmpool::pi {

namespace {
constexpr std::size_t kDefaultGuardDigits = 20;
}

void Progress::advance_to(double f) noexcept {
  if (f > 1.0) f = 1.0;
  double current = fraction_.load(std::memory_order_relaxed);
  while (f > current && !fraction_.compare_exchange_weak(current, f, std::memory_order_relaxed)) {
  }
}

std::string validate_digits(std::size_t digits, const Options& options) {
  if (digits >= 1 && digits <= options.max_digits) return {};
  return "digits must be an integer from 1 to " + std::to_string(options.max_digits) + ", got " +
         std::to_string(digits);
}

unsigned effective_threads(const Options& options) noexcept {
  if (options.threads != 0) return options.threads;
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

std::string compute(std::size_t digits, const Options& options, Progress* progress, const std::atomic<bool>* cancel) {
  if (std::string problem = validate_digits(digits, options); !problem.empty()) {
    throw std::invalid_argument("pi: " + problem);
  }
  if (cancel != nullptr && cancel->load()) throw Cancelled();
  const unsigned threads = effective_threads(options);
  const std::size_t guard = options.guard_digits == 0 ? kDefaultGuardDigits : options.guard_digits;
  if (options.isolate) return compute_isolated(digits, threads, guard, progress, cancel);
  Context ctx(progress, cancel);
  try {
    std::string result = compute_here(digits, threads, guard, ctx);
    malloc_trim(0);
    return result;
  } catch (...) {
    // GMP's big blocks are mostly mmapped and gone already; this returns the
    // rest of the freed heap to the system, so a cancel frees the memory.
    malloc_trim(0);
    throw;
  }
}

}  // namespace warmpool::pi
